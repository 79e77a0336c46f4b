"""Seeded synthetic vectors for the demo, the benchmark's tests and the unit tests (one place
for every generator; each call is a pure function of its seeds)."""
from __future__ import annotations

import numpy as np


def clustered(n: int, dim: int, seed: int, n_clusters: int = 20, spread: float = 1.0,
              center_seed: int = 1234) -> np.ndarray:
    """Gaussian blobs around fixed centres (``center_seed``), so data and queries drawn with
    different ``seed`` share the same clusters."""
    centers = np.random.default_rng(center_seed).normal(size=(n_clusters, dim)) * 3.0
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_clusters, n)
    return (centers[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32)


def low_rank(n: int, dim: int, seed: int, latent: int = 4, noise: float = 0.02,
             basis_seed: int = 4321) -> np.ndarray:
    """Points near a ``latent``-dimensional linear subspace of R^dim (low intrinsic dimension)."""
    basis = np.random.default_rng(basis_seed).normal(size=(latent, dim))
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latent))
    return (z @ basis + noise * rng.normal(size=(n, dim))).astype(np.float32)


def make_features(n: int, dim: int, n_test: int = 500, latent: int = 24, clusters: int = 200, seed: int = 0):
    """Clustered points in a ``latent``-dim space, lifted to ``dim`` by a random ReLU layer."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, latent)) * 3
    lift = rng.standard_normal((latent, dim)) / np.sqrt(latent)

    def draw(m):
        z = centres[rng.integers(0, clusters, m)] + rng.standard_normal((m, latent))
        return np.maximum(z @ lift, 0).astype(np.float32) + 0.01 * rng.random((m, dim), np.float32)

    return draw(n), draw(n_test)
