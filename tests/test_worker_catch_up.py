"""A served index catches a worker that missed writes up from its health loop as soon as the
worker answers again, so the first search after it rejoins does not pay the replay."""
from __future__ import annotations

import threading

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable
from sanny.workers.host import StaleState, WorkerHost
from sanny.workers.remote import RemoteWorker, Stale

from service_fixtures import served

BOUND = 60.0  # liveness guard, not a speed assertion


class Restartable(RemoteWorker):
    transport = "direct"

    def __init__(self, spec, site):
        super().__init__(spec, site.workdir, rank=site.rank, log=site.log, timeout=5.0, connect_grace=1.0)
        self.host, self.down, self.syncs = WorkerHost(site.workdir + "-data"), False, 0
        self.synced = threading.Event()

    def _invoke(self, method, timeout, epoch, kw):
        if self.down:
            raise WorkerUnavailable(f"{self.name} is down")
        try:
            return self.host.call(method, epoch, **kw)
        except StaleState as e:
            raise Stale(str(e)) from None

    def _sync(self):
        super()._sync()
        self.syncs += 1
        self.synced.set()

    def close(self):
        self.host.close()


def test_health_loop_catches_a_rejoined_worker_up_before_any_search(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    ix = Index.create(str(tmp_path / "idx"), IndexConfig(dim=8, S=2, workers=2, inner=InnerParams(kind="exact")),
                      worker_factory=Restartable, checkpoints=False)
    try:
        ix.insert([f"k{i}" for i in range(50)], x[:50])
        w = ix.workers[1]
        w.down = True
        ix.insert([f"k{i}" for i in range(50, 60)], x[50:60])  # missed by worker 1
        assert w._suspect
        w.synced.clear()
        with served(ix, health_interval=0.05):
            w.down = False  # it is back: the health loop replays what it missed
            assert w.synced.wait(BOUND) and not w._suspect
            before = w.syncs
            keys, _ = ix.search(x[50:60], 1)
            assert list(keys[:, 0]) == [f"k{i}" for i in range(50, 60)]
            assert w.syncs == before  # the search found it in step
    finally:
        ix.close(save=False)
