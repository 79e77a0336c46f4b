"""Fan-out: one call per worker, in parallel threads when any worker is remote.

Each call runs in a copy of the caller's context, so a caller's deadline
(``sanny.workers.deadline``) bounds the worker calls made in the pool's threads too.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

from sanny.workers import LocalWorker
from sanny.workers.errors import DeadlineExceeded, WorkerUnavailable

log = logging.getLogger(__name__)


def in_process(worker) -> bool:
    """True for workers that run here (``LocalWorker``, or a grid column made only of them)."""
    return isinstance(worker, LocalWorker) or bool(getattr(worker, "in_process", False))


class FanOut:
    def __init__(self, threads: int | None = None) -> None:
        """``threads``: pool size (default: the number of workers of the first parallel call)."""
        self._pool: ThreadPoolExecutor | None = None
        self._threads = threads

    def each(self, workers: list, fn) -> list:
        """``[fn(worker, i) for each worker]``; in-process workers are called in turn (they
        parallelise inside, and NGT holds the GIL), remote ones at once."""
        if len(workers) <= 1 or all(in_process(w) for w in workers):
            return [fn(w, i) for i, w in enumerate(workers)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._threads or len(workers), thread_name_prefix="sanny-fanout")
        futs = [self._pool.submit(contextvars.copy_context().run, fn, w, i) for i, w in enumerate(workers)]
        return [f.result() for f in futs]

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait)
            self._pool = None


MISSED = object()  # what a ``tolerant`` call returns for a worker that missed the write


def tolerant(fn):
    """A write's call to one worker: WAL + store are the truth; a down worker catches up later."""

    def call(w, i):
        try:
            return fn(w, i)
        except (WorkerUnavailable, DeadlineExceeded) as e:
            log.warning("worker %d missed a write (%s); it catches up before it serves again", i, e)
            return MISSED
    return call


def lock_for(workers: list, lock):
    """``lock`` (the index's state lock) for calls to ``workers`` when they run in process (their
    inner indexes are not safe to read during a write), else none: no remote call is made under
    it, since a hung worker would then hold up every search."""
    return lock if all(in_process(w) for w in workers) else contextlib.nullcontext()
