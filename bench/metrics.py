"""Measurements: recall@k (ann-benchmarks' distance-threshold definition) and process memory."""
from __future__ import annotations

import ctypes
import gc
import logging

import numpy as np

from sanny.engine.groundtruth import SLACK
from sanny.engine.groundtruth import recall_per_query as recall_per_query_of

from .datasets import Dataset, distances_to
from .procs import status_bytes

log = logging.getLogger(__name__)

EPSILON = SLACK  # ann-benchmarks' slack on the k-th true distance (engine.groundtruth)


def recall_per_query(ds: Dataset, ids: np.ndarray, k: int) -> np.ndarray:
    """Fraction of the ``k`` returned ids whose true distance is within the k-th true distance
    (+1e-3). Distances are recomputed from ``ds.train``; -1 and repeated ids count for nothing."""
    ids = np.asarray(ids, np.int64)[:, :k]
    if ids.shape[0] != len(ds.test):
        raise ValueError(f"{ids.shape[0]} result rows for {len(ds.test)} queries")
    ids = np.where((ids >= 0) & (ids < ds.n), ids, -1)
    order = np.argsort(ids, axis=1, kind="stable")
    s = np.take_along_axis(ids, order, 1)
    first = np.ones_like(s, bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    s = np.where(first, s, -1)
    d = distances_to(ds.train, ds.test, s, ds.metric)
    return recall_per_query_of(d, ds.distances[:, k - 1], k)


def recall(ds: Dataset, ids: np.ndarray, k: int = 10) -> float:
    return float(recall_per_query(ds, ids, k).mean())


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so
    RSS differences reflect live memory rather than what the allocator keeps cached."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim unavailable; RSS includes allocator caches")


def rss_bytes() -> int | None:
    return status_bytes("VmRSS")


def reset_peak() -> bool:
    """Reset the peak-RSS counter (``VmHWM``); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int | None:
    return status_bytes("VmHWM")
