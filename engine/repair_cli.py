"""``sanny repair-wal DIR``: rewrite a damaged write-ahead log keeping every valid record.

Opening an index whose WAL has damage followed by valid records fails with ``IndexCorrupt``
naming the byte offset (never a silent truncation); this command is the explicit, logged way
out. The damaged file is kept beside the log as ``wal.log.damaged-N``."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def cmd_repair_wal(args) -> int:
    from .wal import repair

    rep = repair(args.path)
    if rep.backup is None:
        print(f"{rep.path}: no damage, {rep.kept} records, nothing to do")
        return 0
    ranges = ", ".join(f"bytes {a}-{b}" for a, b in rep.dropped) or "none"
    log.warning("repaired %s: kept %d records, dropped %s", rep.path, rep.kept, ranges)
    print(f"{rep.path}: kept {rep.kept} valid records; dropped {ranges}; damaged original kept as {rep.backup}")
    return 0


def cmd_repair(args) -> int:
    from .index import Index

    with Index.open(args.path, recover=True) as ix:
        rep = ix.recovery
        for line in rep.lines():
            print(line)
        print(f"opened: {len(ix)} vectors, WAL seq {ix.seq}")
        if not rep.changed:
            print("no damage found, nothing changed")
        ix.save()  # a fresh checkpoint of the recovered state
    return 1 if rep.lost else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "repair", help="open a damaged index from its newest intact snapshot plus the WAL",
        description="Fall back to the previous snapshot (kept by every checkpoint) and the WAL "
                    "records since it when the newest snapshot, CURRENT, manifest.json or pca.npz "
                    "is damaged; damaged files are kept aside; says what it kept and what it could "
                    "not (exit 1 when something is lost). The index must not be open.")
    p.add_argument("path", help="index directory")
    p.set_defaults(fn=cmd_repair)
    p = subparsers.add_parser("repair-wal", help="rewrite a damaged WAL keeping every valid record",
                              description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("path", help="index directory (must not be open) or its wal.log")
    p.set_defaults(fn=cmd_repair_wal)
