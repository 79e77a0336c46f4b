"""A request (or response) over the size limit -> RESOURCE_EXHAUSTED; the server and the same
channel keep working."""
from __future__ import annotations

import grpc
import numpy as np

from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc

from service_fixtures import data, index, keys, matrix, rpc_error, served  # noqa: F401

LIMIT = 64 * 1024  # bytes; 8-d float32 rows are 32 bytes, so ~2000 rows


def test_oversized_request_then_normal_request(index):
    with served(index, max_message_bytes=LIMIT) as port, \
            grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", -1)]) as ch:
        stub = pb_grpc.SannyStub(ch)
        big = data(4000)
        err = rpc_error(stub.Insert, pb.InsertRequest(keys=keys(4000), vectors=matrix(big)))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(index) == 0
        assert stub.Insert(pb.InsertRequest(keys=keys(1500), vectors=matrix(big[:1500])), timeout=10).count == 1500
        assert stub.Insert(pb.InsertRequest(keys=keys(1000, "j"), vectors=matrix(big[:1000])), timeout=10).count == 1000
        # a response over the limit fails the same way; smaller ones still work
        err = rpc_error(stub.GetVector, pb.GetVectorRequest(keys=keys(1500) + keys(1000, "j")))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        r = stub.GetVector(pb.GetVectorRequest(keys=keys(10)), timeout=10)
        np.testing.assert_array_equal(np.array(r.vectors.values).reshape(10, -1), big[:10])
