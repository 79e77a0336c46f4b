"""``StateLock``: the index's state lock, a re-entrant lock that knows whether the calling
thread holds it (a search started from inside a write or a save runs at once instead of
joining a batch that would wait for the lock this thread holds)."""
from __future__ import annotations

import threading


class StateLock:
    """``threading.RLock`` plus :meth:`held`, from a per-thread depth the holder keeps."""

    def __init__(self):
        self._lock = threading.RLock()
        self._mine = threading.local()  # .depth: how many times this thread holds it

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._mine.depth = self.depth() + 1
        return got

    def release(self) -> None:
        self._lock.release()  # RuntimeError when this thread does not hold it: depth unchanged
        self._mine.depth -= 1

    def depth(self) -> int:
        return getattr(self._mine, "depth", 0)

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self.depth() > 0

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()
