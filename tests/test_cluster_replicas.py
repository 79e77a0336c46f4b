"""Replicas of a grid cell (engine/replicas.py), in one process: a replica that is down costs no
failed search and no acknowledged write, the cell reports itself degraded, and a replica that
comes back (from its last save) is caught up from the WAL before it serves again.

``DirectWorker`` (a RemoteWorker whose 'network' is a method call, see test_transport_catchup)
stands in for a worker process; the real-process version is test_cluster_failover.py."""
from __future__ import annotations

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine.grid import summary

from test_transport_catchup import DirectWorker
from transport_helpers import dataset

EXACT = InnerParams(kind="exact")
WAIT = 60.0  # bound on waiting for a state (never reached when things work)


def _factory(spec, site):
    return DirectWorker(spec, site)


_factory.replicas = 2
_factory.cell_options = {"probe_every": 0.02}


def test_replica_down_costs_nothing_and_catches_up(tmp_path):
    x, q, keys = dataset(n=900)
    cfg = dict(dim=32, S=4, workers=2, inner=EXACT, T=20)
    grid = Index.create(str(tmp_path / "grid"), IndexConfig(shards=2, **cfg), worker_factory=_factory)
    plain = Index.create(str(tmp_path / "plain"), IndexConfig(**cfg))
    try:
        for ix in (grid, plain):
            ix.insert(keys[:500], x[:500])
            ix.save()
        cell = grid.workers[0].cells[1]
        victim = cell.replicas[0]
        victim.down = True
        for i in range(500, 900, 50):  # mixed load while one replica is down
            for ix in (grid, plain):
                ix.insert(keys[i: i + 50], x[i: i + 50])
                ix.remove(keys[i - 400: i - 395])
            got, want = grid.search(q, k=10), plain.search(q, k=10)
            assert (got[0] == want[0]).all()
        assert cell.state == "degraded"
        info = grid.info()["workers"]
        assert info[0]["state"] == "degraded" and "g0.r1: 1 of 2 replicas down" in info[0]["degraded"]
        assert info[1]["state"] == "ready"
        assert "g0.r1 degraded down, " in summary(info)["cells"][1]
        victim.restart()  # lost its memory: reloads its save, then replays the WAL tail
        victim.down = False
        assert cell.wait_state("ready", WAIT)
        assert len(cell.catchups) == 1
        sibling = cell.replicas[1]
        qs = q[:, grid.columns[0]]
        a, b = victim.search(qs, 20), sibling.search(qs, 20)
        assert (a[0] == b[0]).all() and victim.stats()["count"] == sibling.stats()["count"]
    finally:
        grid.close(save=False)
        plain.close()


def test_every_replica_down_is_unavailable(tmp_path):
    import pytest

    from sanny.engine import WorkerUnavailable

    x, q, keys = dataset(n=300)
    ix = Index.create(str(tmp_path / "g"), IndexConfig(dim=32, S=2, workers=1, inner=EXACT, shards=2),
                      worker_factory=_factory)
    try:
        ix.insert(keys, x)
        for r in ix.workers[0].cells[0].replicas:
            r.down = True
        with pytest.raises(WorkerUnavailable, match="g0.r0"):
            ix.search(q, k=5)
        with pytest.raises(WorkerUnavailable, match="every replica is down"):
            ix.workers[0].stats()  # health: NOT_SERVING
    finally:
        for r in ix.workers[0].cells[0].replicas:
            r.down = False
        ix.close(save=False)


def test_checkpoints_wait_for_a_down_replica_then_resume(tmp_path):
    """While a replica is down a checkpoint is deferred before anything is written (no snapshot,
    the WAL keeps every write) and retried; once the cell is whole the next one is taken."""
    x, _, keys = dataset(n=300)
    grid = Index.create(str(tmp_path / "grid"), IndexConfig(dim=32, S=2, shards=2, inner=EXACT, T=20),
                        worker_factory=_factory)
    try:
        grid.insert(keys[:100], x[:100])
        grid.save()
        snaps = sorted(p.name for p in (tmp_path / "grid").iterdir() if p.name.startswith("snap-"))
        cell = grid.workers[0].cells[0]
        victim = cell.replicas[1]
        victim.down = True
        auto = grid.start_checkpoints(records=1, seconds=3600, retry_seconds=0.01)
        grid.insert(keys[100:200], x[100:200])  # acknowledged by the live replica; the victim is marked down
        assert cell.state == "degraded"
        assert auto.deferred.wait(WAIT) and auto.count == 0 and auto.failures == 0
        assert sorted(p.name for p in (tmp_path / "grid").iterdir() if p.name.startswith("snap-")) == snaps
        victim.restart()
        victim.down = False
        assert cell.wait_state("ready", WAIT)
        assert auto.taken.wait(WAIT) and auto.failures == 0 and auto.deferrals >= 1
        got, _ = grid.search(x[:200], k=1)
        assert list(got[:, 0]) == keys[:200]
    finally:
        grid.close(save=False)


def test_close_with_a_replica_down_keeps_everything_in_the_wal(tmp_path):
    """close() cannot checkpoint a degraded grid: it still closes (no exception, lock released)
    and the next open replays every acknowledged write from the WAL."""
    x, _, keys = dataset(n=200)
    cfg = IndexConfig(dim=32, S=2, shards=2, inner=EXACT, T=20)
    grid = Index.create(str(tmp_path / "grid"), cfg, worker_factory=_factory)
    grid.insert(keys[:100], x[:100])
    grid.save()
    grid.workers[0].cells[1].replicas[0].down = True
    grid.insert(keys[100:], x[100:])
    assert grid.workers[0].cells[1].state == "degraded"
    grid.close()  # would checkpoint: deferred, closed anyway
    again = Index.open(str(tmp_path / "grid"), worker_factory=_factory)
    try:
        got, _ = again.search(x, k=1)
        assert list(got[:, 0]) == keys
    finally:
        again.close()
