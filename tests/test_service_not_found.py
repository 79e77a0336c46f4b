"""Unknown keys -> NOT_FOUND naming the key, and nothing is changed."""
from __future__ import annotations

import grpc
import pytest

from sanny.v1 import sanny_pb2 as pb

from service_fixtures import data, index, matrix, port, rpc_error, stub  # noqa: F401

CASES = {
    "Update": pb.UpdateRequest(keys=["a", "ghost"], vectors=matrix(data(2, seed=3))),
    "Remove": pb.RemoveRequest(keys=["a", "ghost"]),
    "GetVector": pb.GetVectorRequest(keys=["ghost"]),
    "SearchByKey": pb.SearchByKeyRequest(keys=["ghost"], k=1),
}


@pytest.mark.parametrize("method", list(CASES))
def test_unknown_key_is_not_found(index, stub, method):
    stub.Insert(pb.InsertRequest(keys=["a", "b"], vectors=matrix(data(2))), timeout=10)
    seq = index.seq
    err = rpc_error(getattr(stub, method), CASES[method])
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "'ghost'" in err.details()
    assert index.seq == seq and index.exists(["a", "b"]).all()
