"""With a token, every call needs 'authorization: Bearer <token>' (UNAUTHENTICATED otherwise,
streaming calls too); health stays open."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sanny.engine.api.client import Client
from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc

from service_fixtures import data, index, matrix, rpc_error, served  # noqa: F401

TOKEN = "s3cret-t0ken"


@pytest.fixture
def secured(index):
    with served(index, token=TOKEN) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield port, ch


@pytest.mark.parametrize("metadata", [None, (("authorization", "Bearer wrong"),),
                                      (("authorization", TOKEN),), (("authorization", "Basic " + TOKEN),)])
def test_missing_or_wrong_token_is_unauthenticated(secured, metadata):
    _, ch = secured
    stub = pb_grpc.SannyStub(ch)
    err = rpc_error(stub.IndexInfo, pb.IndexInfoRequest(), metadata=metadata)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = rpc_error(stub.StreamInsert, iter([pb.InsertRequest(keys=["a"], vectors=matrix(data(1)))]),
                    metadata=metadata)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        list(stub.StreamSearch(iter([pb.SearchRequest(queries=matrix(data(1)), k=1)]), metadata=metadata, timeout=10))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_right_token_works_and_health_is_open(secured, index):
    port, ch = secured
    stub = pb_grpc.SannyStub(ch)
    ok = (("authorization", f"Bearer {TOKEN}"),)
    assert stub.Insert(pb.InsertRequest(keys=["a"], vectors=matrix(data(1))), metadata=ok, timeout=10).count == 1
    r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert r.status == health_pb2.HealthCheckResponse.SERVING
    with Client(f"127.0.0.1:{port}", token=TOKEN, timeout=10) as c:
        assert c.exists(["a"]).tolist() == [True]
    with Client(f"127.0.0.1:{port}", timeout=10) as c, pytest.raises(grpc.RpcError) as e:
        c.info()
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
