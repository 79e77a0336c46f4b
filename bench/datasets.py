"""ann-benchmarks HDF5 datasets: ``train``, ``test``, ``neighbors``, ``distances``, attr ``distance``.

Vectors may be stored as float16; they are always returned as float32. Angular datasets are
returned unit-normalised (ranks by L2 on the sphere equal ranks by cosine), so every algorithm
can search them with L2; their distances stay ``1 - cos``.

Ground truth is kept *exact*: the file's neighbour lists are re-scored in float64 and
re-sorted (a float32 ``|x|^2 - 2<x,q> + |q|^2`` on un-centred, large-norm features can be off
by far more than the 1e-3 slack of the recall definition). For a train prefix the ground truth
is recomputed (``sanny.engine.groundtruth.exact_knn``: float32 candidates on centred data,
then the same float64 re-scoring).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from sanny.engine.groundtruth import distances_to, exact_knn

log = logging.getLogger(__name__)

METRICS = ("euclidean", "angular")


@dataclass
class Dataset:
    name: str
    train: np.ndarray       # [n, dim] float32 (angular: unit rows)
    test: np.ndarray        # [m, dim] float32 (angular: unit rows)
    neighbors: np.ndarray   # [m, K] int32, exact, sorted
    distances: np.ndarray   # [m, K] float32: L2 (euclidean) or 1 - cos (angular)
    metric: str
    dim: int

    @property
    def n(self) -> int:
        return len(self.train)


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit rows (a zero row stays zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1)).astype(np.float32)


def _rescore(train, test, ids, metric, k):
    d = distances_to(train, test, ids, metric)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return (np.take_along_axis(ids, order, 1).astype(np.int32),
            np.take_along_axis(d, order, 1).astype(np.float32))


def exact_ground_truth(train: np.ndarray, test: np.ndarray, metric: str, k: int = 100,
                       chunk: int = 1000, progress: bool = False):
    """Exact ``(neighbors[m, k] int32, distances[m, k] float32)`` of ``test`` in ``train``,
    ``chunk`` queries at a time (a tqdm bar on stderr with ``progress``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "angular":
        train, test = normalize(train), normalize(test)
    k = min(k, len(train))
    out_i, out_d = [], []
    step = max(1, int(chunk))
    for a in tqdm(range(0, len(test), step), desc="ground truth", unit="chunk", disable=not progress):
        ids, d = exact_knn(train, test[a: a + step], k, metric)
        out_i.append(ids.astype(np.int32))
        out_d.append(d.astype(np.float32))
    return np.concatenate(out_i), np.concatenate(out_d)


def file_metric(f, path: str) -> str:
    """The ``distance`` attribute of an open ann-benchmarks file (euclidean when absent)."""
    metric = f.attrs.get("distance", "euclidean")
    metric = metric.decode() if isinstance(metric, bytes) else str(metric)
    if metric not in METRICS:
        raise ValueError(f"{path}: unsupported distance {metric!r} (supported: {METRICS})")
    return metric


def load(path: str, prefix: int | None = None) -> Dataset:
    """Read an ann-benchmarks file; ``prefix=n`` keeps ``train[:n]`` with new exact ground truth."""
    import h5py

    name = os.path.splitext(os.path.basename(path))[0]
    with h5py.File(path, "r") as f:
        metric = file_metric(f, path)
        full = len(f["train"])
        n = full if prefix is None or prefix >= full else int(prefix)
        if n < 1:
            raise ValueError(f"prefix must be >= 1, got {prefix}")
        train = np.asarray(f["train"][:n], dtype=np.float32)
        test = np.asarray(f["test"], dtype=np.float32)
        neighbors = np.asarray(f["neighbors"], dtype=np.int64) if n == full else None
        file_d = np.asarray(f["distances"], dtype=np.float32) if n == full else None
    if metric == "angular":
        train, test = normalize(train), normalize(test)
    if prefix is not None and prefix >= full:
        log.info("prefix %d >= %d train vectors: using the whole file", prefix, full)
    if prefix is not None:
        name = f"{name}@{n}"
    if n < full:
        log.info("%s: recomputing exact ground truth for %d x %d", name, len(test), n)
        neighbors, distances = exact_ground_truth(train, test, metric)
    else:
        neighbors, distances = _rescore(train, test, neighbors, metric, neighbors.shape[1])
        dev = float(np.nanmax(np.abs(distances - np.sort(file_d, axis=1)))) if file_d.size else 0.0
        if dev > 1e-3:
            log.warning("%s: file distances differ from exact float64 ones by up to %.3g "
                        "(ground truth re-scored exactly)", name, dev)
    return Dataset(name, train, test, neighbors, distances, metric, train.shape[1])
