"""Subcommands ``bench-report``, ``bench-compare`` and ``make-dataset`` (a CLI plugin:
``register(subparsers)``; heavy imports stay inside the command bodies)."""
from __future__ import annotations

import argparse
import os
import sys


def _existing(path: str) -> str:
    held = os.path.isdir(path) and any(os.path.exists(os.path.join(path, f)) for f in ("results.json", "ingest.json", "churn.json"))
    if not held and not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{path!r} is neither a results.json nor a directory holding one "
                                         "(or an ingest.json / churn.json of sanny bench-ingest / bench-churn)")
    return path


def cmd_report(args) -> int:
    from .report import build_report

    build_report(args.results, args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_compare(args) -> int:
    from . import compare, results

    table = compare.ratios(results.read_json(args.a), results.read_json(args.b))
    sys.stdout.write(compare.render(table, args.a, args.b))
    return 0


def cmd_make_dataset(args) -> int:
    from . import synthetic

    try:
        n, dim = synthetic.parse_shape(args.synthetic)
    except ValueError as e:
        print(f"sanny make-dataset: error: --synthetic: {e}", file=sys.stderr)
        return 2
    synthetic.write(args.out, n, dim, queries=args.queries, metric=args.metric, seed=args.seed,
                    float16=args.float16, clusters=args.clusters, decay=args.decay, spread=args.spread)
    print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    r = sub.add_parser("bench-report", help="write BENCHMARKS.md (tables and plots) from benchmark result dirs")
    r.add_argument("results", nargs="+", type=_existing, help="result directories of `sanny bench` (and of `sanny bench-ingest`, `sanny bench-churn`)")
    r.add_argument("--out", default="BENCHMARKS.md")
    r.set_defaults(fn=cmd_report)

    c = sub.add_parser("bench-compare", help="per-algorithm frontier QPS ratios B/A of two benchmark runs")
    c.add_argument("a", type=_existing, help="results.json (or its directory) of the baseline run")
    c.add_argument("b", type=_existing, help="results.json (or its directory) of the new run")
    c.set_defaults(fn=cmd_compare)

    m = sub.add_parser("make-dataset", help="write a synthetic ann-benchmarks HDF5 file with exact ground truth")
    m.add_argument("--synthetic", required=True, metavar="NxDIM", help="e.g. 1000000x384")
    m.add_argument("--out", required=True, help="HDF5 file to write")
    m.add_argument("--queries", type=int, default=1000)
    m.add_argument("--metric", choices=["euclidean", "angular"], default="euclidean")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--clusters", type=int, default=None, help="default: n/1000 clipped to 16..1024")
    m.add_argument("--decay", type=float, default=0.5, help="per-axis scale (j+1)^-decay of the spectrum")
    m.add_argument("--spread", type=float, default=0.5, help="within-cluster scale relative to the centres'")
    m.add_argument("--float16", action="store_true", help="store float16 like the shared datasets")
    m.set_defaults(fn=cmd_make_dataset)
