"""Splitting the searched space into S subspaces and grouping subspaces onto workers."""
import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InvalidArgument
from sanny.engine.split import Layout, assign, group, widths

from conftest import EXACT, brute_force, clustered, keys_for


def test_widths_even_split():
    assert widths(32, 4) == [8, 8, 8, 8]
    assert widths(12, 12) == [1] * 12


@pytest.mark.parametrize("dim,S,expected", [
    (10, 3, [4, 3, 3]),
    (11, 3, [4, 4, 3]),
    (7, 4, [2, 2, 2, 1]),
    (2048, 6, [342, 342, 341, 341, 341, 341]),
])
def test_widths_uneven_first_subspaces_one_wider(dim, S, expected):
    assert widths(dim, S) == expected


def test_widths_every_case_small():
    for dim in range(1, 40):
        for S in range(1, dim + 1):
            w = widths(dim, S)
            assert len(w) == S and sum(w) == dim
            assert max(w) - min(w) <= 1
            # the wider ones come first: exactly dim % S of them
            assert w == sorted(w, reverse=True)
            assert sum(1 for x in w if x == dim // S + 1) == (dim % S if dim % S else 0)


@pytest.mark.parametrize("dim,S", [(10, 3), (32, 5), (17, 17), (9, 1)])
def test_contiguous_assignment_uses_each_column_once(dim, S):
    cols = assign(dim, S)
    assert [len(c) for c in cols] == widths(dim, S)
    flat = [c for sub in cols for c in sub]
    assert flat == list(range(dim))  # contiguous runs, in order, no gaps, no repeats


def test_S_equal_one_is_whole_vector():
    assert widths(9, 1) == [9]
    assert assign(9, 1) == [list(range(9))]


@pytest.mark.parametrize("S", [0, -3])
def test_S_below_one_rejected(S):
    with pytest.raises(InvalidArgument) as e:
        widths(8, S)
    assert e.value.field == "S" and "S" in str(e.value)


def test_S_above_dim_rejected():
    with pytest.raises(InvalidArgument) as e:
        widths(8, 9)
    assert e.value.field == "S" and str(e.value).startswith("S:")


@pytest.mark.parametrize("S", [0, 17])
def test_index_create_rejects_bad_S_and_writes_nothing(tmp_path, S):
    root = tmp_path / "idx"
    with pytest.raises(InvalidArgument) as e:
        Index.create(str(root), IndexConfig(dim=16, S=S, inner=EXACT))
    assert e.value.field == "S"
    assert not root.exists()


def test_pca_dim_limits_S(tmp_path):
    """S is checked against the searched dimension (pca_dim), not the input one."""
    with pytest.raises(InvalidArgument) as e:
        Index.create(str(tmp_path / "idx"), IndexConfig(dim=16, S=8, pca_dim=4, inner=EXACT))
    assert e.value.field == "S"


def _shares(cols, var):
    return np.array([var[c].sum() for c in cols]) / var.sum()


def test_balanced_assignment_equalises_variance():
    dim, S = 32, 4
    var = 0.8 ** np.arange(dim)  # decreasing spectrum, as after PCA
    contiguous = _shares(assign(dim, S), var)
    cols = assign(dim, S, "balanced", var)
    balanced = _shares(cols, var)
    # still a partition with the required widths
    assert sorted(len(c) for c in cols) == sorted(widths(dim, S))
    assert sorted(c for sub in cols for c in sub) == list(range(dim))
    # contiguous piles ~83% of the variance into subspace 0; balanced is near 1/S each
    assert contiguous[0] > 0.8
    assert balanced.max() - balanced.min() < 0.1
    assert balanced.max() - balanced.min() < (contiguous.max() - contiguous.min()) / 5
    # the two largest-variance columns end up in different subspaces
    owner = {c: s for s, sub in enumerate(cols) for c in sub}
    assert owner[0] != owner[1]


def test_balanced_assignment_uneven_widths():
    dim, S = 10, 3
    var = np.linspace(5, 0.1, dim)
    cols = assign(dim, S, "balanced", var)
    assert [len(c) for c in cols] == [4, 3, 3]
    assert sorted(c for sub in cols for c in sub) == list(range(dim))


def test_balanced_needs_variances():
    with pytest.raises(InvalidArgument) as e:
        assign(8, 2, "balanced", None)
    assert e.value.field == "assignment"
    with pytest.raises(InvalidArgument):
        assign(8, 2, "balanced", np.ones(7))
    with pytest.raises(InvalidArgument):
        assign(8, 2, "zigzag")


def test_group_subspaces_onto_workers():
    for S in range(1, 25):
        for w in range(1, S + 1):
            groups = group(S, w)
            assert len(groups) == w
            assert [s for g in groups for s in g] == list(range(S))  # contiguous, each once
            sizes = [len(g) for g in groups]
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("workers", [0, 5])
def test_group_rejects_bad_worker_count(workers):
    with pytest.raises(InvalidArgument) as e:
        group(4, workers)
    assert e.value.field == "workers"


def test_layout_worker_columns():
    cols = assign(10, 4)          # [0,1,2] [3,4,5] [6,7] [8,9]
    layout = Layout(cols, group(4, 2))
    assert layout.groups == [[0, 1], [2, 3]]
    assert layout.worker_columns(0).tolist() == [0, 1, 2, 3, 4, 5]
    assert layout.worker_columns(1).tolist() == [6, 7, 8, 9]
    assert layout.worker_widths(1) == [2, 2]
    assert Layout.from_dict(layout.to_dict()).to_dict() == layout.to_dict()


def test_grouped_workers_search_end_to_end(make_index):
    """Several subspaces per in-process worker (the reference only grouped remotely)."""
    X, Q = clustered(600, 18, seed=3, n_clusters=6), clustered(15, 18, seed=4, n_clusters=6)
    idx = make_index(dim=18, S=5, workers=2, T=600)
    assert len(idx.workers) == 2
    assert [w.spec.subspaces for w in idx.workers] == [[0, 1], [2, 3, 4]]
    assert [w.spec.widths for w in idx.workers] == [[4, 4], [4, 3, 3]]
    idx.insert(keys_for(600), X)
    ids, d = idx.search_ids(Q, 5)
    gt, gd = brute_force(Q, X, 5)
    assert (ids == gt).all()
    np.testing.assert_allclose(d, gd, rtol=1e-4, atol=1e-3)
