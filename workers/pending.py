"""A worker call in flight, for the transports that can start a call without waiting for it
(``RemoteWorker._begin``): its long calls are then supervised (``RemoteWorker._supervise``)."""
from __future__ import annotations

import abc


class Pending(abc.ABC):
    """A call in flight (``RemoteWorker._begin``)."""

    @abc.abstractmethod
    def done(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True once the call has finished (answered or failed)."""

    @abc.abstractmethod
    def result(self):
        """The answer of a finished call, or its error as ``_invoke`` raises it."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Cancel the call (a host may still apply it: writes are idempotent)."""
