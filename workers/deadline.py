"""Caller deadlines for worker calls: a context variable the coordinator's fan-out threads
inherit (``Index`` runs each worker call in a copy of the caller's context), read by the
remote transports to bound (and cancel) every call they make."""
from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar

_END: ContextVar[float | None] = ContextVar("sanny_worker_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None):
    """Bound every worker call made inside the block to ``seconds`` from now (None: no bound).
    Nested blocks keep the earlier deadline."""
    if seconds is None:
        yield
        return
    end = time.monotonic() + float(seconds)
    outer = _END.get()
    token = _END.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _END.reset(token)


def remaining() -> float | None:
    """Seconds left before the caller's deadline (may be <= 0), None when there is none."""
    end = _END.get()
    return None if end is None else end - time.monotonic()


def end() -> float | None:
    """The caller's deadline as a ``time.monotonic()`` instant, None when there is none."""
    return _END.get()


@contextlib.contextmanager
def until(instant: float | None):
    """Bound worker calls by the ``time.monotonic()`` instant (None: no bound), *replacing* the
    caller's deadline: work done on behalf of several callers lives as long as the latest."""
    token = _END.set(instant)
    try:
        yield
    finally:
        _END.reset(token)
