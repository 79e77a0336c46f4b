"""Google ScaNN (pip wheel ``scann``): k-means tree partitions, anisotropic 4-bit product
quantization (``score_ah(2, ...)``, the authors' setting), exact re-rank of ``reorder``
candidates. Angular data (unit rows) is searched by dot product with the anisotropic threshold
0.2 as ScaNN's README does; L2 data by squared L2 (ScaNN quantizes residuals for dot product
only, so L2 codes rank coarsely: on data whose variance sits in a few directions, e.g. the
resnet set, recall needs a re-rank of thousands). Build ``num_leaves``, ``reorder`` (the default
re-rank depth); query ``leaves_to_search`` and ``reorder`` (candidates re-ranked exactly,
``pre_reorder_num_neighbors``; deeper than the build's value is allowed)."""
from __future__ import annotations

import os

import numpy as np

from .base import Algorithm

TRAIN_SAMPLE = 100_000


class ScaNN(Algorithm):
    name = "scann"

    def __init__(self, metric: str, num_leaves: int = 1000, reorder: int = 100):
        super().__init__(metric, num_leaves=num_leaves, reorder=reorder)
        self.searcher = None
        self.leaves = 1
        self.reorder = int(reorder)

    def fit(self, X: np.ndarray) -> None:
        import scann

        X = np.ascontiguousarray(X, np.float32)
        n = len(X)
        bp = self.build_params
        leaves = min(int(bp["num_leaves"]), max(1, n // 20))
        angular = self.metric == "angular"
        b = scann.scann_ops_pybind.builder(X, 10, "dot_product" if angular else "squared_l2")
        b = b.tree(num_leaves=leaves, num_leaves_to_search=min(leaves, 10),
                   training_sample_size=min(n, TRAIN_SAMPLE))
        b = b.score_ah(2, anisotropic_quantization_threshold=0.2 if angular else float("nan"))
        self.searcher = b.reorder(int(bp["reorder"])).set_n_training_threads(os.cpu_count() or 1).build()

    def set_query_arguments(self, leaves_to_search: int = 10, reorder: int | None = None) -> None:
        super().set_query_arguments(leaves_to_search=leaves_to_search,
                                    **({} if reorder is None else {"reorder": reorder}))
        self.leaves = int(leaves_to_search)
        self.reorder = int(self.build_params["reorder"] if reorder is None else reorder)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.searcher.search(q, final_num_neighbors=k, leaves_to_search=self.leaves,
                                      pre_reorder_num_neighbors=max(k, self.reorder))
        return np.asarray(ids, np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.searcher.search_batched_parallel(
            np.ascontiguousarray(Q, np.float32), final_num_neighbors=k, leaves_to_search=self.leaves,
            pre_reorder_num_neighbors=max(k, self.reorder))
        return np.asarray(ids, np.int64)

    def done(self) -> None:
        self.searcher = None
