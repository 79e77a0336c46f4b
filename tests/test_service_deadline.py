"""A client deadline ends the call with DEADLINE_EXCEEDED, the server stops working on it (the
batch is searched in chunks with the deadline checked between them), and the next call is
served. The first chunk's search is held until the client has seen its deadline pass."""
from __future__ import annotations

import threading

import grpc
import pytest

from sanny.engine.api import service as service_mod
from sanny.engine.rpc.status import Abort
from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc

from service_fixtures import ProxyWorker, data, keys, make_index, matrix, rpc_error, served

QUERIES = 30     # one query per chunk
DEADLINE = 0.4


@pytest.fixture
def slow(tmp_path):
    ix = make_index(tmp_path / "idx", worker_factory=ProxyWorker)
    ix.insert(keys(50), data(50))
    yield ix
    ix.close(save=False)


def test_deadline_exceeded_and_work_stops(slow, monkeypatch):
    stopped = threading.Event()
    real = service_mod.check_alive

    def spy(context):
        try:
            real(context)
        except Abort as e:
            if e.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                stopped.set()
            raise
    monkeypatch.setattr(service_mod, "check_alive", spy)
    release = threading.Event()
    for w in slow.workers:
        w.hold = release
    with served(slow, search_chunk=1) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.SannyStub(ch)
        err = rpc_error(stub.Search, pb.SearchRequest(queries=matrix(data(QUERIES, seed=1)), k=3), timeout=DEADLINE)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        release.set()  # the chunk in progress finishes; the next deadline check ends the call
        assert stopped.wait(30)
        assert slow.workers[0].searches == 1  # no chunk after the first was started
        r = stub.Search(pb.SearchRequest(queries=matrix(data(2, seed=2)), k=3), timeout=30)
        assert len(r.results) == 2


def test_worker_calls_carry_the_client_deadline(slow):
    """Every worker call of the request (in the fan-out threads too) runs under the client's
    deadline, which remote transports use as their call timeout."""
    from sanny.workers import deadline

    seen = []
    for w in slow.workers:
        real = w.search

        def spy(*a, real=real):
            seen.append(deadline.remaining())  # the bound remote.RemoteWorker applies
            return real(*a)
        w.search = spy
    with served(slow) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        pb_grpc.SannyStub(ch).Search(pb.SearchRequest(queries=matrix(data(2, seed=3)), k=3), timeout=5)
    assert len(seen) == len(slow.workers)
    assert all(d is not None and 0 < d <= 5 for d in seen), seen  # the client's 5 s, counting down
