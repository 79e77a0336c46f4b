"""Compaction under faults: SIGKILL of the coordinator in every phase of a merge (copy/build,
swap, the checkpoint that writes the merged segments), a gRPC worker killed mid-merge, a full
disk at the checkpoint after a merge, and writes and searches running through merges. Nothing
acknowledged is lost, no removed key comes back, no snapshot debris is left.

A merge changes memory only; the durable state changes at a checkpoint (atomic snapshot), so
every phase must reopen to the last snapshot + WAL."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams

from test_wal_enospc import Child, small_disk  # noqa: F401 - the tmpfs fixture
from transport_helpers import WorkerProcess, dataset

GUARD_S = 120  # hang guard (not a speed assertion)

CHILD = """
import sys, threading
import numpy as np
from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers import segments

root, phase = sys.argv[1], sys.argv[2]
hold = threading.Event()

def reached():
    print("PHASE", flush=True)
    hold.wait()  # until SIGKILL

if phase == "build":
    real_make = segments.SegmentedInner.run
    def run(self, step, threads, foreground=False):
        real = self.make_graph
        self.make_graph = lambda x, t: (reached(), real(x, t))[1]
        return real_make(self, step, threads, foreground)
    segments.SegmentedInner.run = run
elif phase == "swap":
    real_drop = segments.SegmentedInner._drop_growing_prefix
    segments.SegmentedInner._drop_growing_prefix = lambda self, upto: (real_drop(self, upto), reached())
elif phase == "save":
    real_save = segments.SegmentedInner.save
    def save(self, path):
        real_save(self, path)
        if self.merges:  # the checkpoint after the merge, its first subspace written
            reached()
    segments.SegmentedInner.save = save

rng = np.random.default_rng(0)
x = rng.standard_normal((1200, 16)).astype(np.float32)
cfg = IndexConfig(dim=16, S=2, inner=InnerParams(kind="symqg", seal_rows=10**6, compact=False))
ix = Index.create(root, cfg)
ix.insert([f"k{i}" for i in range(1000)], x[:1000])
ix.save()
for i in range(0, 1000, 50):                      # churn after the snapshot: only the WAL has it
    ix.upsert([f"k{i}"], x[1000 + i // 50: 1001 + i // 50])
    print("ACK upsert", i, 1000 + i // 50, flush=True)
ix.remove([f"k{i}" for i in range(1, 1000, 10)])
print("ACK remove", flush=True)
ix.insert([f"n{i}" for i in range(100)], x[1100:1200])
print("ACK insert", flush=True)
if phase == "save":
    ix.build()
    ix.save()
else:
    ix.build()
print("DONE", flush=True)
"""


def _expect(lines):
    """Key -> row of x it must hold, from the acknowledged lines."""
    want = {f"k{i}": i for i in range(1000)}
    for ln in lines:
        part = ln.split()
        if part[:2] == ["ACK", "upsert"]:
            want[f"k{part[2]}"] = int(part[3])
        elif part == ["ACK", "remove"]:
            for i in range(1, 1000, 10):
                want.pop(f"k{i}", None)
        elif part == ["ACK", "insert"]:
            want.update({f"n{i}": 1100 + i for i in range(100)})
    return want


@pytest.mark.parametrize("phase", ["build", "swap", "save"])
def test_sigkill_in_every_phase_of_a_compaction_loses_nothing(tmp_path, phase):
    root = str(tmp_path / "ix")
    child = Child(CHILD, root, phase)
    lines = []
    try:
        while True:
            ln = child.q.get(timeout=GUARD_S)
            assert ln is not None, child.p.stderr.read()
            if ln == "PHASE":
                break
            lines.append(ln)
        child.p.send_signal(signal.SIGKILL)
        assert child.p.wait(timeout=GUARD_S) == -signal.SIGKILL
    finally:
        if child.p.poll() is None:
            child.p.kill()
    want = _expect(lines)
    x = np.random.default_rng(0).standard_normal((1200, 16)).astype(np.float32)
    with Index.open(root) as ix:
        assert len(ix) == len(want)
        assert not ix.exists([f"k{i}" for i in range(1, 1000, 10)]).any()   # nothing resurrected
        keys = sorted(want)
        np.testing.assert_array_equal(ix.get(keys), x[[want[k] for k in keys]])
        got, _ = ix.search(x[[want[k] for k in keys[:200]]], 1, T=50)
        assert (got[:, 0] == np.array(keys[:200])).mean() >= 0.98
        ix.build()
        ix.save()
    left = sorted(os.listdir(root))
    assert not [n for n in left if n.endswith(".tmp")], left            # no snapshot debris
    assert len([n for n in left if n.startswith("snap-")]) >= 1


def test_a_grpc_worker_killed_mid_merge_is_caught_up_with_nothing_lost(tmp_path):
    from sanny.workers.transports import factory_from_config

    x, q, keys = dataset(n=30000, dim=32)
    w = WorkerProcess(tmp_path / "w0")
    try:
        factory = factory_from_config({"workers": {"transport": "grpc", "addresses": [w.address]}})
        # a deliberately slow graph build (wide construction beam): the merge runs for seconds
        cfg = IndexConfig(dim=32, S=1, inner=InnerParams(kind="symqg", compact=False, threads=1,
                                                         hnsw_ef_construction=1500))
        ix = Index.create(str(tmp_path / "ix"), cfg, worker_factory=factory)
        ix.insert(keys[:20000], x[:20000])
        ix.save()
        ix.upsert(keys[:5000], x[20000:25000])          # after the save: the journal has them
        ix.remove(keys[5000:6000])
        errors = []
        t = threading.Thread(target=lambda: _catch(ix.compact, errors))
        t.start()
        merging = False
        for _ in range(100000):                         # until the worker reports the merge
            st = ix.segments() or {}
            if st.get("compaction") not in (None, "idle", "pending"):
                merging = True
                break
            if not t.is_alive():
                break
        w.kill()
        t.join(GUARD_S)
        w.start()                                       # same data dir and port: its last save
        want = {k: i for i, k in enumerate(keys[:20000])}
        want.update({k: 20000 + i for i, k in enumerate(keys[:5000])})
        for k in keys[5000:6000]:
            want.pop(k)
        assert len(ix) == len(want)
        sample = sorted(want)[::40]
        got, _ = ix.search(x[[want[k] for k in sample]], 1, T=50)   # the worker serves again, caught up
        assert (got[:, 0] == np.array(sample)).mean() >= 0.98
        assert not np.isin(ix.search(x[5000:6000], 5, T=50)[0], keys[5000:6000]).any()
        ix.close()
        assert merging and errors  # the kill hit the merge, and the operator's compact failed
    finally:
        w.stop()


def _catch(fn, errors):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the kill makes it fail
        errors.append(e)


@pytest.mark.parametrize("small_disk", ["3m"], indirect=True)
def test_a_full_disk_at_the_checkpoint_after_a_merge_keeps_every_write(small_disk):
    root = os.path.join(small_disk, "ix")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3000, 64)).astype(np.float32)
    ix = Index.create(root, IndexConfig(dim=64, S=1, inner=InnerParams(kind="hnsw", compact=False)))
    ix.insert([f"k{i}" for i in range(1500)], x[:1500])
    ix.save()
    ix.upsert([f"k{i}" for i in range(500)], x[1500:2000])
    ix.remove([f"k{i}" for i in range(500, 600)])
    ix.build()                                              # the merge: in memory
    filler = os.path.join(small_disk, "filler")
    with open(filler, "wb") as f:                           # leave too little for a snapshot
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    with pytest.raises(Exception):
        ix.save()
    got, _ = ix.search(x[1500:1510], 1)                     # still serving the merged segments
    assert got[:, 0].tolist() == [f"k{i}" for i in range(10)]
    os.remove(filler)
    ix.close(save=False)
    with Index.open(root) as again:                         # the last snapshot + WAL: all of it
        assert len(again) == 1400
        np.testing.assert_array_equal(again.get([f"k{i}" for i in range(500)]), x[1500:2000])
        assert not again.exists([f"k{i}" for i in range(500, 600)]).any()
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]


def test_writes_and_searches_through_background_merges_stay_consistent(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4000, 16)).astype(np.float32)
    cfg = IndexConfig(dim=16, S=2, inner=InnerParams(kind="symqg", seal_rows=150, idle_seconds=0.05))
    ix = Index.create(str(tmp_path / "ix"), cfg)
    ix.insert([f"k{i}" for i in range(2000)], x[:2000])
    want = {f"k{i}": i for i in range(2000)}
    stop, bad = threading.Event(), []

    def searcher():
        while not stop.is_set():
            keys, d = ix.search(x[:20], 5, T=20)
            if (d[:, 0] < 0).any() or any(len(set(r)) != len(r) for r in keys.tolist()):
                bad.append(keys)

    t = threading.Thread(target=searcher)
    t.start()
    try:
        for r in range(30):                                 # churn while merges run
            sel = rng.choice(2000, 60, replace=False)
            rows = np.arange(2000 + 60 * r, 2060 + 60 * r)      # each vector held by one key only
            ix.upsert([f"k{i}" for i in sel], x[rows])
            want.update({f"k{i}": int(j) for i, j in zip(sel, rows)})
            gone = [f"k{i}" for i in rng.choice(2000, 10, replace=False) if f"k{i}" in want]
            ix.remove(gone)
            for k in gone:
                want.pop(k)
    finally:
        stop.set()
        t.join()
    assert not bad
    assert ix.wait_compaction(timeout=GUARD_S)
    seg = ix.segments()
    assert seg["segments"] == 2 and seg["deleted_rows"] == 0 and seg["growing_rows"] == 0  # one per subspace
    assert len(ix) == len(want) and ix.store.size <= 2000 + 60  # one write (60 keys) above the most ever live
    keys = sorted(want)
    got, _ = ix.search(x[[want[k] for k in keys]], 1, T=50)
    assert (got[:, 0] == np.array(keys)).mean() >= 0.99
    removed = [f"k{i}" for i in range(2000) if f"k{i}" not in want]
    assert not ix.exists(removed).any()
    ix.close()
