"""Exception -> status code mapping (service side) and back to engine exceptions (client side)."""
from __future__ import annotations

import grpc
import pytest

from sanny.engine import AlreadyExists, IndexCorrupt, InvalidArgument, NotFound, WorkerUnavailable
from sanny.workers.errors import DeadlineExceeded
from sanny.engine.rpc.status import Abort, RpcFailure, from_rpc_error, to_status

C = grpc.StatusCode


RayActorError = type("RayActorError", (Exception,), {"__module__": "ray.exceptions"})


@pytest.mark.parametrize("exc, code", [
    (InvalidArgument("k", "must be >= 1"), C.INVALID_ARGUMENT),
    (NotFound("key 'x' not found"), C.NOT_FOUND),
    (AlreadyExists("key 'x' already exists"), C.ALREADY_EXISTS),
    (IndexCorrupt("damaged"), C.FAILED_PRECONDITION),
    (WorkerUnavailable("down"), C.UNAVAILABLE),
    (DeadlineExceeded("late"), C.DEADLINE_EXCEEDED),
    (ConnectionRefusedError("refused"), C.UNAVAILABLE),
    (TimeoutError("slow"), C.UNAVAILABLE),
    (RpcFailure(C.UNAVAILABLE, "boom"), C.UNAVAILABLE),
    (RpcFailure(C.INTERNAL, "boom"), C.UNAVAILABLE),
    (RpcFailure(C.DEADLINE_EXCEEDED, "boom"), C.DEADLINE_EXCEEDED),
    (RayActorError("actor died"), C.UNAVAILABLE),
    (Abort(C.CANCELLED, "gone"), C.CANCELLED),
    (ZeroDivisionError("bug"), C.INTERNAL),
])
def test_to_status(exc, code):
    assert to_status(exc)[0] == code


def test_engine_argument_names_become_proto_field_names():
    assert to_status(InvalidArgument("T", "must be >= k (5), got 2"))[1] == "candidates: must be >= k (5), got 2"
    assert to_status(InvalidArgument("queries", "empty batch"))[1] == "queries: empty batch"


@pytest.mark.parametrize("code, cls", [(C.INVALID_ARGUMENT, InvalidArgument), (C.NOT_FOUND, NotFound),
                                       (C.ALREADY_EXISTS, AlreadyExists), (C.FAILED_PRECONDITION, IndexCorrupt)])
def test_client_side_mapping(code, cls):
    e = from_rpc_error(RpcFailure(code, "keys: empty batch"))
    assert isinstance(e, cls)
    if cls is InvalidArgument:
        assert e.field == "keys" and str(e) == "keys: empty batch"


def test_transport_errors_stay_rpc_errors():
    e = RpcFailure(C.UNAVAILABLE, "boom")
    assert from_rpc_error(e) is e
