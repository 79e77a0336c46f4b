"""The search pipeline of :class:`~sanny.engine.index.Index`, one batch at a time:

project (PCA) -> split and fan out (each worker's top-T per subspace) -> candidates -> exact
re-rank (coordinator vectors, or the workers' partial distances when it keeps none) -> top-k
ids. ``Index.search`` maps the ids to keys. Called under the index lock.

Candidate selection (``candidates``):

- ``union`` — every id any subspace returned (S=1: the one list, no union work);
- ``count`` — SuCo-style collision counting: rank the union by the number of subspace lists a
  candidate is in, then by its summed partial distances, and re-rank only the best ``R``;
- ``lead`` — only subspace 0 (the leading PCA coordinates) searches its graph; the other
  workers score its ``T`` candidates by partial distances, worker by worker in variance order,
  dropping every candidate whose partial sum already exceeds the k-th exact distance of the
  head (``progressive``: exact, same results as scoring all). When the coordinator keeps the
  full vectors and the partials do not add up to the full distance (a reducing PCA), the lead
  candidates go to the coordinator's re-rank instead.

Single queries and small batches (``m <= SMALL_BATCH``) run the whole pipeline with faiss'
OpenMP and BLAS at one thread (``single_threaded``).
"""
from __future__ import annotations

import numpy as np

from sanny.workers import SearchParams
from sanny.workers.errors import InvalidArgument
from sanny.workers.inner import exact_partials
from sanny.workers.kernels import single_threaded

from . import rerank

CANDIDATES = ("union", "count", "lead")


def _worst(ids, d):
    """The largest distance each row returned (0 for an empty row): S=1's ``tau``."""
    worst = np.where(ids >= 0, d, -np.inf).max(axis=1)
    return np.where(np.isfinite(worst), worst, 0.0)


def search_once(ix, q: np.ndarray, k: int, T: int, params: SearchParams, prune: bool,
                candidates: str = "union", R: int = 0, adaptive: bool = True):
    """``(ids[m, k], additive distances[m, k], tau[m])``: ``tau`` bounds the distance of every
    vector no subspace search returned (for the adaptive re-search; None when not asked for
    with one subspace)."""
    cfg, store = ix.config, ix.store
    bounded = prune and ix.pca is not None and cfg.keep_vectors  # the projected bound needs y, r
    if ix.pca is None:
        yq, rq = q, None
    elif bounded:
        yq, rq = ix.pca.project(q)
    else:
        yq, rq = ix.pca.transform_head(q, cfg.space_dim), None
    qs = yq[:, : cfg.space_dim]
    if candidates == "lead":
        return _lead(ix, q, qs, k, T, params, prune)
    cols = ix.query_columns
    parts = ix.fan_out(lambda w, i: w.search(_block(qs, cols[i]), T, params))
    if len(parts) == 1:
        ids, dists = parts[0]
    else:
        ids = np.concatenate([p[0] for p in parts])
        dists = np.concatenate([p[1] for p in parts])
    complete = None  # every row full of live candidates (None: not known)
    if len(ids) == 1:  # one subspace: its list is the candidate set
        cand, lb = ids[0], dists[0]
        live = store.is_live(cand)
        complete = bool(live.all())  # -1 is never live
        if not complete:
            cand, lb = np.where(live, cand, -1), np.where(live, lb, np.inf)
        tau = _worst(ids[0], dists[0]) if adaptive else None
    else:
        cand, lb, tau, count = rerank.union(ids, dists)
        cand[~store.is_live(cand)] = -1
        lb[cand < 0] = np.inf
        if candidates == "count":
            cand, lb = rerank.by_collisions(cand, lb, count, R or T)
    exact_parts = exact_partials(cfg.inner.kind)
    if rq is not None:
        lb = rerank.projected_bound(yq, rq, cand, store.space, store.resid, cfg.metric)
    if cfg.keep_vectors:
        use_bound = prune and (rq is not None or (exact_parts and cfg.metric != "ip"))
        ids, dd, scored = rerank.rerank(q, cand, lb, k, store.vectors, cfg.metric, use_bound, complete)
    else:
        d = sum(ix.fan_out(lambda w, i: w.partial_distances(_block(qs, cols[i]), cand)))
        ids, dd = rerank.top_k(cand, np.asarray(d, np.float32), k)
        scored = None
    union = cand.size if complete else int((cand >= 0).sum())
    ix.record_search(len(q), T, union, union if scored is None else scored)
    return ids, dd, tau


def _block(qs: np.ndarray, cols) -> np.ndarray:
    """The queries' columns one worker receives, C-contiguous (as a gather would give them)."""
    return np.ascontiguousarray(qs) if cols is None else qs[:, cols]


def _lead(ix, q, qs, k, T, params, prune):
    """``candidates='lead'``: worker 0's first subspace finds the candidates; the re-rank is the
    workers' progressive partial distances (exact when the split space is the full space)."""
    cfg, store = ix.config, ix.store
    w0 = ix.workers[0]
    ids, dists = w0.search(qs[:, ix.columns[0]], T, params)
    cand = np.where(store.is_live(ids[0]), ids[0], -1)
    tau = np.full(len(q), np.inf)  # nothing bounds what subspace 0 alone did not return
    additive = cfg.pca_dim in (0, cfg.dim) and cfg.metric != "ip"  # partials sum to the full distance
    if cfg.keep_vectors and not additive:
        out, dd, scored = rerank.rerank(q, cand, None, k, store.vectors, cfg.metric, False)
    else:
        if not additive:
            raise InvalidArgument("candidates", "'lead' without the coordinator's vectors needs partial "
                                  "distances that add up exactly (pca_dim 0 or dim, metric l2/cosine)")
        cols = [qs[:, c] for c in ix.columns]
        score = [lambda c, w=w, x=x: w.partial_distances(x, c) for w, x in zip(ix.workers, cols)]
        g0 = len(ix.layout.groups[0])
        own = dists[0] if g0 == 1 and exact_partials(cfg.inner.kind) else None
        out, dd, scored = rerank.progressive(cand, own, score, k, prune)
    ix.record_search(len(q), T, int((cand >= 0).sum()), scored)
    return out, dd, tau


def search(ix, q: np.ndarray, k: int, T: int, params: SearchParams, prune: bool,
           adaptive: bool = False, T_max: int = 0, candidates: str = "union", R: int = 0):
    """``search_once``; with ``adaptive``, queries whose k-th distance exceeds the bound on
    everything unseen are searched again with doubled T, up to ``T_max``."""
    with single_threaded(len(q)):
        ids, dd, tau = search_once(ix, q, k, T, params, prune, candidates, R, adaptive)
        while adaptive and T < T_max:
            redo = np.nonzero(~(dd[:, -1] <= tau))[0]
            if len(redo) == 0:
                break
            T = min(2 * T, T_max)
            ids[redo], dd[redo], tau[redo] = search_once(ix, q[redo], k, T, params, prune, candidates, R)
    return ids, dd


def user_distance(metric: str, d: np.ndarray) -> np.ndarray:
    """Additive distances -> what users see: L2 (``l2``), 1-cos (``cosine``), -<q,x> (``ip``)."""
    if metric == "l2":
        return np.sqrt(d)
    if metric == "cosine":
        return d / 2
    return d
