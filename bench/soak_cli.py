"""``sanny soak``: the reliability run of :mod:`sanny.bench.soak`, one summary table."""
from __future__ import annotations


def cmd_soak(args) -> int:
    from .soak import run, table
    rows = run(quick=args.quick, work=args.work)
    print(table(rows))
    bad = sum(r.lost + r.phantoms for r in rows) + sum(r.bad_tried - r.bad_handled for r in rows) \
        + sum(r.tried - r.survived for r in rows)
    return 1 if bad else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("soak", help="reliability run: crash loops, disk full, WAL flips, bad requests")
    p.add_argument("--quick", action="store_true", help="the CI version (crash loop x5, no worker / load phases)")
    p.add_argument("--work", help="working directory (default: a temporary one)")
    p.set_defaults(fn=cmd_soak)
