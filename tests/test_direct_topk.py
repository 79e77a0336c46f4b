"""S=1 over the full space with an inner that returns exact distances: the pipeline takes the
inner's top-k directly instead of re-ranking them. Results must equal the exact re-rank of the
same candidates (and, for the exact inner, brute force) for every inner kind and metric; the
re-rank stays wherever it can change a result (PCA, 8-bit codes, S >= 2)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import brute_force, keys_for, recall
from sanny.engine import InnerParams, pipeline, rerank

KINDS = ["hnsw", "symqg", "ngt", "exact"]
METRICS = ["l2", "cosine", "ip"]
K, T = 10, 24


def _data(dim=32, n=700, m=12, seed=3):
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((8, dim)).astype(np.float32)
    X = (rng.standard_normal((n, 8)) @ basis + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)
    Q = (rng.standard_normal((m, 8)) @ basis + 0.3 * rng.standard_normal((m, dim))).astype(np.float32)
    return X, Q


def _index(make_index, kind, metric, X, **cfg):
    idx = make_index(dim=X.shape[1], metric=metric, inner=InnerParams(kind=kind, hnsw_M=8), **cfg)
    if idx.config.needs_training:
        idx.train(X)
    idx.insert(keys_for(len(X)), X)
    idx.build()
    return idx


def _reranked(idx, Q, k, T):
    """What the re-rank path gives for the same candidates: the worker's list, live ids only,
    exact distances from the coordinator's vectors (as the pipeline did before)."""
    q = idx.prepare_queries(Q).x
    ids, _ = idx.workers[0].search(q, T, idx._search_params(idx.config.epsilon, 0))
    cand = np.where(idx.store.is_live(ids[0]), ids[0], -1)
    out, dd, _ = rerank.rerank(q, cand, None, k, idx.store.vectors, idx.config.metric, False)
    return out, pipeline.user_distance(idx.config.metric, dd)


def _same(a_ids, a_d, b_ids, b_d):
    """Same ids in the same order, distances equal up to float32 rounding (the inner and faiss'
    re-rank sum in different orders); a swap is allowed only between near-ties."""
    np.testing.assert_allclose(a_d, b_d, rtol=1e-4, atol=1e-4)
    differ = a_ids != b_ids
    assert differ.mean() <= 0.02, differ.mean()
    for r, c in zip(*np.nonzero(differ)):  # only a tie may change places
        assert abs(a_d[r, c] - b_d[r, c]) <= 1e-4


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", KINDS)
def test_direct_top_k_equals_rerank(make_index, kind, metric):
    X, Q = _data()
    idx = _index(make_index, kind, metric, X)
    got_ids, got_d = idx.search_ids(Q, K, T=T)
    assert idx.last_stats["scored"] == 0  # nothing was re-scored
    _same(got_ids, got_d, *_reranked(idx, Q, K, T))
    one = [idx.search_ids(q, K, T=T) for q in Q]  # single queries: the same rows
    np.testing.assert_array_equal(np.concatenate([o[0] for o in one]), got_ids)
    if kind == "exact":  # the oracle: the direct answer is the true top-k
        gt, gd = brute_force(Q, X, K, metric)
        np.testing.assert_array_equal(got_ids, gt)
        np.testing.assert_allclose(got_d, gd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["hnsw", "symqg", "exact"])
def test_direct_top_k_after_removes(make_index, kind):
    """Removed ids among the inner's rows: the live ones are selected again, never a removed one."""
    X, Q = _data(seed=5)
    idx = _index(make_index, kind, "l2", X)
    gt, _ = brute_force(Q, X, K)
    gone = np.unique(gt[:, :3])
    idx.remove([f"k{i}" for i in gone])
    got_ids, got_d = idx.search_ids(Q, K, T=T)
    assert not np.isin(got_ids, gone).any() and (got_ids >= 0).all()
    _same(got_ids, got_d, *_reranked(idx, Q, K, T))
    live = np.ones(len(X), bool)
    live[gone] = False
    if kind == "exact":
        np.testing.assert_array_equal(got_ids, brute_force(Q, X, K, "l2", live)[0])


def test_direct_keeps_vectors_off(make_index):
    """keep_vectors=False, S=1: no partial-distance round trip either; same answer as with them."""
    X, Q = _data(seed=6)
    a = _index(make_index, "exact", "l2", X, keep_vectors=False, name="a")
    ids, d = a.search_ids(Q, K, T=T)
    gt, gd = brute_force(Q, X, K)
    np.testing.assert_array_equal(ids, gt)
    np.testing.assert_allclose(d, gd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cfg", [{"kind": "hnsw_sq"}, {"kind": "hnsw", "pca_dim": 16}, {"kind": "exact", "S": 2}])
def test_rerank_kept_where_it_changes_results(make_index, cfg):
    """8-bit codes, a reducing PCA and a split still go through the exact re-rank."""
    X, Q = _data(seed=7)
    cfg = dict(cfg)
    idx = _index(make_index, cfg.pop("kind"), "l2", X, **cfg)
    ids, d = idx.search_ids(Q, K, T=T)
    assert idx.last_stats["scored"] > 0
    gt, _ = brute_force(Q, X, K)
    assert recall(ids, gt) >= 0.8  # T=24 of 700 rows, re-ranked exactly
    exact = np.sqrt(((Q[:, None, :] - X[np.maximum(ids, 0)]) ** 2).sum(-1))
    np.testing.assert_allclose(d, exact, rtol=1e-4, atol=1e-4)  # distances are the exact ones


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rows", [1, 7])
def test_cosine_queries_checked_in_one_pass(make_index, bad, rows):
    """Cosine queries skip the separate NaN/Inf pass; the norm check still names the row."""
    from sanny.workers.errors import InvalidArgument

    X, Q = _data(seed=8)
    idx = _index(make_index, "exact", "cosine", X)
    q = Q[:rows].copy()
    q[rows - 1, 3] = bad
    with pytest.raises(InvalidArgument, match=f"row {rows - 1} contains NaN or Inf"):
        idx.search_ids(q, K)
    q[rows - 1] = 0
    with pytest.raises(InvalidArgument, match=f"row {rows - 1} is a zero vector"):
        idx.search_ids(q, K)


@pytest.mark.parametrize("kind", ["hnsw", "symqg"])
def test_direct_top_k_from_the_exact_growing_rows(make_index, kind):
    """Before any build the rows live in the exact growing segment (BLAS selection, distances
    re-scored from differences): large norms make near ties that the BLAS order gets wrong;
    the direct path still returns the exact top-k in order, as the re-rank does."""
    X, Q = _data(seed=9)
    # small spread on a huge offset: |x|^2 - 2xq + |q|^2 loses most digits in float32, so the
    # scan's order is far from the re-scored distances' order
    X, Q = X * 3 + 3e4, Q * 3 + 3e4
    idx = make_index(dim=X.shape[1], metric="l2", inner=InnerParams(kind=kind, hnsw_M=8))
    idx.insert(keys_for(len(X)), X)  # no build: nothing sealed
    q = idx.prepare_queries(Q).x
    raw = idx.workers[0].search(q, 3 * K, idx._search_params(idx.config.epsilon, 0))[1][0]
    assert (np.diff(raw, axis=1) < 0).any()  # the inner's list is out of order here
    for T in (K, 3 * K):
        got_ids, got_d = idx.search_ids(Q, K, T=T)
        assert (np.diff(got_d, axis=1) >= 0).all()
        want_ids, want_d = _reranked(idx, Q, K, T)
        np.testing.assert_array_equal(np.sort(got_ids, 1), np.sort(want_ids, 1))
        np.testing.assert_allclose(got_d, want_d, rtol=1e-6)
