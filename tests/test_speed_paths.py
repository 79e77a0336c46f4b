"""The fast search paths: the faiss inner indexes (``hnsw``, ``hnsw_sq``), NGT bulk insert,
candidate selection (``count``, ``lead`` with the progressive exact re-rank), T below k for
splits, ``auto_pca_dim``, the one-call re-rank, and the single-thread guard of small batches."""
from __future__ import annotations

import faiss
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from conftest import brute_force, clustered, keys_for, low_rank, recall
from sanny.engine import InnerParams, rerank
from sanny.engine.config import IndexConfig, auto_pca_dim
from sanny.workers.errors import InvalidArgument
from sanny.workers.kernels import SMALL_BATCH

HNSW = InnerParams(kind="hnsw")


def _build(make_index, X, **cfg):
    idx = make_index(dim=X.shape[1], **cfg)
    if idx.config.needs_training:
        idx.train(X)
    idx.insert(keys_for(len(X)), X)
    idx.build()
    return idx


@pytest.mark.parametrize("kind", ["hnsw", "hnsw_sq"])
def test_faiss_inner_recall_and_reopen(make_index, data32, kind):
    X, Q = data32
    idx = _build(make_index, X, S=1, inner=InnerParams(kind=kind))
    ids, d = idx.search_ids(Q, 10, T=64)
    gt, gd = brute_force(Q, X, 10)
    assert recall(ids, gt) >= 0.95
    np.testing.assert_allclose(d[:, 0], gd[:, 0], rtol=1e-4, atol=1e-4)  # exact re-rank: true distances
    idx.remove(keys_for(5))  # masked in the graph, never returned
    ids2, _ = idx.search_ids(Q, 10, T=64)
    assert not np.isin(ids2, np.arange(5)).any()
    root = idx.root
    idx.close()
    again = type(idx).open(root)
    try:
        np.testing.assert_array_equal(again.search_ids(Q, 10, T=64)[0], ids2)
    finally:
        again.close(save=False)


def test_ngt_bulk_insert_maps_ids_after_removes(make_index):
    """batch_insert returns no ids: the mapping must survive removed slots (NGT reuses them
    for single inserts, not for bulk appends)."""
    X = clustered(600, 16, seed=3)
    idx = make_index(dim=16, S=1, inner=InnerParams(kind="ngt", threads=1))
    idx.insert(keys_for(300), X[:300])
    idx.build()
    idx.remove(keys_for(20, start=100))
    idx.insert(keys_for(300, start=300), X[300:])
    idx.build()
    keys, _ = idx.search(X[300:], 1, T=20)
    assert (keys[:, 0] == np.array(keys_for(300, start=300))).mean() >= 0.99
    gone, _ = idx.search(X[100:120], 10, T=20)
    assert not np.isin(gone, keys_for(20, start=100)).any()


def test_progressive_equals_full_sum():
    rng = np.random.default_rng(5)
    m, T, k = 30, 40, 10
    cand = rng.permutation(5000)[: m * T].reshape(m, T).astype(np.int64)
    cand[3, 35:] = -1
    scale = np.array([8.0, 3.0, 1.0, 0.3])  # decaying variance: pruning must happen
    parts = [rng.random((5000,)).astype(np.float32) * s for s in scale]
    scorers = [lambda c, p=p: np.where(c >= 0, p[np.maximum(c, 0)], np.inf).astype(np.float32) for p in parts]
    full_ids, full_d, full_n = rerank.progressive(cand, None, scorers, k, prune=False)
    ids, d, n = rerank.progressive(cand, None, scorers, k, prune=True)
    np.testing.assert_array_equal(ids, full_ids)
    np.testing.assert_array_equal(d, full_d)
    assert n < full_n


def test_lead_split_exact_and_identical_to_unpruned(make_index):
    X, Q = low_rank(2000, 32, seed=7), low_rank(25, 32, seed=8)
    idx = _build(make_index, X, S=4, pca_dim=32, keep_vectors=False, inner=HNSW)
    pruned, dp = idx.search_ids(Q, 10, T=40, candidates="lead", prune=True)
    scored = idx.last_stats["scored"]
    full, df = idx.search_ids(Q, 10, T=40, candidates="lead", prune=False)
    np.testing.assert_array_equal(pruned, full)
    np.testing.assert_array_equal(dp, df)
    assert scored < idx.last_stats["scored"]
    gt, _ = brute_force(Q, X, 10)
    assert recall(full, gt) >= 0.9


def test_lead_needs_exact_partials_without_vectors(make_index):
    X = low_rank(300, 16, seed=9)
    idx = _build(make_index, X, S=2, pca_dim=8, inner=HNSW)  # coordinator re-rank: allowed
    assert idx.search_ids(X[:3], 5, T=10, candidates="lead")[0].shape == (3, 5)
    with pytest.raises(InvalidArgument, match="candidates"):
        idx.search_ids(X[:3], 5, candidates="most")


def test_collision_count_keeps_most_seen():
    cand = np.array([[5, 6, 7, -1]])
    lb = np.array([[1.0, 0.5, 0.2, np.inf]])
    count = np.array([[2, 1, 2, 0]])
    c, b = rerank.by_collisions(cand, lb, count, 2)
    np.testing.assert_array_equal(c, [[7, 5]])  # count 2 first, then the smaller summed partials
    np.testing.assert_array_equal(b, [[0.2, 1.0]])


def test_count_mode_rerranks_R(make_index, data32):
    X, Q = data32
    idx = _build(make_index, X, S=4)
    ids, _ = idx.search_ids(Q, 10, T=30, candidates="count", R=25)
    assert idx.last_stats["union"] <= 25 * len(Q) and ids.shape == (len(Q), 10)  # summed over queries
    gt, _ = brute_force(Q, X, 10)
    assert recall(ids, gt) >= 0.7
    wide, _ = idx.search_ids(Q, 10, T=30, candidates="count", R=4 * 30)  # R >= union: same as union
    np.testing.assert_array_equal(wide, idx.search_ids(Q, 10, T=30)[0])


def test_T_below_k_when_union_can_fill(make_index, data32):
    X, Q = data32
    idx = _build(make_index, X, S=4)
    ids, _ = idx.search_ids(Q, 10, T=3)
    assert (ids >= 0).all()
    with pytest.raises(InvalidArgument, match="T"):
        idx.search_ids(Q, 10, T=2)


def test_auto_pca_dim():
    assert auto_pca_dim(64) == 0
    assert auto_pca_dim(384) == 128
    assert auto_pca_dim(2048) == 192
    assert IndexConfig(dim=384, pca_dim=-1).pca_dim == 128


def test_exact_top_k_every_row():
    """faiss' knn_L2sqr_by_idx mis-reads rows after the first unless ld_ids is passed."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 24)).astype(np.float32)
    q = rng.standard_normal((6, 24)).astype(np.float32)
    cand = np.stack([rng.permutation(500)[:30] for _ in range(6)]).astype(np.int64)
    for metric in ("l2", "ip"):
        ids, d = rerank.exact_top_k(q, cand, 5, X, metric)
        ref_ids, ref_d = rerank.top_k(cand, rerank.score(q, cand, X, metric), 5)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_allclose(d, ref_d, rtol=1e-5)


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.parametrize("kind", ["hnsw", "exact"])
def test_small_batches_never_use_thread_pools(make_index, data32, monkeypatch, kind):
    """Inside the kernels of a search of m <= SMALL_BATCH queries, faiss' OpenMP and every BLAS
    are limited to one thread; larger batches keep the process setting; both restored after."""
    X, Q = data32
    idx = _build(make_index, X, S=1, pca_dim=16, inner=InnerParams(kind=kind))
    seen = []
    real = faiss.knn_L2sqr_by_idx

    def spy(*a):
        seen.append((faiss.omp_get_max_threads(), _blas_threads()))
        return real(*a)

    monkeypatch.setattr(faiss, "knn_L2sqr_by_idx", spy)
    faiss.omp_set_num_threads(2)
    before = _blas_threads()
    for m in (1, SMALL_BATCH):
        idx.search_ids(Q[:m], 10, T=20)
        omp, blas = seen.pop()
        assert omp == 1 and all(n == 1 for n in blas)
    idx.search_ids(Q[: SMALL_BATCH + 1], 10, T=20)
    assert seen.pop() == (2, before)
    assert faiss.omp_get_max_threads() == 2 and _blas_threads() == before
