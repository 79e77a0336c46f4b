"""Leaving run_server stops gracefully: a call in flight finishes with its answer, later calls
are refused, and health went NOT_SERVING first (the in-flight search is held until then)."""
from __future__ import annotations

import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2

from sanny.engine.api import server as server_mod
from sanny.engine.api.client import Client
from sanny.engine.api.service import SERVICE_NAME

from service_fixtures import data, in_thread, proxied, served  # noqa: F401 - proxied: the fixture

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_in_flight_call_finishes(proxied, monkeypatch):
    states = []
    release = threading.Event()
    real = server_mod.health.HealthServicer.set

    def spy(self, service, status):
        states.append((service, status))
        real(self, service, status)
        if status == NOT_SERVING:  # shutdown has begun: only now let the held search finish
            release.set()
    monkeypatch.setattr(server_mod.health.HealthServicer, "set", spy)

    with served(proxied, grace=30.0) as port:
        c = Client(f"127.0.0.1:{port}", timeout=60)
        c.wait_ready()
        for w in proxied.workers:
            w.hold = release
        join = in_thread(c.search, data(2, seed=1), 3)
        assert proxied.workers[0].entered.wait(30)  # the search is now in flight
    # run_server returned: the server waited for the search
    keys_, err = join()
    assert err is None and keys_[0].shape == (2, 3)
    assert {("", NOT_SERVING), (SERVICE_NAME, NOT_SERVING)} <= set(states)
    with pytest.raises(grpc.RpcError) as e:
        c.info(timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    c.close()
