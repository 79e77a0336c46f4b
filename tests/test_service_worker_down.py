"""A worker that fails -> UNAVAILABLE promptly (never a hang), IndexInfo marks it, health goes
NOT_SERVING; when it is back, search and health recover. (Fault-injecting proxy workers stand
in for the remote transports.)"""
from __future__ import annotations


import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc

from service_fixtures import data, matrix, proxied, rpc_error, served  # noqa: F401 - proxied: the fixture

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def wait_health(ch, want, timeout=60.0):
    """The first health state equal to ``want`` from the Watch stream (the last one seen if the
    stream ends or ``timeout`` passes first)."""
    got = None
    call = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=timeout)
    try:
        for reply in call:
            got = reply.status
            if got == want:
                break
    except grpc.RpcError:
        pass
    finally:
        call.cancel()
    return got


def test_worker_down_is_unavailable_then_recovers(proxied):
    with served(proxied, health_interval=0.1) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.SannyStub(ch)
        search = pb.SearchRequest(queries=matrix(data(2, seed=1)), k=3)
        assert wait_health(ch, SERVING) == SERVING
        proxied.workers[1].down = True
        err = rpc_error(stub.Search, search, timeout=30)  # UNAVAILABLE, not DEADLINE_EXCEEDED: fast
        assert err.code() == grpc.StatusCode.UNAVAILABLE and "down" in err.details()
        info = stub.IndexInfo(pb.IndexInfoRequest(), timeout=5)
        assert [w.state for w in info.workers] == [pb.WORKER_STATE_SERVING, pb.WORKER_STATE_UNAVAILABLE]
        assert "down" in info.workers[1].error and info.workers[0].transport == "proxy"
        assert wait_health(ch, NOT_SERVING) == NOT_SERVING

        proxied.workers[1].down = False
        assert len(stub.Search(search, timeout=5).results) == 2
        assert wait_health(ch, SERVING) == SERVING
