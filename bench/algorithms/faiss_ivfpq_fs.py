"""faiss IVF with 4-bit PQ fast-scan (``IndexIVFPQFastScan``, SIMD look-up tables) and an exact
re-rank of ``k * k_factor`` candidates (``IndexRefineFlat``). Build ``nlist``, ``m``
(sub-quantizers); query ``nprobe``, ``k_factor``."""
from __future__ import annotations

import numpy as np

from .faiss_base import FaissSearch

TRAIN_SAMPLE = 100_000


class FaissIVFPQFastScan(FaissSearch):
    name = "ivfpq_fs"

    def __init__(self, metric: str, nlist: int = 1024, m: int = 32):
        super().__init__(metric, nlist=nlist, m=m)

    def fit(self, X: np.ndarray) -> None:
        import faiss

        X = np.ascontiguousarray(X, np.float32)
        n, d = X.shape
        nlist = min(int(self.build_params["nlist"]), max(1, n // 39))  # k-means wants ~39 points a list
        self.quantizer = faiss.IndexFlatL2(d)
        self.base = faiss.IndexIVFPQFastScan(self.quantizer, d, nlist, int(self.build_params["m"]), 4)
        self.index = faiss.IndexRefineFlat(self.base)
        sample = X[np.random.default_rng(0).permutation(n)[:TRAIN_SAMPLE]] if n > TRAIN_SAMPLE else X
        self.index.train(sample)
        self.index.add(X)

    def set_query_arguments(self, nprobe: int = 16, k_factor: float = 4) -> None:
        super().set_query_arguments(nprobe=nprobe, k_factor=k_factor)
        self.base.nprobe = int(nprobe)
        self.index.k_factor = float(k_factor)

    def index_bytes(self) -> int | None:
        n, d = self.index.ntotal, self.index.d
        return int(n * (self.base.code_size + 8 + d * 4) + self.base.nlist * d * 4)

    def done(self) -> None:
        self.index = self.base = self.quantizer = None
