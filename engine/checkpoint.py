"""Automatic checkpoints: the WAL is cut by a checkpoint once it holds ``wal_bytes`` bytes or
``records`` records, or ``seconds`` after the last checkpoint if anything was written since.

Replay time on open is bounded by the records since the last checkpoint, and a checkpoint holds
off writes only (``Durable.save``): searches go on. One background thread per index; a write
only sets an event when a bound is crossed, the thread does the work.

While a replica of a grid cell is down a checkpoint cannot name a save of it, so the checkpoint
is *deferred* (nothing is written; the WAL keeps every write) and retried every
``retry_seconds`` until the cell is whole again.
"""
from __future__ import annotations

import logging
import threading
import time

from sanny.workers.errors import WorkerUnavailable

log = logging.getLogger(__name__)


class AutoCheckpoint:
    def __init__(self, index, wal_bytes: int = 64 << 20, seconds: float = 300.0, records: int = 1_000,
                 retry_seconds: float = 5.0):
        if wal_bytes <= 0 or seconds <= 0 or records <= 0 or retry_seconds <= 0:
            raise ValueError("checkpoint bounds must be positive")
        self.index, self.wal_bytes, self.seconds, self.records = index, int(wal_bytes), float(seconds), int(records)
        self.retry_seconds = float(retry_seconds)
        self.count = 0       # checkpoints taken
        self.failures = 0
        self.deferrals = 0   # checkpoints put off while a replica was down
        self.taken = threading.Event()     # set after each checkpoint (tests wait on it)
        self.deferred = threading.Event()  # set after each deferral
        self._due, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sanny-checkpoint", daemon=True)
        self._thread.start()

    def note_write(self) -> None:
        """Called after each applied write: wake the thread once a size bound is crossed."""
        ix = self.index
        if ix.wal.size >= self.wal_bytes or len(ix.journal) >= self.records:
            self._due.set()

    def _loop(self) -> None:
        last, retry = time.monotonic(), False
        while not self._stop.is_set():
            if retry:  # a deferred checkpoint: due again after retry_seconds, whatever is written
                self._stop.wait(self.retry_seconds)
            else:
                self._due.wait(max(0.0, last + self.seconds - time.monotonic()))
            if self._stop.is_set():
                return
            self._due.clear()
            streak, retry = retry, False
            if self.index._dirty:
                try:
                    self.index.save()
                    self.count += 1
                    self.taken.set()
                except WorkerUnavailable as e:  # a degraded grid: nothing was written
                    if not streak:  # once per outage, not every retry
                        log.warning("checkpoint deferred (the WAL keeps every write): %s", e)
                    self.deferrals += 1
                    self.deferred.set()
                    retry = True
                except Exception as e:  # noqa: BLE001 - the WAL still holds everything; retried later
                    self.failures += 1
                    log.error("automatic checkpoint failed (the WAL keeps every write): %s", e)
            last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self._due.set()
        self._thread.join()
