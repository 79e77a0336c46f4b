"""Sanny as an ann-benchmarks algorithm (https://github.com/erikbern/ann-benchmarks).

Their harness builds ``Sanny(metric, build_params)`` from ``ann_benchmarks_config.yml`` (one
dict per ``arg_groups`` entry), calls ``fit(X)``, then per query-argument tuple
``set_query_arguments(T, epsilon)`` and either ``query(v, n)`` per vector or
``batch_query(X, n)`` + ``get_batch_results()``; ``get_memory_usage()`` before and after
``fit``; ``done()`` at the end. To run inside ann-benchmarks, copy this file to
``ann_benchmarks/algorithms/sanny/module.py`` and the config to ``.../sanny/config.yml``
(``module: ann_benchmarks.algorithms.sanny``), with a Dockerfile that pip-installs sanny.
Their ``BaseANN`` is used when importable; otherwise a stand-in with the same methods.
"""
from __future__ import annotations

import numpy as np

from .algorithms.sanny_algo import Sanny as _SannyAlgo
from .metrics import rss_bytes

try:  # inside ann-benchmarks
    from ann_benchmarks.algorithms.base.module import BaseANN
except ImportError:
    class BaseANN:
        """The part of ann-benchmarks' ``BaseANN`` the harness calls."""

        def done(self) -> None:
            pass

        def get_memory_usage(self) -> float | None:
            """Resident memory in kB (ann-benchmarks' unit)."""
            rss = rss_bytes()
            return None if rss is None else rss / 1024

        def get_additional(self) -> dict:
            return {}


class Sanny(BaseANN):
    def __init__(self, metric: str, build_params: dict):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"metric: Sanny in ann-benchmarks supports euclidean and angular, got {metric!r}")
        self.metric = metric
        self.build_params = dict(build_params)
        self._algo = _SannyAlgo(metric, **self.build_params)
        self._query: dict = {}
        self._batch = None
        self.name = f"Sanny({self._params_str()})"

    def _params_str(self) -> str:
        return ",".join(f"{k}={v}" for k, v in {**self.build_params, **self._query}.items())

    def fit(self, X: np.ndarray) -> None:
        X = np.asarray(X, np.float32)
        if self.metric == "angular":  # unit rows: Sanny's cosine index would normalise anyway
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-30)
        self._algo.fit(X)

    def set_query_arguments(self, T: int, epsilon: float = 0.0) -> None:
        self._query = {"T": int(T), "epsilon": float(epsilon)}
        self._algo.set_query_arguments(**self._query)
        self.name = f"Sanny({self._params_str()})"

    def query(self, v: np.ndarray, n: int) -> np.ndarray:
        ids = self._algo.query(np.asarray(v, np.float32), n)
        return ids[ids >= 0]

    def batch_query(self, X: np.ndarray, n: int) -> None:
        self._batch = self._algo.batch_query(np.asarray(X, np.float32), n)

    def get_batch_results(self) -> list[np.ndarray]:
        return [row[row >= 0] for row in self._batch]

    def done(self) -> None:
        self._algo.done()

    def __str__(self) -> str:
        return self.name
