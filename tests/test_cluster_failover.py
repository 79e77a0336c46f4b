"""A 2-shard x 2-replica grid over real `sanny worker` processes: one replica is SIGKILLed
during a stream of searches and writes. No search fails, no acknowledged write is lost, the
cell reports itself degraded, and the restarted replica is caught up before it serves again."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.transports import factory_from_config

from transport_helpers import WorkerProcess, dataset

WAIT = 120.0  # bound on waiting for a state (a busy 2-core machine); never reached when it works


@pytest.fixture
def procs(tmp_path):
    started = []
    try:
        for i in range(4):  # (shard, replica) = (0,0) (0,1) (1,0) (1,1)
            started.append(WorkerProcess(tmp_path / f"w{i}"))
        yield started
    finally:
        for p in started:
            p.stop()


def test_sigkill_one_replica_under_load(tmp_path, procs):
    x, q, keys = dataset(n=1400)
    table = {"transport": "grpc", "shards": 2, "replicas": 2, "addresses": [p.address for p in procs],
             "failover_after": 5, "probe_every": 0.1, "timeout": 20}
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=32, S=2, workers=1, inner=InnerParams(kind="exact"),
                                                         shards=2, T=20),
                      worker_factory=factory_from_config({"workers": table}))
    try:
        ix.insert(keys[:600], x[:600])
        ix.save()  # the workers' saves: what a restarted replica starts from
        acked, failed, searches = [], [], [0]
        some_written, stop = threading.Event(), threading.Event()

        def searcher():
            while not stop.is_set():
                try:
                    ids, _ = ix.search(q, k=10)
                    searches[0] += 1
                except Exception as e:  # noqa: BLE001 - counted
                    failed.append(e)

        def writer():
            for i in range(600, 1400, 20):
                ix.insert(keys[i: i + 20], x[i: i + 20])
                acked.extend(keys[i: i + 20])
                if i >= 800:
                    some_written.set()
                if i == 1000:
                    killed.wait(WAIT)

        killed = threading.Event()
        threads = [threading.Thread(target=searcher), threading.Thread(target=writer)]
        for t in threads:
            t.start()
        assert some_written.wait(WAIT)
        procs[0].kill()  # shard 0, replica 0
        killed.set()
        threads[1].join(WAIT)
        cell = ix.workers[0].cells[0]
        assert cell.state == "degraded"
        procs[0].start()  # same port, same data directory
        assert cell.wait_state("ready", WAIT)
        stop.set()
        threads[0].join(WAIT)
        assert failed == [] and searches[0] > 0
        assert ix.exists(acked).all() and len(acked) == 800
        ids, d = ix.search(x[600:1400], k=1)  # exact inner: every acked vector finds itself
        assert (ids[:, 0] == np.array(keys[600:1400], object)).all()
        victim, sibling = cell.replicas
        assert victim.stats()["count"] == sibling.stats()["count"] == 700
        qs = q[:, ix.columns[0]]
        assert (victim.search(qs, 20)[0] == sibling.search(qs, 20)[0]).all()
    finally:
        ix.close(save=False)
