"""Top-k and partial-distance kernels shared by the inner indexes and the coordinator's re-rank,
and ``single_threaded``: the thread-pool guard of the single-query and small-batch paths."""
from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np

SMALL_BATCH = 4  # up to this many queries per call: no thread pools (OpenMP, BLAS, NGT batch_search)

_blas = None
_blas_lock = threading.Lock()
_depth = threading.local()  # inside a single_threaded block on this thread


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries. The scan costs ~50 us, so it
    is redone only when modules were imported since (an import can load another BLAS)."""
    global _blas
    seen = len(sys.modules)
    if _blas is None or _blas[0] != seen:
        with _blas_lock:
            from threadpoolctl import ThreadpoolController

            _blas = (seen, [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"])
    return _blas[1]


@contextlib.contextmanager
def single_threaded(m: int = 1):
    """For ``m <= SMALL_BATCH`` queries: faiss' OpenMP and every BLAS at one thread for the
    duration, restored after. A pool wakes for every small call and stalls whenever a core is
    busy (issue 12: p50 0.43 -> 12 ms beside a busy process); one query gains nothing from it.
    Larger batches run unchanged. The BLAS setting is process-wide: callers hold the index lock."""
    if m > SMALL_BATCH or getattr(_depth, "n", 0):  # nested: the outer guard already holds
        yield
        return
    import faiss

    omp = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    blas = [(c, c.num_threads) for c in _blas_controllers()]
    for c, n in blas:
        if n != 1:
            c.set_num_threads(1)
    _depth.n = 1
    try:
        yield
    finally:
        _depth.n = 0
        for c, n in blas:
            if n != 1:
                c.set_num_threads(n)
        faiss.omp_set_num_threads(omp)


def topk_rows(d: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise smallest ``T`` of ``d[m, n]``, sorted; pads with (-1, inf) when n < T."""
    m, n = d.shape
    ids = np.full((m, T), -1, np.int64)
    out = np.full((m, T), np.inf, np.float32)
    t = min(T, n)
    if t == 0:
        return ids, out
    part = np.argpartition(d, t - 1, axis=1)[:, :t] if t < n else np.tile(np.arange(n), (m, 1))
    pd = np.take_along_axis(d, part, axis=1)
    order = np.argsort(pd, axis=1, kind="stable")
    ids[:, :t] = np.take_along_axis(part, order, axis=1)
    out[:, :t] = np.take_along_axis(pd, order, axis=1)
    bad = ~np.isfinite(out)
    ids[bad] = -1
    return ids, out


def partial(metric: str, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Partial distances of ``q[m, w]`` to gathered ``x[m, C, w]`` -> ``[m, C]`` (L2 from
    differences: no float32 cancellation on large norms)."""
    if metric == "ip":
        return -np.matmul(x, q[:, :, None])[:, :, 0]
    diff = x - q[:, None, :]
    return np.einsum("mcw,mcw->mc", diff, diff)
