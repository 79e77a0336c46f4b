"""A served index catches a worker that missed writes up from its health loop as soon as the
worker answers again, so the first search after it rejoins does not pay the replay."""
from __future__ import annotations

import threading

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams

from service_fixtures import served
from test_transport_catchup import DirectWorker

BOUND = 60.0  # liveness guard, not a speed assertion


class Restartable(DirectWorker):
    """A DirectWorker (a RemoteWorker whose 'network' is a method call) that counts its resyncs."""

    def __init__(self, spec, site):
        super().__init__(spec, site, timeout=5.0, connect_grace=1.0)
        self.syncs, self.synced = 0, threading.Event()

    def _sync(self):
        super()._sync()
        self.syncs += 1
        self.synced.set()


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
