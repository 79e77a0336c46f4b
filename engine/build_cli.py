"""``sanny build``: an index directory from a vector file, its shape measured or given, tuned."""
from __future__ import annotations

import fcntl
import os
import time

import numpy as np
from tqdm import tqdm

from sanny.workers.errors import IndexCorrupt, InvalidArgument
from sanny.workers.inner import INNER_KINDS

from .tune import LOO_MARGIN


def config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index configuration (defaults: IndexConfig's, PCA size from the data)")
    g.add_argument("--S", default="1", help="number of subspaces (default 1: the measured best over PCA, "
                   "BENCHMARKS.md), or 'auto' to pick by --target-recall")
    g.add_argument("--metric", choices=["l2", "cosine", "ip"], help="default: from the HDF5 file, else l2")
    g.add_argument("--pca-dim", default="auto",
                   help="PCA to this many dims before splitting; 0: off; auto (default): with no shape "
                        "flags the build measures symqg on the raw vectors against faiss HNSW over "
                        "auto_pca_dim(dim) on a sample and keeps the faster; with --inner hnsw/ngt "
                        "auto_pca_dim(dim) (none up to 128 dims, ~dim/3 in [64, 192]); off with --inner symqg")
    g.add_argument("--bound-dim", type=int, default=-1, help="PCA dims kept for the exact re-rank bound (-1: auto)")
    g.add_argument("--assignment", choices=["contiguous", "balanced"], default="contiguous")
    g.add_argument("--workers", type=int, default=0, help="worker groups (0: one per subspace)")
    g.add_argument("--inner", choices=INNER_KINDS, help="default: chosen by measurement (see --pca-dim)")
    g.add_argument("--graph", choices=["anng", "onng"], default="anng")
    g.add_argument("--edges-create", type=int, default=10)
    g.add_argument("--edges-search", type=int, default=40)


def _make_config(args, x: np.ndarray, metric: str):
    import dataclasses

    from sanny.workers import InnerParams

    from .config import IndexConfig, auto_pca_dim, default_inner

    dim = x.shape[1]
    base = IndexConfig(dim=dim, inner=InnerParams())
    if args.pca_dim != "auto":
        pca_dim = _int_arg("--pca-dim", args.pca_dim)
    else:  # symqg's 1-bit codes rank poorly over a strong reduction (docs/TUNING.md): raw vectors
        pca_dim = 0 if args.inner == "symqg" else auto_pca_dim(dim)
    S = base.S if args.S in (None, "auto") else _int_arg("--S", args.S)
    S = 1 if S > (pca_dim or dim) else S  # the default S must fit a small PCA / dim
    start = InnerParams(kind=args.inner) if args.inner else default_inner(S, pca_dim, dim)[0]
    inner = dataclasses.replace(start, graph=args.graph, edge_size_for_creation=args.edges_create,
                                edge_size_for_search=args.edges_search)
    cfg = dataclasses.replace(base, S=S, metric=metric, workers=args.workers, assignment=args.assignment,
                              pca_dim=pca_dim, bound_dim=args.bound_dim, inner=inner)
    return cfg


def _no_shape_flags(args) -> bool:
    """True when the user left the shape to the build (no --inner, --pca-dim, --S, split flags)."""
    return (args.inner is None and args.pca_dim == "auto" and args.S == "1" and args.workers == 0
            and args.assignment == "contiguous")


def _int_arg(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(name, f"expected an integer, got {value!r}") from None


def _check_target(path: str, overwrite: bool) -> None:
    """Refuse to replace a directory without ``--overwrite``, or one that a live process (a
    ``sanny serve``, another build) holds open: its LOCK flock is taken."""
    if not (os.path.isdir(path) and os.listdir(path)):
        return
    if not overwrite:
        raise InvalidArgument("index", f"{path!r} exists and is not empty (pass --overwrite to replace it)")
    lock = os.path.join(path, "LOCK")
    if os.path.exists(lock):
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexCorrupt(f"{path!r} is open in another process (a running sanny serve?); "
                                   "stop it before --overwrite") from None
            fcntl.flock(f, fcntl.LOCK_UN)


def cmd_build(args) -> int:
    import dataclasses

    from . import snapshot, vectorfile
    from .interrupts import deferred_sigint
    from .index import Index
    from .tune import choose_S, tune

    x, keys = vectorfile.read(args.data, args.dataset)
    metric = args.metric or vectorfile.metric_of(args.data) or "l2"
    keys = keys or [str(i) for i in range(len(x))]
    _check_target(args.index, args.overwrite)
    cfg = _make_config(args, x, metric)
    target = args.target_recall if args.target_recall is not None else 0.95
    held_out = vectorfile.read(args.queries, args.queries_dataset)[0] if args.queries else None
    if _no_shape_flags(args):  # the inner index and PCA by measurement on a sample
        from .autopick import choose

        choice = choose(x, metric, target, queries=held_out)
        cfg = dataclasses.replace(choice.config, bound_dim=args.bound_dim)
        print(choice.reason, flush=True)
    if args.S == "auto":
        S_values = [s for s in (1, 2, 4, 8, 16) if s <= cfg.space_dim]
        cfg.S, table = choose_S(x, cfg, S_values, target)
        for r in table:
            print(f"S={r['S']:<3} T={r['T']:<4} eps={r['epsilon']:<5} recall={r['recall']:.3f} qps={r['qps']:.0f}")
        print(f"chose S={cfg.S}")
    print(f"building {args.index}: {len(x)} x {cfg.dim} {metric}, S={cfg.S}, pca_dim={cfg.pca_dim}, "
          f"inner={cfg.inner.kind}", flush=True)
    t0 = time.perf_counter()
    ix = Index.create(args.index, cfg, overwrite=args.overwrite)
    marker = os.path.join(args.index, snapshot.BUILDING)
    open(marker, "w").close()  # removed once the index is complete and saved (open refuses it)
    done = False
    with deferred_sigint() as check:  # Ctrl-C stops between batches (a second one at once)
        try:
            if cfg.needs_training:
                ix.train(x[np.random.default_rng(0).permutation(len(x))[: args.train_size]])
            with tqdm(total=len(x), desc="insert", unit="vec") as bar:
                for a in range(0, len(x), args.batch):
                    check()
                    ix.insert(keys[a: a + args.batch], x[a: a + args.batch])
                    bar.update(len(x[a: a + args.batch]))
            check()
            ix.build(optimize=True)
            build_s = time.perf_counter() - t0
            if not args.no_tune:
                check()
                print_tune(tune(ix, target, queries=held_out))
            check()
            ix.save()
            os.remove(marker)
            done = True
            print(f"built {len(ix)} vectors (dim {cfg.dim}, S={cfg.S}, pca_dim={cfg.pca_dim}, metric {metric}) "
                  f"into {args.index} in {build_s:.1f} s")
        finally:
            ix.close(save=done)
    return 0


def print_tune(r) -> None:
    src = "given queries" if r.held_out == "queries" else f"{r.n_queries} held-out stored vectors"
    verdict = "reached" if r.met else "NOT reached (best shown)"
    knobs = f"T={r.T} ef_search={r.ef_search}" + (f" epsilon={r.epsilon}" if "epsilon" in r.table[0] else "")
    print(f"tuned on {src}: {knobs} measured recall@{r.k}={r.recall:.3f}, expected on new queries "
          f">= {r.expected:.3f} (target {r.target} {verdict}), qps={r.qps:.0f} ({r.qps_min:.0f}-{r.qps_max:.0f})")
    if r.gap is not None:
        print(f"leave-one-out recall at this setting: {r.loo_recall:.3f}, {r.gap:+.3f} vs the given queries "
              f"(tuning without --queries asks for {LOO_MARGIN} more than the target)")
