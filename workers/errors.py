"""Exception types users catch. Each maps to one gRPC status in the service layer."""
from __future__ import annotations


class SannyError(Exception):
    """Base of every error Sanny raises on purpose."""


class InvalidArgument(SannyError, ValueError):
    """A request field is wrong (shape, dimension, NaN/Inf, k, T, empty batch...)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class NotFound(SannyError, KeyError):
    """A key that is not in the index."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "not found"


class AlreadyExists(SannyError):
    """Insert of a key that is already present (use upsert to replace)."""


class IndexCorrupt(SannyError):
    """An index directory that is missing, incomplete or damaged."""


class WriteFailed(SannyError):
    """A write could not be made durable (an I/O error on the write-ahead log). Nothing of it
    was kept: the log was rolled back and the index in memory is unchanged."""


class StorageFull(WriteFailed):
    """A write failed because the disk is full (ENOSPC / EDQUOT); retry once space is freed."""


class WorkerUnavailable(SannyError):
    """A subspace worker cannot be reached or failed (raised by remote worker transports)."""


class DeadlineExceeded(SannyError):
    """The caller's deadline (``sanny.workers.deadline.deadline``) passed before every worker
    answered; the outstanding worker calls were cancelled."""
