"""``Index.open(recover=True)`` / ``sanny repair``: make a damaged index directory openable again
from what is still intact, and say what was kept and what could not be.

A checkpoint keeps the previous snapshot and the WAL records between the two (``wal.log.prev``),
and every snapshot holds copies of manifest.json and pca.npz, so one damaged file costs nothing:

- the newest snapshot whose checksums hold is used (damaged ones are renamed ``damaged-<name>``,
  kept for inspection); when it is the previous one, the records of ``wal.log.prev`` after it are
  put back in front of ``wal.log``, so every acknowledged write is replayed;
- a damaged manifest.json or pca.npz is restored from that snapshot's copy;
- CURRENT is rewritten to name it;
- damage inside a WAL file is cut out as ``sanny repair-wal`` does (valid records kept, the
  damaged file kept beside it).

What cannot come back is listed in ``Report.lost`` (e.g. the writes between two snapshots when
both the newer one and ``wal.log.prev`` are damaged).
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field

from sanny.workers.errors import IndexCorrupt
from sanny.workers.fsio import lock_dir

from . import snapshot
from .wal_format import file_head, frame, read, repair, scan, write_atomic

log = logging.getLogger(__name__)


@dataclass
class Report:
    snapshot: str = ""                                     # the snapshot the index opens from
    kept: list[str] = field(default_factory=list)          # what was intact / restored
    damaged: list[str] = field(default_factory=list)       # what was found damaged (and set aside)
    lost: list[str] = field(default_factory=list)          # what could not be recovered

    @property
    def changed(self) -> bool:
        return bool(self.damaged)

    def lines(self) -> list[str]:
        return ([f"snapshot: {self.snapshot}"] + [f"kept: {k}" for k in self.kept]
                + [f"damaged: {d}" for d in self.damaged] + [f"LOST: {x}" for x in self.lost])


def recover(root: str) -> Report:
    """Repair ``root`` in place (it must not be open); see the module docstring."""
    if not os.path.isdir(root):
        raise IndexCorrupt(f"index directory {root!r} does not exist")
    with lock_dir(root, lambda: IndexCorrupt(f"{root!r} is open in another process; close it before repairing")):
        if os.path.exists(os.path.join(root, snapshot.BUILDING)):
            snapshot.read_manifest(root)  # an interrupted build: nothing to recover, say so
        rep = Report()
        snaps, bad = _snapshots(root, rep)
        if not snaps:
            raise IndexCorrupt(f"{root!r}: no intact snapshot left to recover from ({'; '.join(rep.damaged) or 'none found'})")
        chosen = snaps[0]
        rep.snapshot = chosen
        _restore_copies(root, os.path.join(root, chosen), rep)
        _wal(root, chosen, max(map(snapshot.snap_seq, bad), default=0), rep)
        try:
            ptr = snapshot.pointer(root)
        except IndexCorrupt as e:
            ptr = None
            rep.damaged.append(f"CURRENT ({e})")
        if ptr is None or ptr["snapshot"] != chosen:
            snapshot.set_current(root, chosen, snaps[1] if len(snaps) > 1 else None)
            rep.kept.append(f"CURRENT rewritten to name {chosen}")
        for line in rep.lines():
            (log.warning if rep.changed else log.info)("recovery of %s: %s", root, line)
        return rep


def _snapshots(root: str, rep: Report) -> tuple[list[str], list[str]]:
    """(intact snapshots newest first, damaged ones); damaged ones are set aside as ``damaged-<name>``."""
    names = sorted((n for n in os.listdir(root) if n.startswith("snap-") and not n.endswith(".tmp")
                    and os.path.isdir(os.path.join(root, n))),
                   key=lambda n: tuple(int(p) if p.isdigit() else -1 for p in n.split("-")[1:]), reverse=True)
    good, bad = [], []
    for n in names:
        try:
            snapshot.verify(os.path.join(root, n))
            good.append(n)
        except IndexCorrupt as e:
            bad.append(n)
            rep.damaged.append(f"{n} ({e}); set aside as damaged-{n}")
            shutil.rmtree(os.path.join(root, f"damaged-{n}"), ignore_errors=True)
            os.rename(os.path.join(root, n), os.path.join(root, f"damaged-{n}"))
    if good and good[0] != names[0]:
        rep.kept.append(f"fell back to the previous snapshot {good[0]}")
    return good, bad


def _restore_copies(root: str, snap: str, rep: Report) -> None:
    """manifest.json and pca.npz: checked, and put back from the snapshot's copies if damaged."""
    try:
        man = snapshot.read_manifest(root)
        snapshot.pca_path(root, man)
        return
    except IndexCorrupt as e:
        if not os.path.exists(os.path.join(snap, "manifest.json")):
            rep.lost.append(f"manifest.json ({e}) and snapshot {os.path.basename(snap)} has no copy of it")
            raise IndexCorrupt(f"{root!r}: {e}; no copy to restore it from") from None
        rep.damaged.append(f"manifest.json or pca.npz ({e})")
    for name in snapshot.COPIES:
        src = os.path.join(snap, name)
        if os.path.exists(src):
            dst = os.path.join(root, name)
            if os.path.exists(dst):
                os.replace(dst, dst + ".damaged")
            shutil.copyfile(src, dst + ".tmp")
            os.replace(dst + ".tmp", dst)
            rep.kept.append(f"{name} restored from {os.path.basename(snap)}")


def _records(path: str, rep: Report) -> list[tuple[int, bytes]]:
    """(seq, framed record) of every valid record of a WAL file (damage is cut out, the file
    kept beside it, as ``sanny repair-wal``)."""
    if not os.path.exists(path):
        return []
    try:
        data = read(path)
        sc = scan(data, path)
    except IndexCorrupt as e:
        r = repair(path)
        rep.damaged.append(f"{os.path.basename(path)} ({e}); {r.kept} valid records kept, the file as found is {r.backup}")
        data = read(path)
        sc = scan(data, path)
    if sc.tail == "damaged":
        rep.lost.append(f"{os.path.basename(path)}: its last record (byte {sc.good}) is damaged: an "
                        "acknowledged write may be lost")
    out = []
    for span in sc.records:
        payload = sc.payload(data, span)
        out.append((int.from_bytes(payload[:8], "little"), frame(payload)))
    return out


def _wal(root: str, chosen: str, newest: int, rep: Report) -> None:
    """Put the records of wal.log.prev after the chosen snapshot in front of wal.log;
    ``newest``: the seq of the newest (damaged) snapshot, which the records must reach."""
    after = snapshot.snap_seq(chosen)
    path = os.path.join(root, "wal.log")
    cur, prev = _records(path, rep), _records(path + ".prev", rep)
    first_cur = cur[0][0] if cur else None
    need = [(s, f) for s, f in prev if s > after and (first_cur is None or s < first_cur)]
    if need:
        write_atomic(path + ".before-recovery", read(path))
        write_atomic(path, file_head() + b"".join(f for _, f in need + cur))
        rep.kept.append(f"{len(need)} WAL records (seq {need[0][0]}..{need[-1][0]}) put back from "
                        f"wal.log.prev, {len(cur)} in wal.log; the old wal.log is wal.log.before-recovery")
    have = need[-1][0] if need else after
    if newest > have:
        rep.lost.append(f"the writes after seq {have} up to seq {newest} (in the damaged snapshot, "
                        "not in any intact WAL file)")
    rep.kept.append(f"replays every WAL record after seq {after}")

