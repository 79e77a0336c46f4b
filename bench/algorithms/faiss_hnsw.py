"""faiss ``IndexHNSWFlat``: build ``M``, ``efConstruction``; query ``efSearch``."""
from __future__ import annotations

import numpy as np

from .faiss_base import FaissSearch


def hnsw_link_bytes(hnsw) -> int:
    return int(hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4)


class FaissHNSW(FaissSearch):
    name = "hnsw"

    def __init__(self, metric: str, M: int = 32, efConstruction: int = 200):
        super().__init__(metric, M=M, efConstruction=efConstruction)

    def fit(self, X: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(X.shape[1], int(self.build_params["M"]))
        self.index.hnsw.efConstruction = int(self.build_params["efConstruction"])
        self.index.add(np.ascontiguousarray(X, np.float32))

    def set_query_arguments(self, efSearch: int = 64) -> None:
        super().set_query_arguments(efSearch=efSearch)
        self.index.hnsw.efSearch = int(efSearch)

    def index_bytes(self) -> int | None:
        return int(self.index.ntotal * self.index.d * 4 + hnsw_link_bytes(self.index.hnsw))
