"""PCA before the split: rotation, reduction, training rules, balanced assignment."""
import os

import numpy as np
import pytest

from sanny.engine import Index, InvalidArgument
from sanny.engine.pca import PCA

from conftest import NGT, brute_force, clustered, keys_for, low_rank, recall

K = 10


def _trained(make_index, X, sample=None, name="idx", **cfg):
    idx = make_index(name, dim=X.shape[1], **cfg)
    assert not idx.trained
    idx.train(X if sample is None else sample)
    assert idx.trained
    idx.insert(keys_for(len(X)), X)
    return idx


@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_full_dim_pca_is_a_rotation(make_index, metric):
    """pca_dim == dim preserves every distance: with an exact inner index the results are the
    plain (no PCA) exact ones, within float32 tolerance."""
    X, Q = clustered(1200, 24, seed=40, n_clusters=10), clustered(30, 24, seed=41, n_clusters=10)
    plain = make_index("plain", dim=24, S=3, metric=metric, T=200)
    plain.insert(keys_for(len(X)), X)
    rot = _trained(make_index, X, name="rot", S=3, metric=metric, T=200, pca_dim=24)
    p_ids, p_d = plain.search_ids(Q, K)
    r_ids, r_d = rot.search_ids(Q, K)
    gt, gd = brute_force(Q, X, K, metric)
    assert recall(r_ids, p_ids) == 1.0 and recall(r_ids, gt) == 1.0
    np.testing.assert_allclose(r_d, p_d, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r_d, gd, rtol=1e-4, atol=1e-3)


def test_rotation_concentrates_variance_in_leading_columns(make_index):
    """After PCA the contiguous split puts the high-variance components in subspace 0: the
    searched coordinates of the data have decreasing variance."""
    X = low_rank(800, 16, seed=42, latent=3, noise=0.05)
    idx = _trained(make_index, X, S=2, pca_dim=16)
    y = idx.pca.transform(X)
    v = y.var(0)
    assert (np.diff(v) <= 1e-3).all()
    assert v[:3].sum() / v.sum() > 0.95
    # distances are preserved by the rotation
    np.testing.assert_allclose(np.linalg.norm(y[0] - y[1]), np.linalg.norm(X[0] - X[1]), rtol=1e-4)


@pytest.mark.parametrize("S", [1, 2])
def test_reduced_pca_recall(make_index, S):
    """Data near a 4-d subspace of R^64: searching 8 PCA dims finds the true neighbours
    (the re-rank still uses the full 64-d vectors, so distances are exact)."""
    X, Q = low_rank(2000, 64, seed=43, latent=4, noise=0.02), low_rank(40, 64, seed=44, latent=4,
                                                                          noise=0.02)
    idx = _trained(make_index, X, sample=X[:500], S=S, pca_dim=8, inner=NGT)
    ids, d = idx.search_ids(Q, K)
    gt, gd = brute_force(Q, X, K)
    assert recall(ids, gt) >= 0.95
    exact = np.sqrt(((Q[:, None, :].astype(np.float64) - X[ids]) ** 2).sum(-1))
    np.testing.assert_allclose(d, exact, rtol=1e-4, atol=1e-3)
    assert [w["widths"] for w in idx.info()["workers"]] == ([[8]] if S == 1 else [[4], [4]])


def test_reduced_pca_exact_inner_is_exact(make_index):
    """With exact subspace search over the reduced space and T large, the exact re-rank on full
    vectors (with the residual lower bound pruning) returns the true neighbours."""
    X, Q = low_rank(1500, 48, seed=45, latent=6, noise=0.2), low_rank(30, 48, seed=46, latent=6,
                                                                         noise=0.2)
    idx = _trained(make_index, X, S=2, pca_dim=6, T=400)
    ids, d = idx.search_ids(Q, K, prune=True)
    ids2, d2 = idx.search_ids(Q, K, prune=False)
    gt, gd = brute_force(Q, X, K)
    assert recall(ids, gt) >= 0.99 and recall(ids2, gt) >= 0.99
    assert recall(ids, ids2) == 1.0


def test_insert_before_train_rejected(make_index):
    X = low_rank(50, 16, seed=47)
    idx = make_index(dim=16, S=2, pca_dim=8)
    wal = os.path.join(idx.root, "wal.log")
    with pytest.raises(InvalidArgument) as e:
        idx.insert(keys_for(5), X[:5])
    assert "train" in str(e.value)
    assert len(idx) == 0 and os.path.getsize(wal) == 0
    keys, d = idx.search(X[:2], 3)            # searching an untrained index: nothing, no error
    assert (keys == None).all() and np.isinf(d).all()  # noqa: E711


def test_train_after_insert_rejected(make_index):
    X = low_rank(100, 16, seed=48)
    idx = _trained(make_index, X, S=2, pca_dim=8)
    with pytest.raises(InvalidArgument) as e:
        idx.train(X)
    assert e.value.field == "sample"
    assert len(idx) == 100


def test_train_sample_validated(make_index):
    idx = make_index(dim=16, S=2, pca_dim=8)
    with pytest.raises(InvalidArgument) as e:
        idx.train(np.ones((10, 15), np.float32))
    assert e.value.field == "sample"
    bad = np.ones((10, 16), np.float32)
    bad[3, 3] = np.nan
    with pytest.raises(InvalidArgument) as e:
        idx.train(bad)
    assert e.value.field == "sample"
    assert not idx.trained


@pytest.mark.parametrize("pca_dim", [0, 32])
def test_balanced_assignment_end_to_end(make_index, pca_dim):
    """Variance-balanced split, without and with a PCA rotation, through train, insert, search,
    close and reopen."""
    scale = (0.85 ** np.arange(32)).astype(np.float32)     # column variance falls with index
    X = clustered(1500, 32, seed=50, n_clusters=12) * scale
    Q = clustered(30, 32, seed=51, n_clusters=12) * scale
    idx = _trained(make_index, X, S=4, assignment="balanced", pca_dim=pca_dim, inner=NGT)
    cols = idx.layout.columns
    assert sorted(c for sub in cols for c in sub) == list(range(32))
    assert cols != [list(range(s * 8, s * 8 + 8)) for s in range(4)]   # not the contiguous split
    y = idx.pca.transform(X) if pca_dim else X
    var = y.var(0)
    share = np.array([var[c].sum() for c in cols]) / var.sum()
    contiguous = np.array([var[s * 8: s * 8 + 8].sum() for s in range(4)]) / var.sum()
    # as even as whole columns allow (one column cannot be split across subspaces)
    assert share.max() <= max(var.max() / var.sum(), 1 / 4) + 0.05
    assert share.max() - share.min() < (contiguous.max() - contiguous.min()) / 2
    ids, d = idx.search_ids(Q, K, T=50)  # the S=4 union needs more than the S=1 default T
    gt, _ = brute_force(Q, X, K)
    assert recall(ids, gt) >= 0.95
    root = idx.root
    idx.close()
    again = Index.open(root)
    try:
        assert again.layout.columns == cols
        ids2, d2 = again.search_ids(Q, K, T=50)
        assert (ids2 == ids).all()
        np.testing.assert_allclose(d2, d, rtol=1e-6)
    finally:
        again.close()


def test_pca_index_survives_wal_replay(make_index):
    X, Q = low_rank(600, 32, seed=52, latent=4), low_rank(10, 32, seed=53, latent=4)
    idx = _trained(make_index, X[:300], S=2, pca_dim=8)      # train + first 300 checkpointed
    idx.insert(keys_for(300, start=300), X[300:])           # these only in the WAL
    ids, d = idx.search_ids(Q, K)
    root = idx.root
    idx.close(save=False)
    again = Index.open(root)
    try:
        assert len(again) == 600
        ids2, d2 = again.search_ids(Q, K)
        assert (ids2 == ids).all()
        np.testing.assert_allclose(d2, d, rtol=1e-6)
    finally:
        again.close()


def test_transform_head_one_row_matches_batch():
    """The single-query projection (transposed head, a GEMV) gives the batch rows' values."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 96)).astype(np.float32) * np.linspace(3, 0.1, 96).astype(np.float32)
    pca = PCA.fit(X, 40)
    Q = rng.standard_normal((5, 96)).astype(np.float32)
    batch = pca.transform_head(Q, 24)
    ones = np.concatenate([pca.transform_head(Q[i:i + 1], 24) for i in range(len(Q))])
    assert ones.shape == batch.shape == (5, 24) and ones.dtype == np.float32
    np.testing.assert_allclose(ones, batch, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batch, pca.transform(Q)[:, :24], rtol=1e-4, atol=1e-4)
