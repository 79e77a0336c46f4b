"""gRPC worker processes (`sanny worker`) behind the Worker interface: same results as embedded
workers (local and distributed re-rank), a killed worker fails fast, a hung one hits the
deadline, and a restarted one is caught up from the coordinator's log with nothing lost."""
from __future__ import annotations

import contextlib
import threading

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable
from sanny.workers.errors import DeadlineExceeded
from sanny.workers.deadline import deadline
from sanny.workers.grpc_server import run_server as run_worker_server
from sanny.workers.transports import factory_from_config

from transport_helpers import WorkerProcess, build, dataset, matching_embedded

EXACT = InnerParams(kind="exact")
NGT = InnerParams(kind="ngt", threads=1)


def grpc_factory(procs, **extra):
    return factory_from_config({"workers": {"transport": "grpc", "addresses": [p.address for p in procs],
                                            "groups": [[0, 1], [2, 3]], **extra}})


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    base = tmp_path_factory.mktemp("grpc-workers")
    procs = []
    try:
        procs = [WorkerProcess(base / f"w{i}") for i in range(2)]
        yield procs
    finally:
        for p in procs:
            p.stop()


@pytest.mark.parametrize("keep_vectors", [True, False], ids=["local-rerank", "distributed-rerank"])
def test_grpc_workers_match_embedded(tmp_path, workers, keep_vectors):
    with matching_embedded(tmp_path, grpc_factory(workers), keep_vectors) as (remote, q, want_k):
        assert [w["state"] for w in remote.info()["workers"]] == ["ready", "ready"]
        assert [w["count"] for w in remote.info()["workers"]] == [len(dataset()[0]) - 5] * 2
        remote.close()  # saves on the workers; a new coordinator picks the same state up
        again = Index.open(str(tmp_path / "remote"), worker_factory=grpc_factory(workers))
        try:
            assert (again.search(q, 10)[0] == want_k).all()
        finally:
            again.close(save=False)


def test_worker_killed_fails_fast_then_restart_loses_nothing(tmp_path):
    x, q, keys = dataset(n=1500)
    procs = []
    try:
        procs = [WorkerProcess(tmp_path / f"w{i}") for i in range(2)]
        ix = build(tmp_path / "idx", IndexConfig(dim=32, S=4, workers=2, inner=NGT), x[:1000], keys[:1000],
                   grpc_factory(procs))
        ix.insert(keys[1000:1200], x[1000:1200])  # acknowledged after the last save
        procs[1].kill()

        with pytest.raises(WorkerUnavailable, match="127.0.0.1"):  # not DeadlineExceeded: it failed fast
            with deadline(5):
                ix.search(q, 10)
        assert ix.workers[0].stats()["state"] == "ready"
        with pytest.raises(WorkerUnavailable):
            ix.workers[1].stats()
        ix.insert(keys[1200:1300], x[1200:1300])  # acknowledged: WAL + store are the truth

        procs[1].start()  # same data dir and port: reloads its save, is replayed the rest
        live = list(range(5, 1300))
        got, dist = ix.search(x[live], 1)
        assert list(got[:, 0]) == [keys[i] for i in live]
        assert np.allclose(dist[:, 0], 0, atol=0.02)  # float32 rounding of |q|^2 - 2qx + |x|^2
        assert not ix.exists(keys[:5]).any()
        stats = ix.info()["workers"]
        assert [w["count"] for w in stats] == [len(live)] * 2
        assert [w["state"] for w in stats] == ["ready", "ready"]
        ix.close()  # checkpoint

        procs[0].kill()
        with pytest.raises(WorkerUnavailable):  # a worker down at open: not a "damaged snapshot"
            Index.open(str(tmp_path / "idx"), worker_factory=grpc_factory(procs))
        procs[0].start()
        ix = Index.open(str(tmp_path / "idx"), worker_factory=grpc_factory(procs))
        assert list(ix.search(x[live], 1)[0][:, 0]) == [keys[i] for i in live]
        ix.close(save=False)
    finally:
        for p in procs:
            p.stop()


class Address:
    def __init__(self, port: int):
        self.address = f"127.0.0.1:{port}"


def test_hung_worker_hits_the_deadline_and_recovers(tmp_path):
    """Two in-process worker servers; the first one's searches are held (it accepts the call
    and does not answer) until the test releases them."""
    x, q, keys = dataset(n=500)
    release = threading.Event()
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(run_worker_server(str(tmp_path / f"w{i}"))) for i in range(2)]
        host = servers[0][2]
        real = host.call

        def held(method, epoch, **kw):
            if method == "search" and not release.wait(60):
                raise RuntimeError("the test never released the held search")
            return real(method, epoch, **kw)
        host.call = held
        ix = build(tmp_path / "idx", IndexConfig(dim=32, S=4, workers=2, inner=EXACT), x, keys,
                   grpc_factory([Address(port) for _, port, _ in servers], timeout=2.0))
        try:
            with pytest.raises(DeadlineExceeded):  # the caller's deadline, shorter than the transport's
                with deadline(0.5):
                    ix.search(q, 10)
            with pytest.raises(WorkerUnavailable, match="did not answer"):  # the transport's own default
                ix.search(q, 10)
            release.set()
            assert ix.search(q, 10)[0].shape == (len(q), 10)
        finally:
            release.set()
            ix.close(save=False)


def test_worker_serves_health_and_reflection(workers):
    with grpc.insecure_channel(workers[0].address) as ch:
        for name in ("", "sanny.v1.SubspaceWorker"):
            got = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert got.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        reply = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                               timeout=5))
        names = {s.name for s in reply.list_services_response.service}
        assert {"sanny.v1.SubspaceWorker", "grpc.health.v1.Health"} <= names
