"""``sanny soak``: the reliability run of :mod:`sanny.bench.soak` and :mod:`sanny.bench.soak_served`,
one summary table."""
from __future__ import annotations

import contextlib
import tempfile

from .procs import status_bytes
from . import soak_attacks
from .soak import Row, crash_loop, disk_full, reopen_after_crash, wal_flips
from .soak_served import bad_requests, mixed_load, worker_stop


def run(quick: bool = True, work: str | None = None) -> list[Row]:
    with contextlib.ExitStack() as stack:
        work = work or stack.enter_context(tempfile.TemporaryDirectory(prefix="sanny-soak-"))
        rows = [crash_loop(work, 5 if quick else 20), disk_full(work), wal_flips(work, 8 if quick else 40),
                *bad_requests(work, 40 if quick else 400), reopen_after_crash(work, 3_000 if quick else 30_000),
                reopen_after_crash(work, 3_000 if quick else 30_000, every=0), *soak_attacks.rows(work, quick)]
        if not quick:
            rows += [worker_stop(work), mixed_load(work, 32, 60.0)]
    return rows


def table(rows: list[Row]) -> str:
    head = f"{'fault':36} {'tried':>6} {'survived':>8} {'acked lost':>10} {'phantoms':>8} {'bad in':>6} {'handled':>7}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        extra = "; ".join(f"{k}: {v}" for k, v in r.extra.items())
        lines.append(f"{r.fault:36} {r.tried:6d} {r.survived:8d} {r.lost:10d} {r.phantoms:8d} "
                     f"{r.bad_tried:6d} {r.bad_handled:7d}  {'; '.join(x for x in (r.note, extra) if x)}")
    tot = Row("total", *(sum(getattr(r, f) for r in rows) for f in ("tried", "survived", "lost", "phantoms",
                                                                       "bad_tried", "bad_handled")))
    lines.append(f"{tot.fault:36} {tot.tried:6d} {tot.survived:8d} {tot.lost:10d} {tot.phantoms:8d} "
                 f"{tot.bad_tried:6d} {tot.bad_handled:7d}")
    peak = (status_bytes("VmHWM") or 0) / 2**20
    lines.append(f"RSS peak of this process (server + clients): {peak:.0f} MB")
    return "\n".join(lines)


def cmd_soak(args) -> int:
    rows = run(quick=args.quick, work=args.work)
    print(table(rows))
    bad = sum(r.lost + r.phantoms for r in rows) + sum(r.bad_tried - r.bad_handled for r in rows) \
        + sum(r.tried - r.survived for r in rows)
    return 1 if bad else 0


def register(subparsers) -> None:
    p = subparsers.add_parser("soak", help="reliability run: crash loops, disk full, WAL flips, bad requests")
    p.add_argument("--quick", action="store_true", help="the CI version (crash loop x5, reopen after 3,000 records, no worker / load phases)")
    p.add_argument("--work", help="working directory (default: a temporary one)")
    p.set_defaults(fn=cmd_soak)
