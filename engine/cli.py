"""``sanny`` CLI: build, search, info, tune; other commands are plugins. Logging is set up here only."""
from __future__ import annotations

import argparse
import importlib.metadata
import fcntl
import json
import logging
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from sanny.workers.errors import IndexCorrupt, InvalidArgument, SannyError
from sanny.workers.inner import INNER_KINDS

log = logging.getLogger("sanny")

# Feature packages add their own subcommands through the ``sanny.commands`` entry-point group
# (pyproject.toml): each entry is a ``register(subparsers)`` that sets ``fn`` on its parser(s);
# a command's heavy imports stay inside its module. The core imports none of them.
PLUGIN_GROUP = "sanny.commands"


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index configuration (defaults: IndexConfig's, PCA size from the data)")
    g.add_argument("--S", default="1", help="number of subspaces (default 1: the measured best over PCA, "
                   "BENCHMARKS.md), or 'auto' to pick by --target-recall")
    g.add_argument("--metric", choices=["l2", "cosine", "ip"], help="default: from the HDF5 file, else l2")
    g.add_argument("--pca-dim", default="auto",
                   help="PCA to this many dims before splitting; 0: off; auto (default): the smallest "
                        "multiple of 32 (>= 64) keeping 80%% of the variance, off if that is > 3/4 of dim, "
                        "off with --inner symqg")
    g.add_argument("--bound-dim", type=int, default=-1, help="PCA dims kept for the exact re-rank bound (-1: auto)")
    g.add_argument("--assignment", choices=["contiguous", "balanced"], default="contiguous")
    g.add_argument("--workers", type=int, default=0, help="worker groups (0: one per subspace)")
    g.add_argument("--inner", choices=INNER_KINDS, help="default: InnerParams' (hnsw)")
    g.add_argument("--graph", choices=["anng", "onng"], default="anng")
    g.add_argument("--edges-create", type=int, default=10)
    g.add_argument("--edges-search", type=int, default=40)


def _make_config(args, x: np.ndarray, metric: str):
    import dataclasses

    from sanny.workers import InnerParams

    from .config import IndexConfig
    from .tune import auto_pca_dim

    dim = x.shape[1]
    base = IndexConfig(dim=dim)
    if args.pca_dim != "auto":
        pca_dim = _int_arg("--pca-dim", args.pca_dim)
    else:  # symqg's 1-bit codes rank poorly over a strong reduction (docs/TUNING.md): raw vectors
        pca_dim = 0 if args.inner == "symqg" else auto_pca_dim(x, metric)
    S = base.S if args.S in (None, "auto") else _int_arg("--S", args.S)
    inner = dataclasses.replace(InnerParams(), graph=args.graph, edge_size_for_creation=args.edges_create,
                                edge_size_for_search=args.edges_search)
    if args.inner:
        inner.kind = args.inner
    cfg = dataclasses.replace(base, S=S, metric=metric, workers=args.workers, assignment=args.assignment,
                              pca_dim=pca_dim, bound_dim=args.bound_dim, inner=inner)
    if cfg.S > cfg.space_dim:  # the default S must fit a small PCA / dim
        cfg.S = 1
    return cfg


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
                _print_tune(tune(ix, target, queries=held_out))
            check()
            ix.save()
            os.remove(marker)
            done = True
            print(f"built {len(ix)} vectors (dim {cfg.dim}, S={cfg.S}, pca_dim={cfg.pca_dim}, metric {metric}) "
                  f"into {args.index} in {build_s:.1f} s")
        finally:
            ix.close(save=done)
    return 0


def _print_tune(r) -> None:
    src = "given queries" if r.held_out == "queries" else f"{r.n_queries} held-out stored vectors"
    verdict = "reached" if r.met else "NOT reached (best shown)"
    print(f"tuned on {src}: T={r.T} epsilon={r.epsilon} measured recall@{r.k}={r.recall:.3f}, "
          f"expected on new queries >= {r.expected:.3f} (target {r.target} {verdict}), qps={r.qps:.0f}")


def cmd_search(args) -> int:
    from . import vectorfile
    from .index import Index

    q, _ = vectorfile.read(args.queries, args.dataset)
    with Index.open(args.index) as ix:
        t0 = time.perf_counter()
        keys, dist = ix.search(q, args.k, T=args.T, epsilon=args.epsilon)
        dt = time.perf_counter() - t0
    if args.out:
        vectorfile.write_results(args.out, keys, dist)
        print(f"wrote {len(q)} results to {args.out}")
    else:
        for i, (ks, ds) in enumerate(zip(keys, dist)):
            print(f"query {i}: " + "  ".join(f"{k}:{d:.4g}" for k, d in zip(ks, ds) if k is not None))
    print(f"{len(q)} queries in {dt:.3f} s ({len(q) / dt:.0f} QPS)", file=sys.stderr)
    return 0


def cmd_info(args) -> int:
    from .grid import summary
    from .index import Index
    from .info_text import info_lines

    if args.server or not args.index:  # a running server's index and grid, over gRPC
        from .api.info_cli import cmd_info_server
        return cmd_info_server(args)
    with Index.open(args.index) as ix:
        info = ix.info()
    grid = summary(info["workers"])
    if args.json:
        print(json.dumps({**info, "grid": grid}, indent=1))
        return 0
    lines = info_lines(info, grid)
    for name, value in lines:
        print(f"{name:<8} {value}")
    return 0


def cmd_tune(args) -> int:
    from . import vectorfile
    from .index import Index
    from .tune import tune

    q = vectorfile.read(args.queries, args.dataset)[0] if args.queries else None
    with Index.open(args.index) as ix:
        r = tune(ix, args.target, queries=q, k=args.k)
    for row in r.table:
        print(f"T={row['T']:<5} epsilon={row['epsilon']:<5} recall={row['recall']:.3f} "
              f"expected>={row['expected']:.3f} qps={row['qps']:.0f}")
    _print_tune(r)
    return 0 if r.met else 3


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sanny", description="Sub-vector parallel ANN search.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="build an index directory from an HDF5/NPY/NPZ file")
    b.add_argument("data")
    b.add_argument("--index", required=True, help="index directory to create")
    b.add_argument("--dataset", default="train", help="HDF5/NPZ dataset name")
    b.add_argument("--batch", type=int, default=5000)
    b.add_argument("--train-size", type=int, default=20000, help="sample size for PCA / balanced")
    b.add_argument("--target-recall", type=float,
                   help="tune T/epsilon (and S with --S auto) so that recall@10 on new queries reaches this "
                        "with 95%% confidence (default 0.95)")
    b.add_argument("--queries", help="tune on these queries (default: leave-one-out over 500 stored vectors)")
    b.add_argument("--queries-dataset", default="test", help="HDF5/NPZ dataset name in --queries")
    b.add_argument("--no-tune", action="store_true", help="keep IndexConfig's T/epsilon")
    b.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty DIR (refused while another process holds it open)")
    _config_args(b)
    b.set_defaults(fn=cmd_build)

    s = sub.add_parser("search", help="search queries from a file")
    s.add_argument("queries")
    s.add_argument("--index", required=True)
    s.add_argument("--dataset", default="test")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--T", type=int)
    s.add_argument("--epsilon", type=float)
    s.add_argument("--out", help="write results (.tsv or .npz) instead of printing")
    s.set_defaults(fn=cmd_search)

    i = sub.add_parser("info", help="print an index's configuration and counts")
    i.add_argument("index", nargs="?")
    i.add_argument("--server", help="HOST:PORT of a running sanny serve: its index and workers instead")
    i.add_argument("--token-file", help="the server's bearer token (with --server)")
    i.add_argument("--json", action="store_true", help="the full machine-readable state")
    i.set_defaults(fn=cmd_info)

    t = sub.add_parser("tune", help="pick T/epsilon for a target recall@k and store them")
    t.add_argument("index")
    t.add_argument("--target", type=float, default=0.95)
    t.add_argument("--queries", help="held-out queries file (default: a sample of stored vectors)")
    t.add_argument("--dataset", default="test")
    t.add_argument("-k", type=int, default=10)
    t.set_defaults(fn=cmd_tune)

    for entry in sorted(importlib.metadata.entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    return p


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # faiss' loader logs each instruction set it tries (ModuleNotFoundError ...) at INFO
        logging.getLogger("faiss").setLevel(logging.WARNING)


def _one_line(e: BaseException) -> str:
    details = e.details() if callable(getattr(e, "details", None)) else None
    msg = " ".join(str(details or e or type(e).__name__).split())
    if msg.startswith("Failed to bind"):  # grpc's add_port: the port is taken (or not local)
        msg = msg.partition(";")[0] + " (is another server listening there?)"
    return msg


def main(argv=None) -> int:
    """Run one command. Expected failures (bad input, missing files, no server, a taken port)
    end in one line on stderr and exit code 2; Ctrl-C in one line and 130; ``-v`` shows the
    traceback."""
    # gRPC's C core logs failures (a taken port, ...) to stderr itself; the one-line error says it
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    args = parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        where = f"; {args.index} is incomplete (rebuild it with --overwrite)" if args.cmd == "build" else ""
        print(f"sanny {args.cmd}: interrupted{where}", file=sys.stderr)
        return 130
    except (SannyError, OSError, RuntimeError, ValueError) as e:
        if args.verbose:
            log.exception("failed")
        print(f"sanny {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # grpc.RpcError from a plugin talking to a server
        if type(e).__module__.split(".")[0] != "grpc":
            raise
        print(f"sanny {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
