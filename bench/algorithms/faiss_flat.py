"""faiss ``IndexFlatL2``: exact brute force (the speed floor of "perfect recall")."""
from __future__ import annotations

import numpy as np

from .faiss_base import FaissSearch


class FaissFlat(FaissSearch):
    name = "flat"

    def fit(self, X: np.ndarray) -> None:
        import faiss

        self.index = faiss.IndexFlatL2(X.shape[1])
        self.index.add(np.ascontiguousarray(X, np.float32))

    def index_bytes(self) -> int | None:
        return int(self.index.ntotal * self.index.d * 4)
