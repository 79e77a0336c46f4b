"""Static graphs over one subspace: what a sealed segment (``segments``) searches.

A graph is built once over a matrix of rows (row ``i`` is the segment's ``i``-th member), searched
by row number and never changed: a removal is a bit in its segment's delete bitmap, an addition
goes to a newer segment. One adapter per library, all with the same four calls (``search``,
``save``, ``nbytes``, ``len``) and a ``build`` / ``load`` pair:

- ``HnswGraph``: faiss ``IndexHNSWFlat`` (``hnsw``) or ``IndexHNSWSQ`` over 8-bit codes (``hnsw_sq``);
- ``SymqgGraph``: a SymphonyQG graph (rabitqlib: RaBitQ codes on the edges, exact re-rank inside);
- ``ExactGraph``: a copy of the rows scanned by BLAS, for segments too small for a graph.

Distances are partial distances: squared L2 (``l2``/``cosine``), ``-<q, x>`` (``ip``).
"""
from __future__ import annotations

import os

import numpy as np

from .kernels import partial, scan

GRAPH_MIN = 256  # fewer rows than this: an exact segment (a graph would not be faster, or not build)


def _omp_threads(threads: int):
    """faiss' OpenMP thread count for the calling thread (libgomp keeps it per thread: a background
    builder at 1 thread leaves the searches' setting alone)."""
    import faiss

    if threads > 0:
        faiss.omp_set_num_threads(threads)


class HnswGraph:
    fills = False  # faiss pads a list it cannot fill with -1

    def __init__(self, index, metric: str):
        self.index, self.metric = index, metric
        self._params: dict = {}  # ef -> SearchParametersHNSW (built once)

    @classmethod
    def build(cls, x: np.ndarray, metric: str, M: int, ef_construction: int, quantized: bool,
              threads: int = 0) -> "HnswGraph":
        import faiss

        kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        w = x.shape[1]
        index = (faiss.IndexHNSWSQ(w, faiss.ScalarQuantizer.QT_8bit, M, kind) if quantized
                 else faiss.IndexHNSWFlat(w, M, kind))
        index.hnsw.efConstruction = ef_construction
        _omp_threads(threads)
        x = np.ascontiguousarray(x, np.float32)
        if not index.is_trained:  # hnsw_sq: its quantiser (per-dimension range) from these rows
            index.train(x)
        index.add(x)  # faiss' bulk add (OpenMP over the batch; the GIL is released)
        return cls(index, metric)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, q: np.ndarray, size: int, ef: int, threads: int = 0):
        import faiss

        m = len(q)
        sp = self._params.get(ef)
        if sp is None:
            sp = self._params[ef] = faiss.SearchParametersHNSW(efSearch=ef)
        d = np.empty((m, size), np.float32)
        rows = np.empty((m, size), np.int64)
        ptr = faiss.swig_ptr  # search_c: the SWIG call without the Python wrapper's checks
        self.index.search_c(m, ptr(np.ascontiguousarray(q, np.float32)), size, ptr(d), ptr(rows), sp)
        if self.metric == "ip":
            np.negative(d, out=d)
        d[rows < 0] = np.inf  # faiss pads with its largest float
        return rows, d

    def one(self, q: np.ndarray, size: int, ef: int):
        """``search`` of one row for the lone-query lane."""
        return self.search(q, size, ef, 1)

    def save(self, path: str) -> None:
        import faiss

        faiss.write_index(self.index, path + ".faiss")

    @classmethod
    def load(cls, path: str, metric: str) -> "HnswGraph":
        import faiss

        return cls(faiss.read_index(path + ".faiss"), metric)

    def nbytes(self) -> int:
        sq = hasattr(self.index, "sq")
        per = self.index.d if sq else self.index.d * 4
        return int(self.index.ntotal * (per + self.index.hnsw.nb_neighbors(0) * 4 * 1.5))


def pad(x: np.ndarray, width: int) -> np.ndarray:
    """Zero columns up to ``width`` (the RaBitQ rotator needs a multiple of 64); L2 and inner
    products are unchanged."""
    x = np.ascontiguousarray(x, np.float32)
    if x.shape[1] == width:
        return x
    out = np.zeros((len(x), width), np.float32)
    out[:, : x.shape[1]] = x
    return out


class SymqgGraph:
    fills = True  # every row of a result is filled (the library raises rather than pad)

    def __init__(self, index, n: int, width: int, degree: int, metric: str, x: np.ndarray | None = None):
        self.index, self.n, self.width, self.degree, self.metric = index, n, width, degree, metric
        self.padded = -(-width // 64) * 64
        self.x = x  # ip only: the rows, to score -<q, x> exactly (the graph ranks by L2)
        # the lone-query lane's call: the library's own one-query search when no padding is needed
        self.one = index.search if self.padded == width else self._one

    @classmethod
    def build(cls, x: np.ndarray, metric: str, degree: int, ef_construction: int, threads: int = 0):
        import rabitqlib

        w = x.shape[1]
        padded = -(-w // 64) * 64
        index = rabitqlib.SymqgIndex(padded, degree, "ip" if metric == "ip" else "l2")
        index.build(pad(x, padded), ef_construction, num_threads=threads or os.cpu_count() or 1)
        return cls(index, len(x), w, degree, metric, np.array(x, np.float32) if metric == "ip" else None)

    def __len__(self) -> int:
        return self.n

    def search(self, q: np.ndarray, size: int, ef: int, threads: int = 1):
        """Sorted rows and distances; the library fills every row (it raises when it cannot find
        ``size`` results rather than return fewer), so there is nothing to mask."""
        if q.shape[1] != self.padded or q.dtype != np.float32 or not q.flags.c_contiguous:
            q = pad(q, self.padded)
        rows, d = self.index.search_batch(q, size, max(ef, size), num_threads=threads)
        rows = rows.astype(np.int64)
        if self.metric == "ip":
            d = partial("ip", q[:, : self.width], self.x[rows]).astype(np.float32)
        return rows, d

    def _one(self, q: np.ndarray, size: int, ef: int):
        """``one`` (``search`` of one float32 row, ``ef >= size``, l2 / cosine: the lone-query
        lane's call) for a width the library must see zero-padded; rows as it gives them (uint32)."""
        return self.index.search(pad(q, self.padded), size, ef)

    def save(self, path: str) -> None:
        self.index.save(path + ".symqg")
        if self.x is not None:
            np.save(path + ".rows.npy", self.x)

    @classmethod
    def load(cls, path: str, metric: str, n: int, width: int, degree: int) -> "SymqgGraph":
        import rabitqlib

        x = np.load(path + ".rows.npy") if metric == "ip" else None
        return cls(rabitqlib.SymqgIndex.load(path + ".symqg"), n, width, degree, metric, x)

    def nbytes(self) -> int:
        per = self.padded * 4 + self.degree * (self.padded // 8 + 12)  # vector + coded edges
        return int(self.n * per + (self.x.nbytes if self.x is not None else 0))


class ExactGraph:
    """A copy of the rows, scanned exactly: a segment too small for a graph."""

    fills = True  # a scan of at most its rows fills every row

    def __init__(self, x: np.ndarray, metric: str):
        self.x, self.metric = np.ascontiguousarray(x, np.float32), metric
        self.xx = np.einsum("ij,ij->i", self.x, self.x)

    def __len__(self) -> int:
        return len(self.x)

    def search(self, q: np.ndarray, size: int, ef: int = 0, threads: int = 0):
        return scan_rows(q, self.x, size, self.metric, xx=self.xx)

    one = search

    def save(self, path: str) -> None:
        np.save(path + ".rows.npy", self.x)

    @classmethod
    def load(cls, path: str, metric: str) -> "ExactGraph":
        return cls(np.load(path + ".rows.npy"), metric)

    def nbytes(self) -> int:
        return int(self.x.nbytes)


def scan_rows(q: np.ndarray, X: np.ndarray, size: int, metric: str, dead: np.ndarray | None = None,
              xx: np.ndarray | None = None):
    """Exact top-``size`` rows of ``X`` (BLAS), the chosen rows' L2 recomputed from differences
    (no float32 cancellation on large norms); ``xx``: the rows' squared norms, if kept."""
    rows, d = scan(q, X, min(size, len(X)), metric, dead=dead, xx=xx)
    if metric != "ip" and rows.size:
        d = np.where(rows >= 0, partial(metric, q, X[np.maximum(rows, 0)]), np.inf).astype(np.float32)
    if rows.shape[1] < size:
        pad_n = size - rows.shape[1]
        rows = np.hstack([rows, np.full((len(q), pad_n), -1, np.int64)])
        d = np.hstack([d, np.full((len(q), pad_n), np.inf, np.float32)])
    return rows, d
