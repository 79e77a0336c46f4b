"""Ordering of concurrent writes, so that searches never wait for a write's fsync.

A write is checked and given the next WAL seq under the index's write lock, its record written
(no fsync) still under that lock, so records reach the file in seq order; then the lock is
released and the writer waits for its fsync together with every other writer (group commit);
then, in seq order, each applies its record to the store and workers under the short state
lock that searches take. A write whose fsync failed (its bytes cut from the log) takes its turn
too and skips, so later writes are not held up; the log then has a gap in its seq numbers,
which replay and catch-up allow.

Until a write is applied its keys are *pending*: checks of later writes (insert: key absent,
update/remove: key present) see them through :meth:`Sequencer.present`. (So a write checked
against a pending write whose fsync then fails was checked against state that never came to be;
it is still a complete write of its own, e.g. an update then lands as an insert.)
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable

from .wal import PUT


class Sequencer:
    def __init__(self, seq: int):
        self._cond = threading.Condition()
        self.next = seq + 1  # the seq the next write gets
        self.done = seq      # every seq up to this one is applied or skipped
        self._pending: dict[str, tuple[int, int]] = {}  # key -> (seq, op) of its newest pending write

    def present(self, key: str, stored: Callable[[str], bool]) -> bool:
        """Whether ``key`` exists once every pending write is applied (``stored``: in the store now)."""
        with self._cond:
            p = self._pending.get(key)
        if p is not None:
            return p[1] == PUT
        return stored(key)

    def claim(self, seq: int, keys: list[str], op: int) -> None:
        """Record that ``seq`` (== ``self.next``) is written to the log (caller holds the write lock)."""
        with self._cond:
            assert seq == self.next, (seq, self.next)
            self.next = seq + 1
            for k in keys:
                self._pending[k] = (seq, op)

    @contextlib.contextmanager
    def turn(self, seq: int, keys: list[str]):
        """Wait until every earlier seq is applied or skipped; on leaving, ``seq`` counts as done
        and its keys are no longer pending (the store has them, or the write failed)."""
        with self._cond:
            self._cond.wait_for(lambda: self.done >= seq - 1)
        try:
            yield
        finally:
            with self._cond:
                for k in keys:
                    if self._pending.get(k, (None,))[0] == seq:
                        del self._pending[k]
                self.done = seq
                self._cond.notify_all()

    def drain(self) -> None:
        """Wait until every claimed write is applied or skipped (caller holds the write lock)."""
        with self._cond:
            self._cond.wait_for(lambda: self.done >= self.next - 1)
