"""``sanny`` command line: build, search, info, tune here; every other command comes from a
plugin. Logging is configured here only."""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from sanny.workers.errors import SannyError

log = logging.getLogger("sanny")

# Feature packages add their own subcommands through the ``sanny.commands`` entry-point group
# (pyproject.toml): each entry is a ``register(subparsers)`` that sets ``fn`` on its parser(s);
# a command's heavy imports stay inside its module. The core imports none of them.
PLUGIN_GROUP = "sanny.commands"


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index configuration")
    g.add_argument("--S", default="8", help="number of subspaces, or 'auto' to pick by --target-recall")
    g.add_argument("--metric", choices=["l2", "cosine", "ip"], help="default: from the HDF5 file, else l2")
    g.add_argument("--pca-dim", type=int, default=0, help="PCA to this many dims before splitting (0: off)")
    g.add_argument("--bound-dim", type=int, default=-1, help="PCA dims kept for the exact re-rank bound (-1: auto)")
    g.add_argument("--assignment", choices=["contiguous", "balanced"], default="contiguous")
    g.add_argument("--workers", type=int, default=0, help="worker groups (0: one per subspace)")
    g.add_argument("--inner", choices=["hnsw", "hnsw_sq", "ngt", "exact"], default="hnsw")
    g.add_argument("--graph", choices=["anng", "onng"], default="anng")
    g.add_argument("--edges-create", type=int, default=10)
    g.add_argument("--edges-search", type=int, default=40)


def _make_config(args, dim: int, metric: str):
    from sanny.workers import InnerParams

    from .config import IndexConfig

    return IndexConfig(dim=dim, S=8 if args.S == "auto" else int(args.S), metric=metric,
                       workers=args.workers, assignment=args.assignment, pca_dim=args.pca_dim,
                       bound_dim=args.bound_dim,
                       inner=InnerParams(kind=args.inner, graph=args.graph,
                                         edge_size_for_creation=args.edges_create,
                                         edge_size_for_search=args.edges_search))


def cmd_build(args) -> int:
    from . import vectorfile
    from .index import Index
    from .tune import choose_S, tune

    x, keys = vectorfile.read(args.data, args.dataset)
    metric = args.metric or vectorfile.metric_of(args.data) or "l2"
    keys = keys or [str(i) for i in range(len(x))]
    cfg = _make_config(args, x.shape[1], metric)
    if args.S == "auto":
        S_values = [s for s in (1, 2, 4, 8, 16) if s <= cfg.space_dim]
        cfg.S, table = choose_S(x, cfg, S_values, args.target_recall or 0.95)
        for r in table:
            print(f"S={r['S']:<3} T={r['T']:<4} eps={r['epsilon']:<5} recall={r['recall']:.3f} qps={r['qps']:.0f}")
        print(f"chose S={cfg.S}")
    t0 = time.perf_counter()
    ix = Index.create(args.index, cfg, overwrite=args.overwrite)
    try:
        if cfg.needs_training:
            ix.train(x[np.random.default_rng(0).permutation(len(x))[: args.train_size]])
        with tqdm(total=len(x), desc="insert", unit="vec") as bar:
            for a in range(0, len(x), args.batch):
                ix.insert(keys[a: a + args.batch], x[a: a + args.batch])
                bar.update(len(x[a: a + args.batch]))
        ix.build(optimize=True)
        build_s = time.perf_counter() - t0
        if args.target_recall:
            r = tune(ix, args.target_recall)
            print(f"tuned: T={r.T} epsilon={r.epsilon} recall={r.recall:.3f} qps={r.qps:.0f}")
        ix.save()
        print(f"built {len(ix)} vectors (dim {cfg.dim}, S={cfg.S}, metric {metric}) "
              f"into {args.index} in {build_s:.1f} s")
    finally:
        ix.close()
    return 0


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
    from .index import Index

    with Index.open(args.index) as ix:
        print(json.dumps(ix.info(), indent=1))
    return 0


def cmd_tune(args) -> int:
    from . import vectorfile
    from .index import Index
    from .tune import tune

    q = vectorfile.read(args.queries, args.dataset)[0] if args.queries else None
    with Index.open(args.index) as ix:
        r = tune(ix, args.target, queries=q, k=args.k)
    for row in r.table:
        print(f"T={row['T']:<5} epsilon={row['epsilon']:<5} recall={row['recall']:.3f} qps={row['qps']:.0f}")
    verdict = "reached" if r.met else "NOT reached (best shown)"
    print(f"target {r.target} {verdict}: T={r.T} epsilon={r.epsilon} recall={r.recall:.3f} qps={r.qps:.0f}")
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
    b.add_argument("--target-recall", type=float, help="tune T/epsilon (and S with --S auto) for this recall@10")
    b.add_argument("--overwrite", action="store_true")
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
    i.add_argument("index")
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


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args) or 0
    except SannyError as e:
        print(f"sanny {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
