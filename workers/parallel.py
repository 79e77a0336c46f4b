"""Run a single query's subspace searches at once on idle cores.

The libraries release the GIL while they search, so the ``S`` searches of one query (or a
small batch, which gets no thread pool of its own: ``kernels.single_threaded``) can overlap.
``run(calls)`` runs the first call on the caller's thread and offers the others to a small
persistent pool; the caller then takes back every call no pool thread has started yet, so a
pool thread that is slow to be scheduled never makes the caller wait for work it could do
itself.

The pool is used only when other processes leave at least two cores idle (``spare_cores``,
from ``/proc/stat`` minus this process' own CPU time, refreshed every ``WINDOW`` seconds):
beside busy neighbours a handed-off call can sit behind them for a scheduler slice (the stall
``single_threaded`` exists for), so the calls then run in turn as before. And only while it
pays (``_Gain``): a hand-off costs a thread wake-up or two, which on a virtual machine's idle
core can take longer than a 20-30 µs subspace search saves; the runs themselves tell which.
"""
from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable

from . import kernels

WINDOW = 0.2          # seconds between two readings of the machine's idle time
MIN_SPARE = 1.5       # cores other processes must leave idle (the caller's and a helper's)
EXPLORE = 32          # every EXPLORE-th run that could overlap does, so the hand-off cost stays known
ALPHA = 0.1           # weight of the newest run in the running estimates of ``_Gain``

_pool = None
_pool_lock = threading.Lock()


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Idle:
    """Cores other processes left idle over the last window (None: not known yet)."""

    def __init__(self, path: str = "/proc/stat"):
        self.path = path
        self.lock = threading.Lock()
        self.at = 0.0
        self.prev = None     # (wall, busy seconds of the machine, CPU seconds of this process)
        self.spare = None
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _read(self):
        with open(self.path, "rb") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return time.monotonic(), (sum(v[:8]) - idle) / self.hz, time.process_time()

    def get(self):
        now = time.monotonic()
        if now - self.at < WINDOW or not self.lock.acquire(blocking=False):
            return self.spare
        try:
            self.at = now
            cur = self._read()
            if self.prev is not None and cur[0] > self.prev[0]:
                wall = cur[0] - self.prev[0]
                others = max(0.0, (cur[1] - self.prev[1]) - (cur[2] - self.prev[2])) / wall
                self.spare = cores() - others
            self.prev = cur
        except (OSError, ValueError, IndexError):
            self.spare = None  # no /proc/stat: never hand work off
        finally:
            self.lock.release()
        return self.spare


_idle = _Idle()


def spare_cores() -> float | None:
    """Cores not used by other processes over the last ``WINDOW`` (None until known)."""
    return _idle.get()


def worth_it(n_calls: int) -> bool:
    """Whether ``n_calls`` small calls should overlap now."""
    if n_calls < 2 or cores() < 2:
        return False
    spare = _idle.get()
    return spare is not None and spare >= MIN_SPARE


class _Gain:
    """Whether overlapping pays, learnt from the runs: ``saved`` is what overlap could take off a
    run (the time of every call but the longest), ``cost`` what an overlapped run took beyond its
    longest call (the hand-off). Running averages in seconds; races between threads only blur them."""

    def __init__(self):
        self.saved = self.cost = None
        self.runs = 0

    def pays(self) -> bool:
        self.runs += 1
        if self.cost is None or self.saved is None or self.runs % EXPLORE == 0:
            return True  # learn (again) what a hand-off costs
        return self.saved > self.cost

    def note(self, times: list, wall: float, overlapped: bool) -> None:
        longest = max(times)
        self.saved = _avg(self.saved, sum(times) - longest)
        if overlapped:
            self.cost = _avg(self.cost, max(0.0, wall - longest))


def _avg(old, new: float) -> float:
    return new if old is None else old + ALPHA * (new - old)


_gain = _Gain()


class _Call:
    __slots__ = ("fn", "claim", "done", "out", "error", "seconds")

    def __init__(self, fn):
        self.fn = fn
        self.claim = threading.Lock()  # whoever acquires it runs the call
        self.done = threading.Event()
        self.out = self.error = None
        self.seconds = 0.0

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.out = self.fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            self.error = e
        self.seconds = time.perf_counter() - t0
        self.done.set()


class Pool:
    """``threads`` daemon threads taking offered calls; each runs them single-threaded."""

    def __init__(self, threads: int):
        self._cv = threading.Condition()
        self._offered: list[_Call] = []
        self.threads = [threading.Thread(target=self._loop, name=f"sanny-subspace-{i}", daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def _loop(self) -> None:
        # OpenMP's thread count is per thread: these threads only ever run small calls (faiss'
        # pool would stall them as it would the caller). BLAS' count is the process' (the
        # caller's ``single_threaded`` block covers the calls it hands over)
        get_set = kernels._omp or kernels._faiss_omp()
        get_set[1](1)
        while True:
            with self._cv:
                while not self._offered:
                    self._cv.wait()
                call = self._offered.pop()
            if call.claim.acquire(blocking=False):
                call.run()

    def run(self, fns: list[Callable]) -> list:
        """``[f() for f in fns]``, overlapped: the caller runs ``fns[0]`` and every call not
        yet started by a pool thread; errors are raised as the sequential loop would."""
        return [c.out for c in self.calls(fns)]

    def calls(self, fns: list[Callable]) -> list[_Call]:
        """``run``'s finished calls (results and each one's seconds)."""
        calls = [_Call(fns[0])] + [_Call(_in_context(f)) for f in fns[1:]]  # the caller's deadline
        rest = calls[1:]
        with self._cv:
            self._offered.extend(reversed(rest))
            self._cv.notify(len(rest))
        calls[0].claim.acquire()
        calls[0].run()
        for c in rest:
            if c.claim.acquire(blocking=False):  # not started: ours
                c.run()
        with self._cv:  # drop offers we ran ourselves
            self._offered = [c for c in self._offered if c not in rest]
        for c in calls:
            c.done.wait()
            if c.error is not None:
                raise c.error
        return calls


def _in_context(fn):
    ctx = contextvars.copy_context()
    return lambda: ctx.run(fn)


def pool() -> Pool:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = Pool(max(1, min(cores(), 8) - 1))
    return _pool


def run(fns: list[Callable]) -> list:
    """``[f() for f in fns]``: overlapped on the pool when ``worth_it`` and it pays, else in turn."""
    if not worth_it(len(fns)):
        return [f() for f in fns]
    t0 = time.perf_counter()
    if _gain.pays():
        calls = pool().calls(fns)
        _gain.note([c.seconds for c in calls], time.perf_counter() - t0, True)
        return [c.out for c in calls]
    out, times = [], []
    for f in fns:
        out.append(f())
        times.append(time.perf_counter() - t0 - sum(times))
    _gain.note(times, 0.0, False)
    return out
