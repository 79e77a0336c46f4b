"""SymphonyQG (``rabitqlib.SymqgIndex``): a graph whose edges carry RaBitQ codes of the
neighbours, searched with fast-scan estimates and exact re-rank. Build ``max_degree``,
``ef_construction``; query ``ef``. Its rotator needs the dimension a multiple of 64, so vectors
are zero-padded (L2 distances are unchanged)."""
from __future__ import annotations

import os

import numpy as np

from .base import Algorithm


def _pad(X: np.ndarray, width: int) -> np.ndarray:
    X = np.ascontiguousarray(X, np.float32)
    if X.shape[-1] == width:
        return X
    out = np.zeros(X.shape[:-1] + (width,), np.float32)
    out[..., : X.shape[-1]] = X
    return out


class SymQG(Algorithm):
    name = "symqg"

    def __init__(self, metric: str, max_degree: int = 32, ef_construction: int = 200):
        super().__init__(metric, max_degree=max_degree, ef_construction=ef_construction)
        self.index = None
        self.ef = 64
        self.threads = os.cpu_count() or 1

    def fit(self, X: np.ndarray) -> None:
        import rabitqlib

        self.width = -(-X.shape[1] // 64) * 64
        self.index = rabitqlib.SymqgIndex(self.width, int(self.build_params["max_degree"]), "l2")
        self.index.build(_pad(X, self.width), int(self.build_params["ef_construction"]),
                         num_threads=self.threads)

    def set_query_arguments(self, ef: int = 64) -> None:
        super().set_query_arguments(ef=ef)
        self.ef = int(ef)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(_pad(q[None, :], self.width), k, self.ef)[0][0], np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        ids = self.index.search_batch(_pad(Q, self.width), k, self.ef, num_threads=self.threads)[0]
        return np.asarray(ids, np.int64)

    def done(self) -> None:
        self.index = None
