"""Automatic checkpoints by WAL record count / size: the WAL is cut, every write survives a
reopen; replay on open is batched (runs of records) and equals one-by-one application."""
from __future__ import annotations

import os

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine.journal import runs as _runs
from sanny.engine.wal import DEL, PUT, WriteAheadLog

HANG_GUARD_S = 60


def vec(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)


def test_checkpoint_after_record_bound_cuts_the_wal_and_keeps_every_write(tmp_path):
    ix = Index.create(str(tmp_path / "i"), IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    auto = ix.start_checkpoints(records=5, seconds=3600)
    x = vec(12)
    for i in range(6):
        ix.insert([f"k{i}"], x[i:i + 1])
    assert auto.taken.wait(HANG_GUARD_S)
    assert len(ix.journal) < 6 and auto.failures == 0
    for i in range(6, 12):
        ix.insert([f"k{i}"], x[i:i + 1])
    ix.remove(["k0"])
    ix.wal.close()
    auto.stop()
    ix._release()  # a crash: no final save
    again = Index.open(str(tmp_path / "i"))
    try:
        assert len(again) == 11 and not again.exists(["k0"])[0]
        assert np.allclose(again.get(["k11"]), x[11:12])
    finally:
        again.close(save=False)


def test_checkpoint_by_wal_bytes(tmp_path):
    ix = Index.create(str(tmp_path / "i"), IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    auto = ix.start_checkpoints(wal_bytes=1, records=10**6, seconds=3600)
    ix.insert(["a"], vec(1))
    assert auto.taken.wait(HANG_GUARD_S)
    ix.close()
    with Index.open(str(tmp_path / "i")) as again:
        assert again.exists(["a"])[0]


def test_runs_group_one_op_without_repeated_keys():
    recs = [(1, PUT, ["a"], None), (2, PUT, ["b"], None), (3, PUT, ["a"], None),
            (4, DEL, ["b"], None), (5, DEL, ["c"], None), (6, PUT, ["c"], None)]
    assert [[r[0] for r in run] for run in _runs(recs)] == [[1, 2], [3], [4, 5], [6]]
    assert [[r[0] for r in run] for run in _runs(recs[:2], most=1)] == [[1], [2]]


def test_batched_replay_equals_one_by_one(tmp_path):
    ix = Index.create(str(tmp_path / "i"), IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    x = vec(40, seed=1)
    for i in range(30):
        ix.insert([f"k{i}"], x[i:i + 1])
    ix.upsert(["k3", "k4"], x[30:32])
    ix.remove(["k5"])
    ix.insert(["k5"], x[32:33])
    want = ix.search(x[:10], 3)
    ix.wal.close()
    ix._release()
    again = Index.open(str(tmp_path / "i"))
    try:
        got = again.search(x[:10], 3)
        assert (got[0] == want[0]).all() and np.allclose(got[1], want[1])
        assert again.seq == 33 and len(again.journal) == 33
    finally:
        again.close(save=False)


def test_an_embedded_index_checkpoints_on_its_own(tmp_path):
    """Without ``sanny serve`` (or any start_checkpoints call): the record bound of the
    defaults cuts the WAL, so a reopen replays at most that many records."""
    root = str(tmp_path / "i")
    ix = Index.create(root, IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    auto = ix._auto
    assert auto is not None and auto.records == 1_000
    x = vec(1_100)
    for i in range(1_100):  # one-key writes, as an application does
        ix.upsert([f"k{i}"], x[i:i + 1])
    assert auto.taken.wait(HANG_GUARD_S) and auto.count >= 1
    ix.close(save=False)
    assert len(list(WriteAheadLog.replay(os.path.join(root, "wal.log")))) < 1_000
    with Index.open(root) as again:
        assert len(again) == 1_100 and again._auto is not None
        np.testing.assert_array_equal(again.get(["k1099"]), x[1099:1100])
    off = Index.open(root, checkpoints=False)
    assert off._auto is None
    off.close()


def test_start_checkpoints_with_bounds_replaces_the_defaults(tmp_path):
    ix = Index.create(str(tmp_path / "i"), IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    default = ix._auto
    assert ix.start_checkpoints() is default  # no bounds: the running one
    mine = ix.start_checkpoints(records=3, seconds=3600)
    assert mine is not default and mine.records == 3 and not default._thread.is_alive()
    ix.close()
