"""Sanny itself: ``S`` subspace graphs (faiss HNSW by default), their candidates, exact re-rank.

Build parameters are split by name between ``IndexConfig`` (``S``, ``pca_dim``,
``assignment``, ...) and ``InnerParams`` (``graph``, ``edge_size_for_creation``, ...).
Query arguments: ``T``, ``epsilon``, ``prune``, ``adaptive`` (and ``T_max``), ``ef_search``,
``candidates`` (union, count, lead) and ``R``.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import fields

import numpy as np
from tqdm import tqdm

from sanny.engine import Index, IndexConfig, InnerParams, snapshot

from .base import Algorithm, dir_bytes

log = logging.getLogger(__name__)

CHUNK = 5000
TRAIN_SAMPLE = 20000
_CONFIG_KEYS = {f.name for f in fields(IndexConfig)} - {"dim", "metric", "inner"}
_INNER_KEYS = {f.name for f in fields(InnerParams)}
_QUERY_KEYS = ("T", "epsilon", "prune", "adaptive", "T_max", "ef_search", "candidates", "R")


class Sanny(Algorithm):
    name = "sanny"

    def __init__(self, metric: str, **build_params):
        super().__init__(metric, **build_params)
        unknown = set(build_params) - _CONFIG_KEYS - _INNER_KEYS
        if unknown:
            raise ValueError(f"sanny: unknown build parameter(s) {sorted(unknown)}")
        self.index = None
        self.root = None
        self._kw: dict = {}

    def fit(self, X: np.ndarray) -> None:
        n, d = X.shape
        bp = self.build_params
        inner = InnerParams(**{k: v for k, v in bp.items() if k in _INNER_KEYS})
        cfg = IndexConfig(dim=d, metric="cosine" if self.metric == "angular" else "l2", inner=inner,
                          **{k: v for k, v in bp.items() if k in _CONFIG_KEYS})
        self.root = tempfile.mkdtemp(prefix="sanny-bench-", dir=self.workdir)
        self.index = Index.create(self.root, cfg, overwrite=True)
        if cfg.needs_training:
            self.index.train(X[: min(n, TRAIN_SAMPLE)])
        for a in tqdm(range(0, n, CHUNK), desc="sanny insert", unit="chunk", leave=False):
            b = min(a + CHUNK, n)
            self.index.insert([str(i) for i in range(a, b)], X[a:b])
        self.index.build(optimize=True)

    def set_query_arguments(self, **kw) -> None:
        unknown = set(kw) - set(_QUERY_KEYS)
        if unknown:
            raise ValueError(f"sanny: unknown query argument(s) {sorted(unknown)}")
        super().set_query_arguments(**kw)
        self._kw = dict(kw)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search_ids(q[None, :], k, **self._kw)[0][0]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search_ids(Q, k, **self._kw)[0]

    def index_bytes(self) -> int | None:
        # the workers' stats report NGT object *counts* as index_bytes: measure a snapshot instead
        self.index.save()
        return dir_bytes(snapshot.current(self.root)[0])

    def done(self) -> None:
        if self.index is not None:
            self.index.close(save=False)
            self.index = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
