"""Insert of a present key -> ALREADY_EXISTS, and the whole batch is rejected."""
from __future__ import annotations

import grpc

from sanny.v1 import sanny_pb2 as pb

from service_fixtures import data, index, matrix, port, rpc_error, stub  # noqa: F401


def test_duplicate_insert_is_already_exists(index, stub):
    stub.Insert(pb.InsertRequest(keys=["a", "b"], vectors=matrix(data(2))), timeout=10)
    err = rpc_error(stub.Insert, pb.InsertRequest(keys=["c", "b"], vectors=matrix(data(2, seed=1))))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "'b'" in err.details()
    assert index.exists(["a", "b", "c"]).tolist() == [True, True, False]
    # upsert is the way to replace
    assert stub.Upsert(pb.UpsertRequest(keys=["c", "b"], vectors=matrix(data(2, seed=1))), timeout=10).count == 2
