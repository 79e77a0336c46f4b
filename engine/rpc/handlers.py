"""What every gRPC handler of the coordinator does around its body (``sanny.v1`` and the Vald
facade alike): check the client's deadline and cancellation, carry that deadline to the worker
calls, and turn any error into its status code (``status``)."""
from __future__ import annotations

import functools

import grpc

from sanny.workers.deadline import deadline as worker_deadline

from . import status
from .status import Abort


def check_alive(context: grpc.ServicerContext) -> None:
    """Abort if the client's deadline has passed or the call was cancelled."""
    left = context.time_remaining()
    if left is not None and left <= 0:
        raise Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the request finished")
    if not context.is_active():
        raise Abort(grpc.StatusCode.CANCELLED, "call cancelled by the client")


def unary(fn):
    """Run a unary handler with the deadline checked first and errors mapped to status codes."""
    @functools.wraps(fn)
    def handler(self, request, context):
        try:
            check_alive(context)
            with worker_deadline(context.time_remaining()):
                return fn(self, request, context)
        except Exception as e:  # noqa: BLE001 - every error becomes a status
            status.abort(context, e)
    return handler
