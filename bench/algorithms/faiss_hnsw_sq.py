"""faiss HNSW over 8-bit scalar-quantized codes (``IndexHNSWSQ``) with an exact re-rank of the
``k * k_factor`` best by ``IndexRefineFlat`` — faiss' recipe for a compressed graph index.
Build ``M``, ``efConstruction``; query ``efSearch``, ``k_factor``."""
from __future__ import annotations

import numpy as np

from .faiss_base import FaissSearch
from .faiss_hnsw import hnsw_link_bytes


class FaissHNSWSQ(FaissSearch):
    name = "hnsw_sq"

    def __init__(self, metric: str, M: int = 32, efConstruction: int = 200):
        super().__init__(metric, M=M, efConstruction=efConstruction)

    def fit(self, X: np.ndarray) -> None:
        import faiss

        X = np.ascontiguousarray(X, np.float32)
        self.base = faiss.IndexHNSWSQ(X.shape[1], faiss.ScalarQuantizer.QT_8bit, int(self.build_params["M"]))
        self.base.hnsw.efConstruction = int(self.build_params["efConstruction"])
        self.index = faiss.IndexRefineFlat(self.base)
        self.index.train(X)
        self.index.add(X)

    def set_query_arguments(self, efSearch: int = 64, k_factor: float = 2) -> None:
        super().set_query_arguments(efSearch=efSearch, k_factor=k_factor)
        self.base.hnsw.efSearch = int(efSearch)
        self.index.k_factor = float(k_factor)

    def index_bytes(self) -> int | None:
        n, d = self.index.ntotal, self.index.d
        return int(n * d * (1 + 4) + hnsw_link_bytes(self.base.hnsw))  # SQ8 codes + refine floats

    def done(self) -> None:
        self.index = self.base = None
