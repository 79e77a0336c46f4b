"""Exceptions -> gRPC status codes (service side) and back (client side).

    InvalidArgument     INVALID_ARGUMENT    message starts with the field ("queries: ...")
    NotFound            NOT_FOUND
    AlreadyExists       ALREADY_EXISTS
    IndexCorrupt        FAILED_PRECONDITION
    WorkerUnavailable   UNAVAILABLE         also ConnectionError, TimeoutError, a failed worker
                                            RPC and Ray actor/task errors
    StorageFull         RESOURCE_EXHAUSTED  disk full: the write was rolled back, nothing applied
    WriteFailed         UNAVAILABLE         other I/O error on the WAL: rolled back, nothing applied
    DeadlineExceeded    DEADLINE_EXCEEDED   the client's deadline passed during worker calls
    Abort               its own code        service-level (deadline, cancellation)
    anything else       INTERNAL            logged with its traceback
"""
from __future__ import annotations

import logging

import grpc

from sanny.workers.errors import (AlreadyExists, DeadlineExceeded, IndexCorrupt, InvalidArgument, NotFound,
                                  StorageFull, WorkerUnavailable, WriteFailed)

log = logging.getLogger(__name__)

from ..limits import ResourceExhausted  # noqa: E402 - request limits (engine.limits)

# Engine argument names that differ from the sanny.v1 field names.
PROTO_FIELDS = {"T": "candidates", "T_max": "max_candidates"}

_BY_TYPE = [
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (IndexCorrupt, grpc.StatusCode.FAILED_PRECONDITION),
    (StorageFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (WriteFailed, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (WorkerUnavailable, grpc.StatusCode.UNAVAILABLE),
    (ConnectionError, grpc.StatusCode.UNAVAILABLE),
    (TimeoutError, grpc.StatusCode.UNAVAILABLE),
]


class Abort(Exception):
    """Raised inside a handler to end the call with ``code``."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


class RpcFailure(grpc.RpcError):
    """A failed call as a value with grpc's ``code()`` / ``details()`` (grpc's own errors come
    only from real calls): the client's :class:`ServiceError` base, and the tests' stand-in."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


def _is_ray_error(e: BaseException) -> bool:
    return type(e).__module__.split(".")[0] == "ray"


def to_status(e: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for ``e``."""
    if isinstance(e, Abort):
        return e.code, str(e)
    if isinstance(e, InvalidArgument):
        field = PROTO_FIELDS.get(e.field, e.field)
        return grpc.StatusCode.INVALID_ARGUMENT, field + str(e)[len(e.field):]
    for cls, code in _BY_TYPE:
        if isinstance(e, cls):
            return code, str(e)
    if isinstance(e, grpc.RpcError):  # the servicer makes RPCs only to workers
        code = e.code() if callable(getattr(e, "code", None)) else None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return code, f"a worker call exceeded the deadline: {e.details()}"
        return grpc.StatusCode.UNAVAILABLE, f"worker unavailable: {code}: {e.details() if code else e}"
    if _is_ray_error(e):
        return grpc.StatusCode.UNAVAILABLE, f"worker unavailable: {type(e).__name__}: {e}"
    log.error("internal error", exc_info=e)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}"


def abort(context: grpc.ServicerContext, e: BaseException):
    """End the call with the status for ``e`` (raises, as ``context.abort`` does)."""
    code, message = to_status(e)
    context.abort(code, message)


# -- client side --------------------------------------------------------------------------

def from_rpc_error(e: grpc.RpcError) -> BaseException:
    """The engine exception for a failed call, so code written against ``Index`` catches the
    same types from ``Client``; transport-level failures (UNAVAILABLE, DEADLINE_EXCEEDED,
    UNAUTHENTICATED, RESOURCE_EXHAUSTED, ...) stay ``grpc.RpcError``."""
    code, details = e.code(), e.details() or ""
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field, sep, message = details.partition(": ")
        return InvalidArgument(field, message) if sep else InvalidArgument("request", details)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return AlreadyExists(details)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return IndexCorrupt(details)
    return e

