"""Reliability run (``sanny soak``): faults are injected, then the survivors are checked.

Modelled on crasher + checker suites: a child process writes and prints each key only after the
write returned (acknowledged); it is SIGKILLed at a point chosen by the parent from what it has
read (no sleeps); the index is reopened and every acknowledged key must hold its vector. Writes
answered with an error must not exist afterwards (a *phantom*). Bad inputs (oversized requests,
malformed bytes, WAL byte flips) must get a clear error, never a crash. Each check returns a
:class:`Row`; :func:`run` collects them into one table.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine.wal import repair
from sanny.workers.errors import IndexCorrupt, StorageFull, WriteFailed

from . import soak_children as children
from .soak_children import DIM, vec


@dataclass
class Row:
    fault: str
    tried: int = 0
    survived: int = 0
    lost: int = 0        # acknowledged writes missing or wrong afterwards
    phantoms: int = 0    # writes answered with an error that exist afterwards
    bad_tried: int = 0   # bad inputs sent
    bad_handled: int = 0  # ... answered with a clear error (not INTERNAL, no crash)
    note: str = ""
    extra: dict = field(default_factory=dict)


def _config() -> IndexConfig:
    return IndexConfig(dim=DIM, S=2, inner=InnerParams(kind="exact"))


def _missing(root: str, acked) -> int:
    """Acknowledged keys absent or holding another vector after reopening ``root``."""
    with Index.open(root) as ix:
        keys = [f"k{i}" for i in acked]
        present = ix.exists(keys) if keys else np.zeros(0, bool)
        lost = int((~present).sum())
        ok = [i for i, p in zip(acked, present) if p]
        if ok:
            got = ix.get([f"k{i}" for i in ok])
            lost += int(sum(not np.allclose(g, vec(i)[0]) for g, i in zip(got, ok)))
    return lost


def crash_loop(work: str, rounds: int, seed: int = 0) -> Row:
    """SIGKILL a writing coordinator (two writer threads: group commit + ordered apply) ``rounds``
    times at a point drawn from the acknowledged count; reopen and check after each."""
    rng = np.random.default_rng(seed)
    root = os.path.join(work, "crash")
    Index.create(root, _config()).close()
    row, acked, start = Row(f"coordinator SIGKILL x{rounds}"), [], 0
    for _ in range(rounds):
        want = int(rng.integers(5, 60))
        p = subprocess.Popen(children.command("writer", root, start), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        got = []
        for line in p.stdout:  # bounded: the child writes at most 200,000 keys
            got.append(int(line))
            if len(got) >= want:
                break
        p.kill()
        p.wait()
        # the child may have acknowledged more before the kill landed (a busy machine): every
        # whole line it printed is an acknowledged key, checked, and the next start is past it
        got += [int(line) for line in p.stdout.read().splitlines(keepends=True) if line.endswith("\n")]
        p.stdout.close()
        acked += got
        start = max(got, default=start) + 4  # past anything in flight
        lost = _missing(root, acked)
        row.tried += 1
        row.survived += lost == 0 and len(got) > 0
        row.lost += lost
    row.note = f"{len(acked)} acknowledged keys checked"
    return row


@contextlib.contextmanager
def _tmpfs(size: str):
    mnt = tempfile.mkdtemp(prefix="sanny-soak-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt], capture_output=True)
    try:
        yield mnt if r.returncode == 0 else None
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", mnt], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


def disk_full(work: str) -> Row:
    """Fill a small tmpfs, write into ENOSPC (rolled back, reported), free space, write more,
    crash (no save), reopen: every acknowledged key there, none of the failed ones."""
    row = Row("disk full (ENOSPC, tmpfs)")
    with _tmpfs("2m") as mnt:
        if mnt is None:
            row.note = "skipped: cannot mount a tmpfs (needs root)"
            return row
        root = os.path.join(mnt, "idx")
        ix = Index.create(root, _config())
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for _ in range(4096):  # bounded: 4096 x 1 KiB > the tmpfs
                os.write(fd, b"\0" * 1024)
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, os.path.getsize(filler) - 16 * 1024))
        acked, failed = [], []
        for i in range(20000):
            try:
                ix.insert([f"k{i}"], vec(i))
                acked.append(i)
            except (StorageFull, WriteFailed):
                failed.append(i)
                if len(failed) == 3:
                    os.truncate(filler, max(0, os.path.getsize(filler) - 256 * 1024))
            if len(failed) >= 3 and len(acked) >= 20 and acked[-1] > failed[-1] + 20:
                break
        ix.wal.close()
        ix._release()  # a crash: no checkpoint
        row.tried = len(failed)
        row.lost = _missing(root, acked)
        with Index.open(root) as again:
            row.phantoms = int(again.exists([f"k{i}" for i in failed]).sum()) if failed else 0
        row.survived = row.tried if row.lost == 0 and row.phantoms == 0 else 0
        row.note = f"{len(acked)} acknowledged, {len(failed)} refused with StorageFull"
    return row


def wal_flips(work: str, trials: int, seed: int = 0) -> Row:
    """Flip one byte of a 30-record WAL: open must refuse (IndexCorrupt naming the offset) or lose
    at most the last record (a torn tail); after ``repair`` every other record is back."""
    rng = np.random.default_rng(seed)
    base = os.path.join(work, "flip-base")
    ix = Index.create(base, _config())
    for i in range(30):
        ix.insert([f"k{i}"], vec(i))
    ix.wal.close()
    ix._release()
    row = Row(f"WAL byte flips x{trials}")
    size = os.path.getsize(os.path.join(base, "wal.log"))
    for t in range(trials):
        root = os.path.join(work, f"flip-{t}")
        shutil.copytree(base, root)
        path = os.path.join(root, "wal.log")
        off = int(rng.integers(0, size))
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ (1 << int(rng.integers(0, 8)))]))
        row.bad_tried += 1
        try:
            Index.open(root).close(save=False)
        except IndexCorrupt:
            repair(root)
        lost = _missing(root, list(range(30)))
        row.bad_handled += lost <= 1
        row.tried += 1
        row.survived += lost <= 1
        row.extra.setdefault("records lost to the flipped one", []).append(lost)
        shutil.rmtree(root)
    return row


def reopen_after_crash(work: str, records: int, every: int = 1_000) -> Row:
    """``records`` one-key inserts (8 writer threads, 128-d, S=4, faiss HNSW) into an index with
    automatic checkpoints every ``every`` records, a crash, then ``Index.open``: how long it
    takes (bounded by the records since the last checkpoint) and whether every key is there."""
    import time

    root = os.path.join(work, "reopen")
    out = subprocess.run(children.command("checkpointed", root, records, every),
                         capture_output=True, text=True, check=True).stdout.split()
    checkpoints = int(out[-1])  # the child's last line (check=True: it ran to its end)
    t0 = time.perf_counter()
    with Index.open(root) as ix:
        seconds = time.perf_counter() - t0
        replayed = len(ix.journal)
        lost = int((~ix.exists([f"k{i}" for i in range(records)])).sum())
    row = Row(f"reopen after {records:,} WAL records", tried=1, survived=int(lost == 0), lost=lost)
    row.note = (f"open {seconds:.2f} s, {replayed} records replayed after the last of "
                f"{checkpoints} automatic checkpoints (every {every:,} records)")
    row.extra.update(open_s=round(seconds, 3), replayed=replayed, checkpoints=checkpoints)
    return row
