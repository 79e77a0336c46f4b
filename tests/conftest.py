"""Shared fixtures: small seeded datasets, exact numpy ground truth, index helpers.

Everything is generated from fixed seeds, so every test sees the same data on every run.
Ground truth is computed in float64 by brute force, independent of the engine's code.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from sanny.bench.synthetic import clustered, low_rank  # noqa: F401 - the tests' data, via conftest
from sanny.engine import Index, IndexConfig, InnerParams

# -- data -------------------------------------------------------------------------------


def small_data() -> np.ndarray:
    """The 400 x 16 base set of the ``small16`` fixture (also for child processes)."""
    return clustered(400, 16, seed=10, n_clusters=8)


def keys_for(n: int, prefix: str = "k", start: int = 0) -> list[str]:
    return [f"{prefix}{i}" for i in range(start, start + n)]


# -- exact ground truth -------------------------------------------------------------------


def exact_distances(queries: np.ndarray, data: np.ndarray, metric: str) -> np.ndarray:
    """User-facing distances in float64: L2 (``l2``), 1 - cos (``cosine``), -dot (``ip``)."""
    q = np.asarray(queries, np.float64)
    x = np.asarray(data, np.float64)
    if metric == "l2":
        d2 = (q * q).sum(1)[:, None] - 2 * q @ x.T + (x * x).sum(1)[None, :]
        return np.sqrt(np.maximum(d2, 0))
    if metric == "cosine":
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        return 1.0 - qn @ xn.T
    if metric == "ip":
        return -(q @ x.T)
    raise ValueError(metric)


def brute_force(queries, data, k: int, metric: str = "l2", live=None):
    """Exact top-k: ``(rows[m, k], dists[m, k])`` (rows index ``data``; -1 / inf padded)."""
    d = exact_distances(queries, data, metric)
    if live is not None:
        d[:, ~np.asarray(live, bool)] = np.inf
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(d, order, 1)
    order = np.where(np.isfinite(dist), order, -1)
    if order.shape[1] < k:
        pad = k - order.shape[1]
        order = np.pad(order, ((0, 0), (0, pad)), constant_values=-1)
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
    return order, dist


def recall(found, truth) -> float:
    """Mean fraction of each true top-k row present in the found row (ids or keys)."""
    hits = [len(set(f) & set(t)) / len(t) for f, t in zip(np.asarray(found).tolist(),
                                                           np.asarray(truth).tolist())]
    return float(np.mean(hits))


def subspace_recall(found, truth) -> float:
    """:func:`recall` over every (subspace, query) row of ``[S, m, T]`` worker answers."""
    found, truth = np.asarray(found), np.asarray(truth)
    return recall(found.reshape(-1, found.shape[-1]), truth.reshape(-1, truth.shape[-1]))


# -- files ---------------------------------------------------------------------------------


def tree_digest(root, skip=("work", "LOCK")) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (top-level names in ``skip``
    excluded: ``work/`` is scratch, LOCK is the flock file)."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel == ".":
            dirs[:] = [x for x in dirs if x not in skip]
            files = [f for f in files if f not in skip]
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


# -- fixtures ------------------------------------------------------------------------------

EXACT = InnerParams(kind="exact")
NGT = InnerParams(kind="ngt", threads=1)  # one build thread: deterministic graphs


@pytest.fixture(scope="session")
def data32():
    """3000 x 32 clustered base vectors and 60 queries from the same clusters."""
    return clustered(3000, 32, seed=0), clustered(60, 32, seed=1)


@pytest.fixture(scope="session")
def small16():
    """400 x 16 clustered base vectors and 20 queries."""
    return small_data(), clustered(20, 16, seed=11, n_clusters=8)


@pytest.fixture
def make_index(tmp_path):
    """``make_index(name="idx", **IndexConfig fields)`` -> a fresh Index under tmp_path,
    closed (without saving) at teardown if the test left it open."""
    opened = []

    def make(name: str = "idx", **cfg) -> Index:
        cfg.setdefault("inner", EXACT)
        idx = Index.create(str(tmp_path / name), IndexConfig(**cfg))
        opened.append(idx)
        return idx

    yield make
    for idx in opened:
        idx.close(save=False)  # idempotent: a second close after the test's own is harmless
