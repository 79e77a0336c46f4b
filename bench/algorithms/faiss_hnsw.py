"""faiss ``IndexHNSWFlat``: build ``M``, ``efConstruction``; query ``efSearch``."""
from __future__ import annotations

import numpy as np

from .base import Algorithm


class FaissHNSW(Algorithm):
    name = "hnsw"

    def __init__(self, metric: str, M: int = 32, efConstruction: int = 200):
        super().__init__(metric, M=M, efConstruction=efConstruction)
        self.index = None

    def fit(self, X: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(X.shape[1], int(self.build_params["M"]))
        self.index.hnsw.efConstruction = int(self.build_params["efConstruction"])
        self.index.add(np.ascontiguousarray(X, np.float32))

    def set_query_arguments(self, efSearch: int = 64) -> None:
        super().set_query_arguments(efSearch=efSearch)
        self.index.hnsw.efSearch = int(efSearch)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(q[None, :], np.float32), k)[1][0]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(Q, np.float32), k)[1]

    def index_bytes(self) -> int | None:
        h = self.index.hnsw
        links = h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4
        return int(self.index.ntotal * self.index.d * 4 + links)

    def done(self) -> None:
        self.index = None
