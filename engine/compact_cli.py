"""``sanny compact DIR | --server ADDR``: merge every worker's segments into one graph each now,
without their deleted rows, and print the segments before and after.

The background compaction does this on its own (after a burst of writes, or once writes pause);
this is the operator's call, e.g. before a benchmark or a backup. Progress goes to the log."""
from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def _line(seg: dict | None) -> str:
    if not seg:
        return "no segments (this inner kind has none)"
    return (f"{seg['segments']} sealed, {seg['sealed_rows']:,} rows, {seg['deleted_share']:.1%} deleted, "
            f"{seg['growing_rows']:,} growing, compaction {seg['compaction']}")


def cmd_compact(args) -> int:
    t0 = time.perf_counter()
    if args.server:
        from .api.client import Client

        with Client(args.server, token=_token(args.token_file)) as c:
            log.info("compacting the index served at %s", args.server)
            workers = c.compact(timeout=args.timeout)
        for i, w in enumerate(workers):
            print(f"worker {i}: {w['segments']} sealed, {w['sealed_rows']:,} rows, {w['deleted_rows']:,} deleted, "
                  f"{w['growing_rows']:,} growing")
    else:
        from .index import Index

        with Index.open(args.index) as ix:
            print(f"before: {_line(ix.segments())}")
            log.info("compacting %s", args.index)
            after = ix.compact()
            print(f"after:  {_line(after)}")
    print(f"compacted in {time.perf_counter() - t0:.1f} s")
    return 0


def _token(path: str | None) -> str | None:
    if not path:
        return None
    with open(path) as f:
        return f.read().strip()


def register(subparsers) -> None:
    p = subparsers.add_parser("compact", help="merge an index's segments into one graph each now",
                              description=__doc__.split("\n\n")[1].replace("\n", " "))
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("index", nargs="?", help="index directory (not open in another process)")
    where.add_argument("--server", help="a running `sanny serve` (HOST:PORT)")
    p.add_argument("--token-file", help="bearer token for --server")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for --server (default 3600)")
    p.set_defaults(fn=cmd_compact)
