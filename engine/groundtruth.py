"""Exact nearest neighbours and recall@k: one definition for tune, the demo and the benchmark.

Recall follows ann-benchmarks: a returned item counts when its exact distance is within the
k-th true distance plus ``SLACK`` (so ties at rank k do not cost recall). Distances are the
users' (``l2``: Euclidean, ``cosine``: 1 - cos on unit rows, ``ip``: -<q, x>); ann-benchmarks'
``euclidean`` / ``angular`` are accepted as ``l2`` / ``cosine``.

Exactness: a float32 ``|x|^2 - 2<x,q> + |q|^2`` on un-centred, long vectors can be off by far
more than the slack, so candidates come from float32 products on centred data (a ranking
only) and the best ``k + RESCORE`` of them are re-scored in float64 from differences.
"""
from __future__ import annotations

import numpy as np

SLACK = 1e-3    # ann-benchmarks' slack on the k-th true distance
RESCORE = 20    # extra float32 candidates re-scored exactly, for near-ties around rank k
_ALIASES = {"euclidean": "l2", "angular": "cosine"}


def _metric(metric: str) -> str:
    m = _ALIASES.get(metric, metric)
    if m not in ("l2", "cosine", "ip"):
        raise ValueError(f"metric must be l2, cosine, ip, euclidean or angular, got {metric!r}")
    return m


def distances_to(data: np.ndarray, q: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """Exact float64 distances of ``q[m, d]`` to ``data[ids[m, c]]`` (inf where id < 0).
    ``cosine`` expects unit rows."""
    metric = _metric(metric)
    out = np.full(ids.shape, np.inf)
    if ids.size == 0:
        return out
    step = max(1, (32 << 20) // max(1, ids.shape[1] * q.shape[1] * 8))
    for a in range(0, len(q), step):
        i = ids[a: a + step]
        x = data[np.maximum(i, 0)].astype(np.float64)
        qa = q[a: a + step, None, :].astype(np.float64)
        if metric == "cosine":
            d = 1.0 - (x * qa).sum(-1)
        elif metric == "ip":
            d = -(x * qa).sum(-1)
        else:
            d = np.sqrt(((x - qa) ** 2).sum(-1))
        out[a: a + step] = np.where(i >= 0, d, np.inf)
    return out


def exact_knn(data: np.ndarray, queries: np.ndarray, k: int, metric: str, live: np.ndarray | None = None,
              exclude: np.ndarray | None = None, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(ids[m, k] int64, distances[m, k] float64)`` of ``queries`` in ``data`` (sorted;
    -1 / inf padded). ``live``: rows that count; ``exclude[m]``: one row per query left out
    (e.g. the query's own id when stored vectors are used as queries)."""
    metric = _metric(metric)
    x = np.asarray(data, np.float32)
    q = np.asarray(queries, np.float32)
    n = len(x)
    k = int(k)
    ids_out = np.full((len(q), k), -1, np.int64)
    d_out = np.full((len(q), k), np.inf)
    if n == 0 or k == 0:
        return ids_out, d_out
    mu = x.mean(0, dtype=np.float64).astype(np.float32) if metric != "ip" else np.zeros(x.shape[1], np.float32)
    xc = x - mu
    norms = (xc * xc).sum(1)
    c = min(k + RESCORE, n)
    for a in range(0, len(q), block):
        qa = q[a: a + block] - mu
        dot = qa @ xc.T
        d = -dot if metric == "ip" else norms - 2 * dot  # a ranking per query (|q|^2 dropped)
        if live is not None:
            d[:, ~np.asarray(live, bool)[:n]] = np.inf
        if exclude is not None:
            d[np.arange(len(qa)), exclude[a: a + block]] = np.inf
        top = np.argpartition(d, c - 1, axis=1)[:, :c] if c < n else np.tile(np.arange(n), (len(qa), 1))
        top = np.where(np.isfinite(np.take_along_axis(d, top, 1)), top, -1)
        ex = distances_to(x, q[a: a + block], top, metric)
        order = np.argsort(ex, axis=1, kind="stable")[:, :k]
        got_d = np.take_along_axis(ex, order, 1)
        got = np.where(np.isfinite(got_d), np.take_along_axis(top, order, 1), -1)
        ids_out[a: a + block, : got.shape[1]] = got
        d_out[a: a + block, : got.shape[1]] = got_d
    return ids_out, d_out


def hits(found: np.ndarray, kth: np.ndarray) -> np.ndarray:
    """``found[m, k]`` exact distances of returned items (inf: none) within ``kth[m]`` + SLACK."""
    return np.asarray(found, np.float64) <= np.asarray(kth, np.float64)[:, None] + SLACK


def recall_per_query(found: np.ndarray, kth: np.ndarray, k: int) -> np.ndarray:
    """Fraction of the ``k`` returned items that are true neighbours (see ``hits``)."""
    return hits(np.asarray(found)[:, :k], kth).sum(1) / k
