"""``HnswInner``: faiss HNSW over one subspace — ``kind="hnsw"`` (float vectors in the graph,
the default inner index) or ``kind="hnsw_sq"`` (8-bit scalar-quantised vectors in the graph:
a quarter of the memory and cheaper distances; the coordinator's exact re-rank on the full
vectors is the refine step).

Measured on the shared sets (docs/TUNING.md): faiss' AVX2 kernels make one HNSW distance
~4x cheaper than the ngtpy wheel's SSE2/double ones, so HNSW is the default inner index.
"""
from __future__ import annotations

import os

import numpy as np

from .arrays import grown
from .base import InnerParams, SearchParams
from .kernels import single_threaded


REBUILD_SHARE = 0.05  # removed vectors, as a share of the graph, that Index.build() rebuilds for


class HnswInner:
    """faiss ``IndexHNSWFlat`` / ``IndexHNSWSQ`` over one subspace. faiss numbers vectors in
    insertion order; ``gid_of`` maps them to internal ids. No in-place remove in HNSW: removed
    ids stay in the graph, are counted in ``masked`` and filtered by the worker's liveness
    (over-fetching by the masked count). ``hnsw_sq`` trains its quantiser (per-dimension
    min/max) on the first batch added; later values outside that range are clipped, which the
    exact re-rank absorbs."""

    def __init__(self, width: int, params: InnerParams, metric: str, store, s: int, quantized: bool = False):
        import faiss

        self._faiss = faiss
        self.width, self.p, self.metric, self.store, self.s = width, params, metric, store, s
        self.quantized = quantized
        self.index = self._new_index()
        self.gid_of = np.zeros(1024, np.int64)
        self.masked = 0
        self._params: dict = {}  # (ef, size) -> SearchParametersHNSW (built once)

    def _new_index(self):
        faiss, p = self._faiss, self.p
        kind = faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2
        if self.quantized:
            index = faiss.IndexHNSWSQ(self.width, faiss.ScalarQuantizer.QT_8bit, p.hnsw_M, kind)
        else:
            index = faiss.IndexHNSWFlat(self.width, p.hnsw_M, kind)
        index.hnsw.efConstruction = p.hnsw_ef_construction
        return index

    def add(self, ids, x) -> None:
        if len(ids) == 0:
            return
        x = np.ascontiguousarray(x, np.float32)
        if not self.index.is_trained:
            self.index.train(x)
        n = self.index.ntotal
        self.gid_of = grown(self.gid_of, n + len(ids), n)
        self.index.add(x)  # faiss' bulk add (OpenMP over the batch)
        self.gid_of[n: n + len(ids)] = ids

    def remove(self, ids) -> None:
        self.masked += len(ids)

    def build(self, optimize: bool = False) -> None:
        """``optimize`` (``Index.build()``, ``sanny build``, after ``register``): when removed
        vectors are ``REBUILD_SHARE`` or more of the graph, build it again over the live ones.
        HNSW has no in-place remove, so this is how upserts' and removes' memory comes back and
        searches stop over-fetching for them (fewer stay masked: a few removes must not cost a
        huge index a full build). Without ``optimize`` (after every write) nothing."""
        if not optimize or not self.masked or self.masked < REBUILD_SHARE * self.index.ntotal:
            return
        gid = self.gid_of[: self.index.ntotal]
        gid = np.unique(gid[self.store.is_live(gid)])  # a replayed insert left two nodes for one id
        x = np.ascontiguousarray(self.store.arrays[self.s][gid])
        self.index = self._new_index()
        if len(gid):
            if not self.index.is_trained:  # hnsw_sq: its quantiser from the live vectors
                self.index.train(x)
            self.index.add(x)
        self.gid_of = grown(gid.copy(), 1024, len(gid))
        self.masked = 0

    def search(self, q, T: int, params: SearchParams):
        m = len(q)
        masked = self.masked
        size = min(T + min(masked, T), self.index.ntotal or 1)
        key = (params.ef_search or T, size)
        sp = self._params.get(key)
        if sp is None:  # one SearchParametersHNSW per (ef, size)
            sp = self._params[key] = self._faiss.SearchParametersHNSW(efSearch=max(key))
        q = np.ascontiguousarray(q, np.float32)
        d = np.empty((m, size), np.float32)
        fid = np.empty((m, size), np.int64)
        ptr = self._faiss.swig_ptr
        with single_threaded(m):  # search_c: the SWIG call without the Python wrapper's checks
            self.index.search_c(m, ptr(q), size, ptr(d), ptr(fid), sp)
        if self.metric == "ip":
            np.negative(d, out=d)
        gid = self.gid_of[fid]  # -1 (fewer than size found) picks the last entry: fixed here
        if fid.min() < 0:
            missing = fid < 0
            gid[missing] = -1
            d[missing] = np.inf  # faiss pads with its largest float
        if masked == 0 and size == T:  # nothing removed: faiss' sorted rows are the answer
            return gid, d
        return _first_live(gid, d, self.store.is_live(gid), T)

    def save(self, path: str) -> None:
        self._faiss.write_index(self.index, os.path.join(path, "hnsw.faiss"))
        np.savez(os.path.join(path, "hnswmap.npz"), gid_of=self.gid_of[: self.index.ntotal],
                 masked=np.array([self.masked]))

    def load(self, path: str) -> None:
        self.index = self._faiss.read_index(os.path.join(path, "hnsw.faiss"))
        with np.load(os.path.join(path, "hnswmap.npz")) as z:
            self.gid_of, self.masked = z["gid_of"].copy(), int(z["masked"][0])

    def nbytes(self) -> int:
        per = self.width if self.quantized else self.width * 4
        return int(self.index.ntotal * (per + self.p.hnsw_M * 2 * 4))

    def close(self) -> None:
        pass


def _first_live(gid: np.ndarray, d: np.ndarray, ok: np.ndarray, T: int):
    """Each row's first ``T`` live entries in faiss' order (its rows come sorted by distance,
    missing ones last), padded with (-1, inf). A stable partition on liveness rather than a
    sort by distance: ~5 us instead of ~16 us for one query, paid by every subspace of every
    search once anything was removed."""
    m = len(gid)
    ids = np.full((m, T), -1, np.int64)
    out = np.full((m, T), np.inf, np.float32)
    if m == 1:
        keep = np.flatnonzero(ok[0])[:T]
        ids[0, : len(keep)] = gid[0, keep]
        out[0, : len(keep)] = d[0, keep]
        return ids, out
    order = np.argsort(~ok, axis=1, kind="stable")[:, :T]
    rows = np.arange(m)[:, None]
    kept = ok[rows, order]
    t = order.shape[1]
    ids[:, :t] = np.where(kept, gid[rows, order], -1)
    out[:, :t] = np.where(kept, d[rows, order], np.inf)
    return ids, out
