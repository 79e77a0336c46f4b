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


def _blas_threads() -> list:
    """``(get, set)`` thread-count functions of every loaded BLAS. OpenBLAS' own entry points
    are called directly through ctypes (~0.1 us each, where threadpoolctl's property and setter
    cost microseconds and only act from its one "controlling" thread); other BLAS go through
    threadpoolctl. The library scan costs ~50 us, so it is redone only when modules were
    imported since (an import can load another BLAS)."""
    global _blas
    seen = len(sys.modules)
    if _blas is None or _blas[0] != seen:
        with _blas_lock:
            from threadpoolctl import ThreadpoolController

            _blas = (seen, [_entry_points(c) for c in ThreadpoolController().lib_controllers
                            if c.user_api == "blas"])
    return _blas[1]


def _entry_points(c) -> tuple:
    if c.internal_api == "openblas":
        if getattr(c, "threading_layer", None) == "openmp":  # its pool is OpenMP's: per thread
            names = [("omp_get_max_threads", "omp_set_num_threads")]
        else:
            names = [(f"{p}openblas_get_num_threads{x}", f"{p}openblas_set_num_threads{x}")
                     for p in ("", "scipy_") for x in ("", "64_", "_64")]
        for get, put in names:
            fns = getattr(c.dynlib, get, None), getattr(c.dynlib, put, None)
            if None not in fns:
                return fns
    return (lambda: c.num_threads), c.set_num_threads


class _Guard:
    """The outermost guard of a thread: OpenMP and every BLAS at one thread, restored on exit."""

    __slots__ = ("omp", "blas")

    def __enter__(self):
        get, put = _omp or _faiss_omp()
        self.omp = get()
        put(1)
        self.blas = []
        for get, put in _blas_threads():
            n = get()
            if n != 1:
                put(1)
                self.blas.append((put, n))
        _depth.n = 1
        return self

    def __exit__(self, *exc):
        _depth.n = 0
        for put, n in self.blas:
            put(n)
        _omp[1](self.omp)


_omp = None  # faiss' OpenMP (get, set), bound on first use


def _faiss_omp() -> tuple:
    global _omp
    import faiss

    _omp = faiss.omp_get_max_threads, faiss.omp_set_num_threads
    return _omp


_PASS = contextlib.nullcontext()


def single_threaded(m: int = 1):
    """For ``m <= SMALL_BATCH`` queries: faiss' OpenMP and every BLAS at one thread for the
    duration, restored after. A pool wakes for every small call and stalls whenever a core is
    busy (measured: p50 0.43 -> 12 ms beside a busy process; 4-query HNSW searches beside two
    busy loops: p90 28 ms unguarded, 8 ms guarded); one query gains nothing from it. Larger
    batches, and blocks nested in a guarded one, pass through (~0.2 us); the outermost guard
    costs ~1-2 us. The BLAS setting is process-wide: callers hold the index lock."""
    if m > SMALL_BATCH or getattr(_depth, "n", 0):
        return _PASS
    return _Guard()


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


def scan(q: np.ndarray, X: np.ndarray, T: int, metric: str, dead: np.ndarray | None = None,
         xx: np.ndarray | None = None):
    """Exact top-``T`` rows of ``X`` per query by BLAS: ``|x|^2 - 2<q,x> + |q|^2`` clipped at 0
    (``ip``: ``-<q,x>``), in chunks that keep the ``m x n`` matrix near 16M entries; rows where
    ``dead`` is set are excluded; ``xx``: the rows' squared norms when the caller keeps them.
    ``(rows[m, T], dists[m, T])`` as :func:`topk_rows`."""
    n = len(X)
    chunk = max(1, (1 << 24) // max(n, 1))
    if xx is None and metric != "ip":
        xx = np.einsum("ij,ij->i", X, X)  # row norms without a temporary copy of X (peak memory)
    rows, dists = [], []
    for i in range(0, len(q), chunk):
        qc = q[i: i + chunk]
        # the one m x n array: every step below works in place (peak memory). Smaller chunks
        # measured worse: glibc then keeps the freed arrays in its heap instead of unmapping them
        d = qc @ X.T
        if metric == "ip":
            np.negative(d, out=d)
        else:
            d *= -2
            d += xx
            d += np.einsum("ij,ij->i", qc, qc)[:, None]
            np.maximum(d, 0, out=d)
        if dead is not None:
            d[:, dead] = np.inf
        a, b = topk_rows(d.astype(np.float32, copy=False), T)
        rows.append(a)
        dists.append(b)
    return np.concatenate(rows), np.concatenate(dists)


def partial(metric: str, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Partial distances of ``q[m, w]`` to gathered ``x[m, C, w]`` -> ``[m, C]`` (L2 from
    differences: no float32 cancellation on large norms)."""
    if metric == "ip":
        return -np.matmul(x, q[:, :, None])[:, :, 0]
    diff = x - q[:, None, :]
    return np.einsum("mcw,mcw->mc", diff, diff)
