"""``sanny bench`` and ``sanny demo``: a ``sanny.commands`` plugin (``register``) with the
argument definitions and the command bodies."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from . import algorithms, grids
from .arglists import choices

log = logging.getLogger(__name__)


def _int_list(s: str) -> list[int]:
    try:
        out = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {s!r}")
    return out


def _positive(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


_names = choices(algorithms.NAMES)


def _grid(s: str) -> str:
    if s not in grids.NAMES and not os.path.isfile(s):
        raise argparse.ArgumentTypeError(f"grid must be {' or '.join(grids.NAMES)} or a JSON file, got {s!r}")
    return s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="ann-benchmarks HDF5 file (train/test/neighbors/distances)")
    parser.add_argument("--out", required=True, help="output directory (results.json/csv, pareto.md/png)")
    parser.add_argument("--grid", type=_grid, default="default",
                        help="parameter grid (default: 'default': ~8-15 settings per algorithm, Sanny "
                             "S=1 over PCA (faiss HNSW, hnsw_sq, NGT) and S=2 (lead split, union, "
                             "collision count), one build per peer, graph beams swept up to a ceiling "
                             "sized by n and dim; ~90 settings, 10-15 min per shared "
                             "dataset on 2 idle cores; 'quick': seconds on small data; 'full': hours), "
                             "or a JSON file {algorithm: [{build:..., query:..., max_n: N}]} (max_n: the entry is left out "
                             "above N vectors; e.g. "
                             "bench/scale_grid.json for the --prefix scale series); --budget N and --algorithms "
                             "shorten it, --resume continues an interrupted run")
    parser.add_argument("--repeats", type=_positive, default=3,
                        help="timed repeats per setting after a warm-up (median, min, max are stored)")
    parser.add_argument("--budget", type=_positive, default=None, metavar="N",
                        help="at most N settings per algorithm, picked evenly through its grid")
    parser.add_argument("--resume", action="store_true",
                        help="keep the settings already measured in OUT/rows.jsonl and skip them")
    parser.add_argument("--prefix", type=_int_list, default=None, metavar="N[,N...]",
                        help="benchmark train[:N] for each N (exact ground truth recomputed); adds scaling.png")
    parser.add_argument("--algorithms", type=_names, default=None, metavar="A[,A...]",
                        help=f"subset of {','.join(algorithms.NAMES)} (default: all in the grid)")
    parser.add_argument("--single-queries", type=int, default=200,
                        help="at most this many queries timed one at a time (single-query QPS, p50/p99)")
    parser.add_argument("--single-budget", type=float, default=1.5, metavar="SECONDS",
                        help="time spent on the first single-query pass of a setting, split over the "
                             "repeats (later passes time the same queries)")
    parser.add_argument("-k", type=int, default=10, help="neighbours per query (recall@k)")


def register(subparsers) -> None:
    be = subparsers.add_parser("bench", help="recall/QPS/build/memory benchmark against baselines")
    add_arguments(be)
    be.set_defaults(fn=main)

    d = subparsers.add_parser("demo", help="build, search and benchmark on generated data; writes a plot")
    d.add_argument("--out", default="sanny-demo")
    d.add_argument("--n", type=int, default=20000)
    d.add_argument("--dim", type=int, default=256)
    d.set_defaults(fn=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, n=args.n, dim=args.dim)
    return 0


def main(args: argparse.Namespace) -> int:
    # several OpenMP runtimes (faiss, NGT, ScaNN) share the cores in one process: busy-waiting
    # threads of one stall the others (measured 5-10x on NGT batch search), so wait passively
    # unless the caller chose otherwise (recorded in each row's provenance)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from . import run_bench
    from .plot import require

    require()  # matplotlib, before the run rather than at its first plot

    if not os.path.isfile(args.dataset):
        print(f"error: dataset {args.dataset!r} not found", file=sys.stderr)
        return 2
    rows = run_bench(args.dataset, args.out, grid=args.grid, prefixes=args.prefix,
                     algorithms=args.algorithms, single_queries=args.single_queries, k=args.k,
                     single_budget_s=args.single_budget, repeats=args.repeats, budget=args.budget,
                     resume=args.resume)
    if rows:
        with open(os.path.join(args.out, "pareto.md")) as f:
            sys.stdout.write(f.read())
    return 0
