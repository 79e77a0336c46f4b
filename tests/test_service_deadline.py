"""A client deadline ends the call with DEADLINE_EXCEEDED, the server stops working on it (the
batch is searched in chunks with the deadline checked between them), and the next call is
served. The first chunk's search is held until the client has seen its deadline pass."""
from __future__ import annotations

import threading

import grpc

from sanny.engine.api import service as service_mod
from sanny.engine.rpc.status import Abort
from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc

from service_fixtures import data, matrix, proxied, rpc_error, served  # noqa: F401 - proxied: the fixture

QUERIES = 30     # one query per chunk
DEADLINE = 0.4


def test_deadline_exceeded_and_work_stops(proxied, monkeypatch):
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
    for w in proxied.workers:
        w.hold = release
    with served(proxied, search_chunk=1) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.SannyStub(ch)
        err = rpc_error(stub.Search, pb.SearchRequest(queries=matrix(data(QUERIES, seed=1)), k=3), timeout=DEADLINE)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        release.set()  # the chunk in progress finishes; the next deadline check ends the call
        assert stopped.wait(30)
        assert proxied.workers[0].searches == 1  # no chunk after the first was started
        r = stub.Search(pb.SearchRequest(queries=matrix(data(2, seed=2)), k=3), timeout=30)
        assert len(r.results) == 2


def test_worker_calls_carry_the_client_deadline(proxied):
    """Every worker call of the request (in the fan-out threads too) runs under the client's
    deadline, which remote transports use as their call timeout."""
    from sanny.workers import deadline

    seen = []
    for w in proxied.workers:
        real = w.search

        def spy(*a, real=real):
            seen.append(deadline.remaining())  # the bound remote.RemoteWorker applies
            return real(*a)
        w.search = spy
    with served(proxied) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        pb_grpc.SannyStub(ch).Search(pb.SearchRequest(queries=matrix(data(2, seed=3)), k=3), timeout=5)
    assert len(seen) == len(proxied.workers)
    # the client's 5 s, counting down (gRPC rounds the timeout it sends up: seen 5.009 once)
    assert all(d is not None and 0 < d <= 5.05 for d in seen), seen
