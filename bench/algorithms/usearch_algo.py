"""usearch (HNSW, pip wheel ``usearch``) on float32 with squared L2. Build ``connectivity``
(M), ``expansion_add`` (efConstruction); query ``expansion_search`` (ef)."""
from __future__ import annotations

import os

import numpy as np

from .base import Algorithm


class USearch(Algorithm):
    name = "usearch"

    def __init__(self, metric: str, connectivity: int = 16, expansion_add: int = 128):
        super().__init__(metric, connectivity=connectivity, expansion_add=expansion_add)
        self.index = None
        self.threads = os.cpu_count() or 1

    def fit(self, X: np.ndarray) -> None:
        from usearch.index import Index

        bp = self.build_params
        self.index = Index(ndim=X.shape[1], metric="l2sq", dtype="f32", connectivity=int(bp["connectivity"]),
                           expansion_add=int(bp["expansion_add"]))
        self.index.add(np.arange(len(X), dtype=np.uint64), np.ascontiguousarray(X, np.float32),
                       threads=self.threads)

    def set_query_arguments(self, expansion_search: int = 64) -> None:
        super().set_query_arguments(expansion_search=expansion_search)
        self.index.expansion_search = int(expansion_search)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        m = self.index.search(np.ascontiguousarray(q, np.float32), k)
        return np.asarray(m.keys, np.int64)[: len(m)]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        m = self.index.search(np.ascontiguousarray(Q, np.float32), k, threads=self.threads)
        keys = np.asarray(m.keys, np.int64).reshape(len(Q), -1)
        counts = np.asarray(m.counts).reshape(-1)
        return np.where(np.arange(keys.shape[1])[None, :] < counts[:, None], keys, -1)

    def index_bytes(self) -> int | None:
        return int(self.index.memory_usage)

    def done(self) -> None:
        self.index = None
