"""SymphonyQG (``rabitqlib.SymqgIndex``): a graph whose edges carry RaBitQ codes of the
neighbours, searched with fast-scan estimates and exact re-rank. Build ``max_degree``,
``ef_construction``; query ``ef``."""
from __future__ import annotations

import os

import numpy as np

from .base import Algorithm


class SymQG(Algorithm):
    name = "symqg"

    def __init__(self, metric: str, max_degree: int = 32, ef_construction: int = 200):
        super().__init__(metric, max_degree=max_degree, ef_construction=ef_construction)
        self.index = None
        self.ef = 64
        self.threads = os.cpu_count() or 1

    def fit(self, X: np.ndarray) -> None:
        import rabitqlib

        self.index = rabitqlib.SymqgIndex(X.shape[1], int(self.build_params["max_degree"]), "l2")
        self.index.build(np.ascontiguousarray(X, np.float32), int(self.build_params["ef_construction"]),
                         num_threads=self.threads)

    def set_query_arguments(self, ef: int = 64) -> None:
        super().set_query_arguments(ef=ef)
        self.ef = int(ef)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(np.ascontiguousarray(q[None, :], np.float32), k, self.ef)[0][0], np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        ids = self.index.search_batch(np.ascontiguousarray(Q, np.float32), k, self.ef, num_threads=self.threads)[0]
        return np.asarray(ids, np.int64)

    def done(self) -> None:
        self.index = None
