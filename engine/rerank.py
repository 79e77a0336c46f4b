"""Union of the subspace candidate lists and the exact re-rank (an ``IndexRefine`` step).

All distances here are additive ones: squared L2 (``l2``, ``cosine``) or ``-<q,x>`` (``ip``).

Threshold bound (Fagin-style): with ``tau_s`` the worst distance subspace ``s`` returned, a
candidate's lower bound is its returned partials plus ``tau_s`` for each subspace that did not
return it, and anything outside the union is at least ``sum_s tau_s`` away. The re-rank first
scores the ``k`` candidates with the best bounds, then only those whose bound is below the
k-th exact distance found so far. Everything is vectorised across queries: no Python loop per
candidate or per query.
"""
from __future__ import annotations

import numpy as np

from sanny.workers.kernels import single_threaded, topk_rows



def union(ids: np.ndarray, dists: np.ndarray):
    """``ids, dists[S, m, T]`` -> ``cand[m, C]`` (-1 padded), ``lb[m, C]``, ``tau_total[m]``,
    ``count[m, C]`` (in how many subspace lists each candidate is: its collision count)."""
    S, m, T = ids.shape
    valid = ids >= 0
    worst = np.where(valid, dists, -np.inf).max(axis=2)          # [S, m]
    tau = np.where(np.isfinite(worst), worst, 0.0).astype(np.float64)
    delta = np.where(valid, dists - tau[:, :, None], 0.0)
    flat_ids = ids.transpose(1, 0, 2).reshape(m, S * T)
    flat_delta = delta.transpose(1, 0, 2).reshape(m, S * T)
    order = np.argsort(flat_ids, axis=1, kind="stable")
    sid = np.take_along_axis(flat_ids, order, 1)
    sdelta = np.take_along_axis(flat_delta, order, 1)
    ok = sid >= 0
    new = ok.copy()
    new[:, 1:] &= sid[:, 1:] != sid[:, :-1]
    grp = np.cumsum(new, axis=1) - 1
    C = max(int(new.sum(1).max()) if m else 0, 1)
    rows = np.broadcast_to(np.arange(m)[:, None], sid.shape)
    cand = np.full((m, C), -1, np.int64)
    cand[rows[new], grp[new]] = sid[new]
    flat = (rows[ok] * C + grp[ok]).ravel()
    lbsum = np.bincount(flat, weights=sdelta[ok].ravel(), minlength=m * C).reshape(m, C)
    tau_total = tau.sum(0)
    lb = tau_total[:, None] + lbsum
    lb[cand < 0] = np.inf
    count = np.bincount(flat, minlength=m * C).reshape(m, C)
    return cand, lb, tau_total, count


def by_collisions(cand: np.ndarray, lb: np.ndarray, count: np.ndarray, R: int):
    """SuCo-style selection: the ``R`` candidates per row seen by the most subspaces, ties
    broken by the summed partial distances (the union bound ``lb``). Returns ``(cand, lb)``."""
    if cand.shape[1] <= R:
        return cand, lb
    key = np.where(cand >= 0, -count, 1)  # missing ones last
    order = np.lexsort((lb, key), axis=1)[:, :R]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(lb, order, 1)


def projected_bound(y_q, r_q, cand, space, resid, metric) -> np.ndarray:
    """Exact lower bound of the full distance from reduced vectors + residual norms (see PCA.project)."""
    red = score(y_q, cand, space, metric).astype(np.float64)
    rs = resid[np.maximum(cand, 0)]
    lb = red - r_q[:, None] * rs if metric == "ip" else red + (r_q[:, None] - rs) ** 2
    # float32 rounding in the full-dim score can undercut the bound by a hair: keep it safe
    ok = cand >= 0  # missing candidates score inf: keep them inf, not inf - inf
    lb[ok] -= 1e-5 * np.abs(lb[ok]) + 1e-6
    lb[~ok] = np.inf
    return lb


def score(q: np.ndarray, cand: np.ndarray, vectors: np.ndarray, metric: str) -> np.ndarray:
    """Exact distances of ``q[m, d]`` to ``cand[m, C]`` (inf where -1).

    faiss' ``fvec_*_by_idx`` reads the candidates straight from the store (SIMD, no gathered
    copy: ~4x numpy's gather-subtract on 2048-d) and computes L2 from differences, not
    ``|x|^2 - 2x.q + |q|^2``, whose float32 cancellation on CNN features (norms ~1e3) would cap
    recall below 1. A few queries run single-threaded (no OpenMP wake-up)."""
    import faiss

    m, C = cand.shape
    out = np.empty((m, C), np.float32)
    if m and C:
        safe = np.ascontiguousarray(np.maximum(cand, 0), dtype=np.int64)
        q = np.ascontiguousarray(q, dtype=np.float32)
        fn = faiss.fvec_inner_products_by_idx if metric == "ip" else faiss.fvec_L2sqr_by_idx
        with single_threaded(m):
            fn(faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(vectors), faiss.swig_ptr(safe),
               q.shape[1], m, C)
        if metric == "ip":
            np.negative(out, out=out)
    out[cand < 0] = np.inf
    return out


def score_pairs(q: np.ndarray, rows: np.ndarray, ids: np.ndarray, vectors, metric) -> np.ndarray:
    """Exact distances for scattered (query row, id) pairs, read in place by faiss."""
    import faiss

    out = np.empty(len(ids), np.float32)
    if len(ids):
        q = np.ascontiguousarray(q, dtype=np.float32)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        fn = faiss.pairwise_indexed_inner_product if metric == "ip" else faiss.pairwise_indexed_L2sqr
        with single_threaded(len(q)):
            fn(q.shape[1], len(ids), faiss.swig_ptr(q), faiss.swig_ptr(rows), faiss.swig_ptr(vectors),
               faiss.swig_ptr(ids), faiss.swig_ptr(out))
        if metric == "ip":
            np.negative(out, out=out)
    return out


def exact_top_k(q: np.ndarray, cand: np.ndarray, k: int, vectors: np.ndarray, metric: str):
    """Top-``k`` of complete candidate rows (no -1) in one faiss call (distances and the
    selection in C++): the whole re-rank of a single-graph search."""
    import faiss

    m, C = cand.shape
    D = np.empty((m, k), np.float32)
    ids = np.empty((m, k), np.int64)
    q = np.ascontiguousarray(q, np.float32)
    cand = np.ascontiguousarray(cand, np.int64)
    fn = faiss.knn_inner_products_by_idx if metric == "ip" else faiss.knn_L2sqr_by_idx
    with single_threaded(m):
        # ld_ids must be given: faiss 1.15's default (-1) mis-reads every row after the first
        fn(faiss.swig_ptr(q), faiss.swig_ptr(vectors), faiss.swig_ptr(cand), q.shape[1], m, len(vectors),
           C, k, faiss.swig_ptr(D), faiss.swig_ptr(ids), C)
    if metric == "ip":
        np.negative(D, out=D)
    return ids, D


def top_k(cand: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` candidates of each row with the smallest ``d``: ``(ids, dists)``, -1/inf padded."""
    pos, dd = topk_rows(d, k)
    return np.where(pos >= 0, np.take_along_axis(cand, np.maximum(pos, 0), 1), -1), dd


def rerank(q, cand, lb, k, vectors, metric, prune=True, complete=None):
    """Top-``k`` of the union by exact distance. Returns ``ids[m,k]``, ``dists[m,k]``, #scored.
    Without pruning, complete rows (S=1, nothing removed) take ``exact_top_k``'s single call;
    the bound pays only for wide candidate sets (measured: never at T <= 64 with S=1).
    ``complete``: the caller knows whether every entry of ``cand`` is a candidate (no -1)."""
    m, C = cand.shape
    if not prune or C <= k:
        if complete is None:
            complete = bool(m) and bool((cand >= 0).all())
        if C >= k and m and complete:
            out, dd = exact_top_k(q, cand, k, vectors, metric)
            return out, dd, m * C
        out, dd = top_k(cand, score(q, cand, vectors, metric), k)
        return out, dd, m * C if complete else int((cand >= 0).sum())
    order = np.argsort(lb, axis=1, kind="stable")
    cand, lb = np.take_along_axis(cand, order, 1), np.take_along_axis(lb, order, 1)
    d = np.full((m, C), np.inf, np.float32)
    d[:, :k] = score(q, cand[:, :k], vectors, metric)
    theta = np.sort(d[:, :k], axis=1)[:, k - 1]
    mask = (lb[:, k:] < theta[:, None]) & (cand[:, k:] >= 0)
    r, c = np.nonzero(mask)
    d[r, c + k] = score_pairs(q, r, cand[r, c + k], vectors, metric)
    out, dd = top_k(cand, d, k)
    return out, dd, int((cand[:, :k] >= 0).sum() + len(r))


def progressive(cand: np.ndarray, first: np.ndarray | None, scorers: list, k: int, prune: bool = True):
    """Exact top-``k`` of ``cand[m, T]`` from partial distances that add up to the full one
    (squared L2: every partial >= 0, so a running sum is a lower bound).

    ``scorers[w](ids[m, C]) -> partials[m, C]`` (inf for -1), in variance order; ``first``:
    scorer 0's partials when they came with the candidates. With ``prune`` (Panorama-style):
    the ``k`` best after scorer 0 are scored completely, their worst exact distance ``theta``
    bounds the k-th; every later scorer gets only the survivors whose running sum is still
    ``<= theta`` (compacted to the left). Same additions in the same order as the unpruned
    sum, so results are identical. Returns ``ids[m, k]``, ``dists[m, k]``, #partials computed."""
    m, T = cand.shape
    acc = (scorers[0](cand) if first is None else first).astype(np.float32, copy=True)
    acc[cand < 0] = np.inf
    done = m * T
    rest = scorers[1:]
    if not prune or T <= k or not rest:
        for f in rest:
            acc += f(cand)
        ids, dd = top_k(cand, acc, k)
        return ids, dd, done * (1 + len(rest))
    order = np.argsort(acc, axis=1, kind="stable")
    cand, acc = np.take_along_axis(cand, order, 1), np.take_along_axis(acc, order, 1)
    head, hd = cand[:, :k], acc[:, :k].copy()
    for f in rest:
        hd += f(head)
    done += m * k * len(rest)
    theta = hd.max(axis=1)  # worst of k exact distances >= the true k-th (inf if a row is short)
    tail, ta = cand[:, k:], acc[:, k:].copy()
    alive = (tail >= 0) & (ta <= theta[:, None])
    for f in rest:
        width = int(alive.sum(axis=1).max()) if m else 0
        if width == 0:
            break
        cols = np.argsort(~alive, axis=1, kind="stable")[:, :width]
        sub_alive = np.take_along_axis(alive, cols, 1)
        sub = np.where(sub_alive, np.take_along_axis(tail, cols, 1), -1)
        part = np.where(sub_alive, f(sub), 0).astype(np.float32)
        np.put_along_axis(ta, cols, np.take_along_axis(ta, cols, 1) + part, 1)
        done += int(sub_alive.sum())
        alive &= ta <= theta[:, None]
    ta[~alive] = np.inf
    ids, dd = top_k(np.concatenate([head, tail], 1), np.concatenate([hd, ta], 1), k)
    return ids, dd, done
