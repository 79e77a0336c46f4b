"""Seeded synthetic vectors: the small generators the demo and tests use, and a large dataset
with the structure of real embeddings for the scale series (``make-dataset``).

Large-set model (seeded, so a file is reproducible from its parameters): ``clusters`` centres drawn
from a Gaussian whose per-axis scale decays as ``(j + 1) ** -decay`` (most variance in few
directions, as in text / image embeddings), each point a centre plus a Gaussian with the same
decaying spectrum times ``spread``; everything is then rotated by one random orthogonal
matrix so the spectrum is not axis-aligned. Cluster sizes are Zipf-like (a few big ones).
Queries come from the same model with a different stream. Angular sets are unit-normalised.
Ground truth is exact (``engine.groundtruth``: float32 ranking re-scored in float64).
The file is ann-benchmarks HDF5: ``train``, ``test``, ``neighbors``, ``distances``, attrs.
"""
from __future__ import annotations

import json
import logging

import numpy as np
from tqdm import tqdm

from .datasets import METRICS, exact_ground_truth, normalize

log = logging.getLogger(__name__)


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


CHUNK = 50_000


def parse_shape(spec: str) -> tuple[int, int]:
    """``'1000000x384'`` -> ``(1000000, 384)``."""
    try:
        n, d = (int(x) for x in spec.lower().split("x"))
    except ValueError:
        raise ValueError(f"synthetic shape must look like 1000000x384, got {spec!r}") from None
    if n < 1 or d < 2:
        raise ValueError(f"synthetic shape needs n >= 1 and dim >= 2, got {spec!r}")
    return n, d


class Model:
    """The generating distribution; ``sample(count, rng)`` draws points from it."""

    def __init__(self, dim: int, clusters: int, decay: float, spread: float, seed: int):
        rng = np.random.default_rng(seed)
        self.scale = (np.arange(dim) + 1.0) ** -decay
        self.rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.centres = rng.standard_normal((clusters, dim)) * self.scale
        w = 1.0 / (np.arange(clusters) + 1.0) ** 0.5
        self.weights = w / w.sum()
        self.spread = spread

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        c = rng.choice(len(self.centres), size=count, p=self.weights)
        x = self.centres[c] + rng.standard_normal((count, len(self.scale))) * self.scale * self.spread
        return (x @ self.rotation).astype(np.float32)


def generate(n: int, dim: int, queries: int = 1000, metric: str = "euclidean", seed: int = 0,
             clusters: int | None = None, decay: float = 0.5, spread: float = 0.5):
    """``(train[n, dim], test[queries, dim], params)`` float32, drawn in chunks."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    clusters = clusters or int(np.clip(n // 1000, 16, 1024))
    params = dict(n=n, dim=dim, queries=queries, metric=metric, seed=seed, clusters=clusters,
                  decay=decay, spread=spread)
    model = Model(dim, clusters, decay, spread, seed)
    rng = np.random.default_rng([seed, 1])
    train = np.empty((n, dim), np.float32)
    for a in tqdm(range(0, n, CHUNK), desc="generate", unit="chunk", leave=False):
        train[a: a + CHUNK] = model.sample(min(CHUNK, n - a), rng)
    test = model.sample(queries, np.random.default_rng([seed, 2]))
    if metric == "angular":
        train, test = normalize(train), normalize(test)
    return train, test, params


def write(path: str, n: int, dim: int, queries: int = 1000, metric: str = "euclidean", seed: int = 0,
          k: int = 100, float16: bool = False, **model) -> dict:
    """Generate, compute exact ground truth on the values as stored, write the HDF5 file."""
    import h5py

    train, test, params = generate(n, dim, queries, metric, seed, **model)
    if float16:
        train, test = train.astype(np.float16).astype(np.float32), test.astype(np.float16).astype(np.float32)
    neighbors, distances = exact_ground_truth(train, test, metric, k=min(k, n), progress=True)
    dtype = np.float16 if float16 else np.float32
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = metric
        f.attrs["dimension"] = dim
        f.attrs["point_type"] = "float"
        f.attrs["source"] = "sanny make-dataset synthetic " + json.dumps(params, sort_keys=True)
        f.create_dataset("train", data=train.astype(dtype), chunks=(min(n, 10_000), dim))
        f.create_dataset("test", data=test.astype(dtype))
        f.create_dataset("neighbors", data=neighbors)
        f.create_dataset("distances", data=distances)
    log.info("wrote %s: %d x %d train, %d queries, %s", path, n, dim, queries, metric)
    return params
