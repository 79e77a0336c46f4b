"""The search pipeline of :class:`~sanny.engine.index.Index`, one batch at a time:

project (PCA) -> split and fan out (each worker's top-T per subspace) -> candidates (union,
lower bounds) -> exact re-rank (coordinator vectors, or the workers' partial distances when it
keeps none) -> top-k ids. ``Index.search`` maps the ids to keys. Called under the index lock.
"""
from __future__ import annotations

import numpy as np

from sanny.workers import SearchParams

from . import rerank


def search_once(ix, q: np.ndarray, k: int, T: int, params: SearchParams, prune: bool):
    """``(ids[m, k], additive distances[m, k], tau[m])``: ``tau`` bounds the distance of every
    vector no subspace search returned (for the adaptive re-search)."""
    cfg, store = ix.config, ix.store
    yq, rq = ix.pca.project(q) if ix.pca is not None else (q, None)
    qs = yq[:, : cfg.space_dim]
    parts = ix.fan_out(lambda w, i: w.search(qs[:, ix.columns[i]], T, params))
    cand, lb, tau = rerank.union(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    cand[~store.is_live(cand)] = -1
    if rq is not None and cfg.keep_vectors:
        lb = rerank.projected_bound(yq, rq, cand, store.space, store.resid, cfg.metric)
    if cfg.keep_vectors:
        exact_lb = ix.pca is not None  # the union bound assumes exact subspace searches
        ids, dd, scored = rerank.rerank(q, cand, lb, k, store.vectors, cfg.metric,
                                        prune and (exact_lb or cfg.metric != "ip"))
    else:
        d = sum(ix.fan_out(lambda w, i: w.partial_distances(qs[:, ix.columns[i]], cand)))
        ids, dd = rerank.top_k(cand, np.asarray(d, np.float32), k)
        scored = int((cand >= 0).sum())
    ix.last_stats = {"queries": len(q), "T": T, "union": int((cand >= 0).sum()), "scored": scored}
    return ids, dd, tau


def search(ix, q: np.ndarray, k: int, T: int, params: SearchParams, prune: bool,
           adaptive: bool = False, T_max: int = 0):
    """``search_once``; with ``adaptive``, queries whose k-th distance exceeds the bound on
    everything unseen are searched again with doubled T, up to ``T_max``."""
    ids, dd, tau = search_once(ix, q, k, T, params, prune)
    while adaptive and T < T_max:
        redo = np.nonzero(~(dd[:, -1] <= tau))[0]
        if len(redo) == 0:
            break
        T = min(2 * T, T_max)
        ids[redo], dd[redo], tau[redo] = search_once(ix, q[redo], k, T, params, prune)
    return ids, dd


def user_distance(metric: str, d: np.ndarray) -> np.ndarray:
    """Additive distances -> what users see: L2 (``l2``), 1-cos (``cosine``), -<q,x> (``ip``)."""
    if metric == "l2":
        return np.sqrt(d)
    if metric == "cosine":
        return d / 2
    return d
