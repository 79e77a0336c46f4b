"""What the image commands do (argument parsing is in ``cli``); torch is imported on use."""
from __future__ import annotations

import os
import sys
import time
from collections import Counter

from sanny.workers.errors import InvalidArgument

SHOW_SKIPPED = 200


def _extractor(args, pca=None):
    from .extractor import Extractor
    from .images import DEFAULT_MAX_PIXELS

    if args.max_pixels:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, args.max_pixels)
    return Extractor(args.model, args.weights, image_size=args.image_size, batch_size=args.batch_size,
                     threads=args.threads, loader_workers=args.loader_workers, l2=args.l2, pca=pca,
                     seed=args.seed, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
                     progress=not args.no_progress)


def _sources(args):
    from .images import find_images

    try:
        files, keys, ignored = find_images(args.source, args.root, args.all_files)
    except FileNotFoundError as e:
        raise InvalidArgument("source", str(e)) from None
    if ignored:
        print(f"ignored {ignored} files without an image extension (--all-files tries them)", file=sys.stderr)
    if not files:
        raise InvalidArgument("source", f"no image files under {args.source!r}")
    return files, keys


def report_skipped(failures, out: str | None = None) -> None:
    """Every skipped file with its reason, after the run (stderr; all of them in ``out``)."""
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write("key\tpath\treason\n")
            f.writelines(f"{k}\t{p}\t{r}\n" for k, p, r in failures)
    if not failures:
        return
    by = Counter(r.split(":")[0].split(" (")[0] for _, _, r in failures)
    print(f"skipped {len(failures)} files: " + ", ".join(f"{n} {r}" for r, n in by.most_common()), file=sys.stderr)
    for k, _, r in failures[:SHOW_SKIPPED]:
        print(f"  {k}: {r}", file=sys.stderr)
    if len(failures) > SHOW_SKIPPED:
        more = f"listed in {out}" if out else "use --skipped-out FILE to list all"
        print(f"  ... and {len(failures) - SHOW_SKIPPED} more ({more})", file=sys.stderr)


def _load_pca(path: str):
    import numpy as np

    from ..pca import PCA

    try:
        with np.load(path) as z:
            return PCA.from_state(z)
    except (OSError, KeyError, ValueError) as e:
        raise InvalidArgument("pca_model", f"{path}: not a PCA file ({e})") from None


def _save_pca(path: str, pca) -> None:
    import numpy as np

    tmp = path + ".tmp.npz"
    np.savez(tmp, **pca.state())
    os.replace(tmp, path)


def _connect(args, create_dim: int | None = None):
    """``(target, close)``: a Client for --server; the --index directory's Index (created with
    ``create_dim`` when it holds none and ``create_dim`` is given)."""
    if args.server:
        from ..api.client import Client

        token = open(args.token_file).read().strip() if args.token_file else None
        c = Client(args.server, token=token, root_certificates=args.tls_ca, timeout=args.timeout)
        return c, c.close
    from ..config import IndexConfig
    from ..index import Index

    if create_dim and not os.path.exists(os.path.join(args.index, "manifest.json")):
        print(f"creating index {args.index}: dim {create_dim}, S={args.S}, metric {args.metric}", file=sys.stderr)
        ix = Index.create(args.index, IndexConfig(dim=create_dim, S=args.S, metric=args.metric))
    else:
        ix = Index.open(args.index)
    return ix, ix.close


def _check_dim(target, dim: int, name: str) -> None:
    have = int(target.info()["dim"]) if hasattr(target, "address") else target.config.dim
    if have != dim:
        raise InvalidArgument("model", f"the index holds {have}-d vectors but {name} with these options makes "
                                       f"{dim}-d ones; use the options the images were registered with")


# -- commands ------------------------------------------------------------------------------
def cmd_extract(args) -> int:
    from .extractor import Batch, fit_pca_stream
    from .features import FeatureFile

    files, keys = _sources(args)
    ex = _extractor(args)
    ff = FeatureFile(args.out, {**ex.describe(), "pca_dim": args.pca_dim})
    try:
        ex.pca = ff.pca
        todo = [i for i, k in enumerate(keys) if k not in ff.done]
        if len(todo) < len(keys):
            print(f"{len(keys) - len(todo)} images already in {args.out}; extracting {len(todo)}", file=sys.stderr)
        t0 = time.perf_counter()
        raw = ex.raw([files[i] for i in todo], [keys[i] for i in todo])
        stream = (fit_pca_stream(ex, raw, args.pca_dim, args.pca_sample, ff.set_pca) if args.pca_dim
                  else (Batch(b.keys, ex.finish(b.vectors)) for b in raw))
        for b in stream:
            ff.append(b.keys, b.vectors)
        dt = time.perf_counter() - t0
    finally:
        ff.close()
    print(f"extracted {ex.count} images in {dt:.1f} s ({ex.count / max(dt, 1e-9):.1f} img/s, batch "
          f"{ex.batch_size}, {_threads()} threads); {args.out} holds {len(ff)} vectors of dim {ex.dim}", file=sys.stderr)
    report_skipped(ex.failures, args.skipped_out)
    return 0


def cmd_register(args) -> int:
    from .extractor import Batch, fit_pca_stream
    from .register import register

    if args.pca_dim and not args.pca_model:
        raise InvalidArgument("pca_model", "--pca-dim needs --pca-model FILE.npz (search-image reuses it)")
    files, keys = _sources(args)
    pca = _load_pca(args.pca_model) if args.pca_model and os.path.exists(args.pca_model) else None
    ex = _extractor(args, pca)
    dim = pca.out_dim if pca is not None else (args.pca_dim or ex.net.dim)
    target, close = _connect(args, create_dim=dim)
    try:
        _check_dim(target, dim, ex.net.name)

        def batches(fs, ks):
            raw = ex.raw(fs, ks, desc="register")
            if args.pca_dim and ex.pca is None:
                return fit_pca_stream(ex, raw, args.pca_dim, args.pca_sample,
                                      lambda p: _save_pca(args.pca_model, p))
            return (Batch(b.keys, ex.finish(b.vectors)) for b in raw)

        t0 = time.perf_counter()
        rep = register(target, files, keys, batches, write_batch=args.write_batch,
                       upsert=args.upsert, redo=args.redo)
        t1 = time.perf_counter()
        if args.server:
            target.save()
        else:
            target.build(optimize=True)
            target.save()
        t2 = time.perf_counter()
        total = len(target)
    finally:
        close()
    print(f"registered {rep.written} new images in {t1 - t0:.1f} s ({rep.written / max(t1 - t0, 1e-9):.1f} img/s; "
          f"writes took {rep.write_s:.1f} s), {rep.already} were already registered, {len(ex.failures)} skipped; "
          f"index build+save {t2 - t1:.1f} s; the index now holds {total} vectors", file=sys.stderr)
    report_skipped(ex.failures, args.skipped_out)
    return 0


def cmd_search_image(args) -> int:
    pca = _load_pca(args.pca_model) if args.pca_model else None
    ex = _extractor(args, pca)
    target, close = _connect(args)
    try:
        _check_dim(target, ex.dim, ex.net.name)
        ok, q = ex.features(list(args.images))
        report_skipped(ex.failures)
        if not ok:
            raise InvalidArgument("images", "none of the query images could be read")
        t0 = time.perf_counter()
        keys, dist = target.search(q, k=args.k, T=args.T)
        dt = time.perf_counter() - t0
    finally:
        close()
    results = []
    for path, ks, ds in zip(ok, keys, dist):
        hits = [(str(k), float(d)) for k, d in zip(ks, ds) if k is not None]
        results.append(hits)
        print(f"query: {path}")
        for rank, (k, d) in enumerate(hits, 1):
            print(f"{rank:>3}  {d:10.4f}  {k}")
    print(f"{len(ok)} queries searched in {dt * 1000:.1f} ms", file=sys.stderr)
    if args.html:
        from . import gallery

        note = (f"model {ex.net.name}, weights {ex.net.weights_id}, k={args.k}. " +
                ("UNTRAINED network (--weights random): neighbours reflect colour and layout, not meaning."
                 if ex.net.weights_id.startswith("random") else ""))
        gallery.write(args.html, ok, results, args.images_root, links=args.html_links, note=note)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _threads() -> int:
    import torch

    return torch.get_num_threads()
