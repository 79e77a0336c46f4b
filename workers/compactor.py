"""``Compactor``: one background thread per worker that runs its segmented inner indexes' merge
policy (``segments.plan``), so an index under churn gets its speed and memory back without a
maintenance call.

Woken by every write; size-triggered steps (seal, merge ratio, deleted share) run at once, the
idle step (everything into one graph) once no write came for ``idle_seconds``. Builds use
``compact_threads`` (one by default: the other core stays with the searches) at the thread's
own nice value ``compact_nice``, so searches and writes win the CPU whenever they want it. ``settle`` waits
until nothing is left to do, treating the index as idle: what ``Index.wait_compaction`` and the
churn benchmark use, never needed for correctness.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from .base import InnerParams
from .heap import give_back
from .segments import SegmentedInner

log = logging.getLogger(__name__)


class Compactor:
    def __init__(self, inners: list, p: InnerParams):
        self.inners = [i for i in inners if isinstance(i, SegmentedInner)]
        self.p = p
        self._cv = threading.Condition()
        self._last_write = time.monotonic()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._settling = 0   # callers in settle(): act as idle
        self._quiet = 0      # times the thread found nothing to do while idle
        self._gen = 0        # bumped by every write and settle: a wake-up never gets lost
        self.running = ""    # the reason of the step in progress ("" when none)
        self.steps = 0
        self.cpu_seconds = 0.0
        self.error = ""

    @property
    def enabled(self) -> bool:
        return bool(self.inners) and self.p.compact

    def note_write(self) -> None:
        if not self.enabled:
            return
        with self._cv:
            self._last_write = time.monotonic()
            self._gen += 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._loop, name="sanny-compactor", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def wake(self) -> None:
        """Plan again now (after a foreground build, which the thread planned nothing beside)."""
        with self._cv:
            self._gen += 1
            self._cv.notify_all()

    def _next(self, idle: bool):
        for inner in self.inners:
            step = inner.plan(idle)
            if step is not None:
                return inner, step
        return None

    def _loop(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # Linux: a thread's own nice value
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.p.compact_nice)
        while True:
            with self._cv:
                if self._closed:
                    return
                since = time.monotonic() - self._last_write
                idle = self._settling > 0 or since >= self.p.idle_seconds
                gen = self._gen
            work = self._next(idle)
            if work is None:
                with self._cv:
                    if idle:
                        self._quiet += 1
                        self._cv.notify_all()
                    if self._closed:
                        return
                    if self._gen == gen:  # no write or settle came since the check: sleep
                        self._cv.wait(None if idle else self.p.idle_seconds - since)
                continue
            self._run(*work)

    def _run(self, inner: SegmentedInner, step) -> None:
        self.running = step.reason
        t0 = time.thread_time()
        try:
            inner.run(step, self.p.compact_threads)
            self.error = ""
        except Exception as e:  # noqa: BLE001 - a failed merge leaves the old segments serving
            self.error = f"{type(e).__name__}: {e}"
            log.warning("compaction (%s) failed, segments left as they were: %s", step.reason, self.error)
            with self._cv:
                self._cv.wait(self.p.idle_seconds)  # no busy retry
        finally:
            give_back()
            self.cpu_seconds += time.thread_time() - t0
            self.steps += 1
            self.running = ""

    def settle(self, timeout: float | None = None) -> bool:
        """Block until no compaction step is left even for an idle index; False on ``timeout``.
        Without a background thread (``compact=False``, or nothing written yet) the steps run here."""
        if self._thread is None:
            while (work := self._next(True)) is not None:
                self._run(*work)
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._settling += 1
            self._gen += 1
            seen = self._quiet
            self._cv.notify_all()
            try:
                while self._quiet == seen and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cv.wait(left)
                return True
            finally:
                self._settling -= 1

    def state(self) -> dict:
        running = self.running or next((i.merging for i in self.inners if i.merging), "")
        # planned as idle: a step that waits only for ``idle_seconds`` to pass is pending too (a
        # remote settle polls this state: "idle" must mean nothing is left, not "not yet")
        pending = running or any(i.plan(True) is not None for i in self.inners)
        if not running and not self.enabled:
            pending = False  # nothing will run it on its own: build() / sanny compact does
        return {"state": running or ("pending" if pending else "idle"), "steps": self.steps,
                "cpu_seconds": round(self.cpu_seconds, 3), "background": self.enabled, "error": self.error}

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
