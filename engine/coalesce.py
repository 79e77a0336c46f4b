"""Natural batching of concurrent searches.

Searches take the index's state lock one at a time, so concurrent callers (a server's handler
threads) would queue for it anyway. Here they queue as *jobs* instead: whoever finds no batch
running takes every waiting job with the same search options and runs them as one batch. There
is no timer: a lone search runs at once, and the searches that arrive while a batch runs form
the next one (the same idea as the WAL's group commit). A batch pays the per-call costs (Python,
the fan-out, the workers' thread pools) once, and every stage of a search is row-independent, so
each caller gets the rows it would have got alone.

A batch runs under the latest of its callers' deadlines; a caller whose own deadline passes
while it waits gets ``DeadlineExceeded`` (its rows are dropped if its batch is already running).
"""
from __future__ import annotations

import threading
import time

import numpy as np

from sanny.workers.deadline import end as deadline_end
from sanny.workers.deadline import until
from sanny.workers.errors import DeadlineExceeded


class _Job:
    __slots__ = ("key", "q", "fn", "end", "done", "out", "error")

    def __init__(self, key, q: np.ndarray, fn):
        self.key, self.q, self.fn, self.end = key, q, fn, deadline_end()
        self.done, self.out, self.error = False, None, None

    def wait_time(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - time.monotonic())


class Coalescer:
    """Runs ``fn(queries)`` for concurrent callers with equal ``key`` as one call.

    ``fn`` returns a tuple of arrays with one row per query; ``key`` must capture everything
    ``fn`` depends on besides the queries. ``max_rows`` bounds a batch (a caller with more rows
    still runs, alone)."""

    def __init__(self, max_rows: int = 256):
        self.max_rows = int(max_rows)
        self.batches = 0        # batches run
        self.joined = 0         # searches that ran in a batch with others
        lock = threading.Lock()
        self._cv = threading.Condition(lock)        # a batch finished
        self._changed = threading.Condition(lock)   # a job queued or a batch taken (``wait_until``)
        self._pending: list[_Job] = []
        self._busy = False

    def run(self, key, q: np.ndarray, fn):
        job = _Job(key, q, fn)
        with self._cv:
            self._pending.append(job)
            self._changed.notify_all()
        while True:
            with self._cv:
                while self._busy and not job.done:
                    if not self._cv.wait(job.wait_time()) and not job.done:
                        self._give_up(job)
                if job.done:
                    break
                self._busy = True
                batch = self._take()
                self._changed.notify_all()
            self._run(batch)
        if job.error is not None:
            raise job.error
        return job.out

    def wait_until(self, state, timeout: float | None = None) -> bool:
        """Block until ``state(waiting searches, batch running)`` holds (tests wait on states)."""
        with self._changed:
            return self._changed.wait_for(lambda: state(len(self._pending), self._busy), timeout)

    def _give_up(self, job: _Job) -> None:
        """The caller's deadline passed while it waited (called holding the condition)."""
        if job in self._pending:
            self._pending.remove(job)
        raise DeadlineExceeded("deadline passed while waiting for a running search batch")

    def _take(self) -> list[_Job]:
        """The oldest job and every later one with its key, up to ``max_rows`` rows."""
        first = self._pending[0]
        batch, rest, rows = [], [], 0
        for j in self._pending:
            if j.key == first.key and (not batch or rows + len(j.q) <= self.max_rows):
                batch.append(j)
                rows += len(j.q)
            else:
                rest.append(j)
        self._pending = rest
        return batch

    def _run(self, batch: list[_Job]) -> None:
        ends = [j.end for j in batch]
        try:
            q = batch[0].q if len(batch) == 1 else np.concatenate([j.q for j in batch])
            with until(None if None in ends else max(ends)):
                out = batch[0].fn(q)
            at = 0
            for j in batch:
                j.out = tuple(a[at: at + len(j.q)] for a in out)
                at += len(j.q)
        except BaseException as e:  # noqa: BLE001 - every caller in the batch gets the error
            for j in batch:
                j.error = e
        finally:
            with self._cv:
                for j in batch:
                    j.done = True
                self.batches += 1
                self.joined += len(batch) if len(batch) > 1 else 0
                self._busy = False
                self._cv.notify_all()
