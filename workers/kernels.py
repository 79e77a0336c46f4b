"""Top-k and partial-distance kernels shared by the inner indexes and the coordinator's re-rank."""
from __future__ import annotations

import numpy as np

SMALL_BATCH = 4  # up to this many queries per call: per-query NGT search instead of batch_search


def topk_rows(d: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise smallest ``T`` of ``d[m, n]``, sorted; pads with (-1, inf) when n < T."""
    m, n = d.shape
    ids = np.full((m, T), -1, np.int64)
    out = np.full((m, T), np.inf, np.float32)
    t = min(T, n)
    if t == 0:
        return ids, out
    part = np.argpartition(d, t - 1, axis=1)[:, :t] if t < n else np.tile(np.arange(n), (m, 1))
    pd = np.take_along_axis(d, part, axis=1)
    order = np.argsort(pd, axis=1, kind="stable")
    ids[:, :t] = np.take_along_axis(part, order, axis=1)
    out[:, :t] = np.take_along_axis(pd, order, axis=1)
    bad = ~np.isfinite(out)
    ids[bad] = -1
    return ids, out


def partial(metric: str, q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Partial distances of ``q[m, w]`` to gathered ``x[m, C, w]`` -> ``[m, C]``."""
    dot = np.matmul(x, q[:, :, None])[:, :, 0]
    if metric == "ip":
        return -dot
    return np.maximum((x * x).sum(2) - 2 * dot + (q * q).sum(1)[:, None], 0)
