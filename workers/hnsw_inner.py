"""``HnswInner``: faiss HNSW over one subspace (``InnerParams(kind="hnsw")``), for comparison."""
from __future__ import annotations

import os

import numpy as np

from .base import InnerParams, SearchParams


class HnswInner:
    """faiss ``IndexHNSWFlat`` over one subspace. No in-place remove in HNSW: removed ids stay in
    the graph and are filtered by the worker's liveness (over-fetching by the masked count)."""

    def __init__(self, width: int, params: InnerParams, metric: str, store, s: int):
        import faiss

        self._faiss = faiss
        self.width, self.p, self.metric, self.store, self.s = width, params, metric, store, s
        kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        self.index = faiss.IndexHNSWFlat(width, params.hnsw_M, kind)
        self.index.hnsw.efConstruction = params.hnsw_ef_construction
        self.gid_of = np.zeros(0, np.int64)
        self.masked = 0

    def add(self, ids, x) -> None:
        self.index.add(np.ascontiguousarray(x, np.float32))
        self.gid_of = np.concatenate([self.gid_of, ids])

    def remove(self, ids) -> None:
        self.masked += len(ids)

    def build(self, optimize: bool = False) -> None:
        pass

    def search(self, q, T: int, params: SearchParams):
        size = min(T + min(self.masked, T), max(self.index.ntotal, 1))
        sp = self._faiss.SearchParametersHNSW(efSearch=max(params.ef_search or 2 * T, size))
        d, fid = self.index.search(np.ascontiguousarray(q, np.float32), size, params=sp)
        gid = np.where(fid >= 0, self.gid_of[np.maximum(fid, 0)], -1)
        ok = self.store.is_live(gid)
        d = np.where(ok, -d if self.metric == "ip" else d, np.inf).astype(np.float32)
        order = np.argsort(d, axis=1, kind="stable")[:, :T]
        ids = np.full((len(q), T), -1, np.int64)
        out = np.full((len(q), T), np.inf, np.float32)
        ids[:, : order.shape[1]] = np.where(np.take_along_axis(ok, order, 1), np.take_along_axis(gid, order, 1), -1)
        out[:, : order.shape[1]] = np.take_along_axis(d, order, 1)
        return ids, out

    def save(self, path: str) -> None:
        self._faiss.write_index(self.index, os.path.join(path, "hnsw.faiss"))
        np.savez(os.path.join(path, "hnswmap.npz"), gid_of=self.gid_of, masked=np.array([self.masked]))

    def load(self, path: str) -> None:
        self.index = self._faiss.read_index(os.path.join(path, "hnsw.faiss"))
        with np.load(os.path.join(path, "hnswmap.npz")) as z:
            self.gid_of, self.masked = z["gid_of"].copy(), int(z["masked"][0])

    def nbytes(self) -> int:
        return int(self.index.ntotal * (self.width * 4 + self.p.hnsw_M * 2 * 4))

    def close(self) -> None:
        pass
