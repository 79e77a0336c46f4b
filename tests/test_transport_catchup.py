"""The coordinator side of remote workers (RemoteWorker + Index.worker_log), in one process:
a worker that restarts from an older save, misses a write, or loses its state is caught up
from the write-ahead log before it serves again. The transport here calls a WorkerHost
directly, so "restart" = a new WorkerHost on the same data directory."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable
from sanny.workers.host import StaleState, WorkerHost
from sanny.workers.remote import RemoteWorker, Stale

from transport_helpers import dataset

EXACT = InnerParams(kind="exact")


class DirectWorker(RemoteWorker):
    """RemoteWorker whose 'network' is a method call; ``down`` makes every call fail."""

    transport = "direct"

    def __init__(self, spec, site, **remote):
        super().__init__(spec, site.workdir, rank=site.rank, log=site.log, **remote)
        self.data_dir, self.host, self.down = site.workdir + "-data", None, False
        self.restart()

    def restart(self):
        if self.host is not None:
            self.host.close()
        self.host = WorkerHost(self.data_dir)

    def _invoke(self, method, timeout, epoch, kw):
        if self.down:
            raise WorkerUnavailable(f"{self.name} is down")
        try:
            return self.host.call(method, epoch, **kw)
        except StaleState as e:
            raise Stale(str(e)) from None

    def close(self):
        self.host.close()


@pytest.fixture
def pair(tmp_path):
    """A DirectWorker-backed index and an embedded one, fed the same writes."""
    x, q, keys = dataset(n=600)
    cfg = dict(dim=32, S=4, workers=2, inner=EXACT)
    remote = Index.create(str(tmp_path / "remote"), IndexConfig(**cfg), worker_factory=DirectWorker)
    local = Index.create(str(tmp_path / "local"), IndexConfig(**cfg))
    for ix in (remote, local):
        ix.insert(keys[:300], x[:300])
        ix.save()
        ix.insert(keys[300:400], x[300:400])
        ix.upsert(keys[:50], x[400:450])
        ix.remove(keys[50:60])
    yield remote, local, x, q, keys
    remote.close(save=False)
    local.close(save=False)


def same(a: Index, b: Index, q) -> bool:
    ka, da = a.search(q, 10)
    kb, db = b.search(q, 10)
    return (ka == kb).all() and np.allclose(da, db, atol=1e-5)


def test_restarted_worker_is_replayed_what_it_missed(pair):
    remote, local, x, q, keys = pair
    w = remote.workers[1]
    w.restart()  # back to the save at seq 1: three records behind
    assert w.host.call("stats")["position"]["applied_seq"] == 1
    assert same(remote, local, q)
    assert w.host.call("stats")["position"]["applied_seq"] == remote.seq == 4


def test_write_that_failed_on_one_worker_is_resent(pair):
    """The write contract: WAL + store are the source of truth, so an insert while a worker is
    down is acknowledged; the worker catches up from the journal before it serves again."""
    remote, local, x, q, keys = pair
    remote.workers[0].down = True
    remote.insert(keys[500:520], x[500:520])  # acknowledged: durable in the WAL and the store
    assert remote.exists(keys[500:520]).all()
    with pytest.raises(WorkerUnavailable):
        remote.search(q, 10)
    remote.workers[0].down = False
    local.insert(keys[500:520], x[500:520])  # the coordinator logged it: it counts once the worker is back
    assert same(remote, local, q)
    assert [w.host.call("stats")["stats"]["count"] for w in remote.workers] == [len(local)] * 2


def test_worker_that_lost_its_state_reloads_our_save(pair, tmp_path):
    remote, local, x, q, keys = pair
    w = remote.workers[0]
    w.host.call("configure", spec=w.spec.to_dict(), lineage="someone-else")  # another index took it over
    assert same(remote, local, q)
    assert w.host.call("stats")["position"]["lineage"] == w._lineage


def test_save_and_reopen_after_a_restart(pair, tmp_path):
    remote, local, x, q, keys = pair
    remote.workers[1].restart()
    remote.save()  # catches worker 1 up first, then checkpoints everyone at seq 4
    remote.close(save=False)
    again = Index.open(remote.root, worker_factory=DirectWorker)
    try:
        assert same(again, local, q)
    finally:
        again.close(save=False)


def test_replay_of_insert_then_replace_with_ngt(tmp_path):
    """The replay carries an insert and, later, the removal of the same ids, with no build from
    the coordinator in between (NGT cannot remove an unbuilt object: the host builds first)."""
    x, q, keys = dataset(n=400)
    cfg = dict(dim=32, S=4, workers=2, inner=InnerParams(kind="ngt", threads=1))
    remote = Index.create(str(tmp_path / "remote"), IndexConfig(**cfg), worker_factory=DirectWorker)
    try:
        remote.insert(keys[:200], x[:200])
        remote.save()
        remote.insert(keys[200:300], x[200:300])
        remote.upsert(keys[200:250], x[300:350])  # replaces ids inserted after the save
        remote.remove(keys[250:260])
        remote.workers[0].restart()
        live = list(range(200)) + list(range(260, 300))
        got = remote.search(x[live], 1)[0][:, 0]
        assert list(got) == [keys[i] for i in live]
        assert list(remote.search(x[300:350], 1)[0][:, 0]) == keys[200:250]
    finally:
        remote.close(save=False)
