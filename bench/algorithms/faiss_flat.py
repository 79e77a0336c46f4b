"""faiss ``IndexFlatL2``: exact brute force (the speed floor of "perfect recall")."""
from __future__ import annotations

import numpy as np

from .base import Algorithm


class FaissFlat(Algorithm):
    name = "flat"

    def fit(self, X: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexFlatL2(X.shape[1])
        self.index.add(np.ascontiguousarray(X, np.float32))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(q[None, :], np.float32), k)[1][0]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(Q, np.float32), k)[1]

    def index_bytes(self) -> int | None:
        return int(self.index.ntotal * self.index.d * 4)

    def done(self) -> None:
        self.index = None
