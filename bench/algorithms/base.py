"""The one interface every benchmarked algorithm implements (as in ann-benchmarks).

Lifecycle: ``algo = cls(metric, **build_params)``; ``algo.fit(X)``; then for each query
setting ``algo.set_query_arguments(**kw)`` and ``query`` / ``batch_query``; ``algo.done()``
frees everything (temporary directories included). Ids are row numbers of ``X``; ``-1`` pads
a short result. The harness gives angular data unit-normalised, so L2 is always correct.
"""
from __future__ import annotations

import abc
import os

import numpy as np


class Algorithm(abc.ABC):
    name: str = "algorithm"
    workdir: str | None = None  # where temporary index files go (the runner sets it)

    def __init__(self, metric: str, **build_params):
        self.metric = metric
        self.build_params: dict = dict(build_params)
        self.query_params: dict = {}

    @abc.abstractmethod
    def fit(self, X: np.ndarray) -> None:
        """Build the index over ``X[n, d]`` float32."""

    def set_query_arguments(self, **kw) -> None:
        """Switch search-time parameters (no rebuild)."""
        self.query_params = dict(kw)

    @abc.abstractmethod
    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Ids of the ``k`` nearest rows to one query ``q[d]``."""

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        """``ids[m, k]`` for ``Q[m, d]``; override when the library has a batch call."""
        return pad_rows([self.query(q, k) for q in Q], k)

    def index_bytes(self) -> int | None:
        """Size of the index: as persisted on disk, or computed from its structures (None if
        unknown). Called once after ``fit``, outside the timed sections."""
        return None

    def done(self) -> None:
        """Release memory and temporary files."""

    def __str__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in {**self.build_params, **self.query_params}.items())
        return f"{self.name}({args})"


def dir_bytes(path: str) -> int:
    """Total size of the files under ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def pad_rows(rows, k: int) -> np.ndarray:
    """Stack variable-length id lists into ``[m, k]`` int64, ``-1`` padded."""
    out = np.full((len(rows), k), -1, np.int64)
    for i, r in enumerate(rows):
        r = np.asarray(r, np.int64)[:k]
        out[i, : len(r)] = r
    return out
