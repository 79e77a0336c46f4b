"""Search calls shared by the faiss-backed algorithms (one query or a batch, float32 C-order)."""
from __future__ import annotations

import numpy as np

from .base import Algorithm


class FaissSearch(Algorithm):
    """Subclasses set ``self.index`` (any faiss index) in ``fit``."""
    index = None

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(q[None, :], np.float32), k)[1][0]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(np.ascontiguousarray(Q, np.float32), k)[1]

    def done(self) -> None:
        self.index = None
