"""Tuning hits its target on fresh queries: T/epsilon are picked on held-out queries
(leave-one-out over stored vectors: a stored vector would find itself) and the expected recall
(95 % lower bound) is reported next to the measured one."""
import numpy as np
import pytest

from sanny.bench.synthetic import generate
from sanny.engine import Index, IndexConfig, groundtruth
from sanny.engine.tune import auto_pca_dim, lower_bound, tune
from sanny.workers import InnerParams


def fresh_recall(ix, queries, data, k=10):
    ids, _ = ix.search_ids(queries, k)
    kth = groundtruth.exact_knn(data, queries, k, "l2")[1][:, k - 1]
    found = groundtruth.distances_to(data, queries, ids, "l2")
    return float(groundtruth.recall_per_query(found, kth, k).mean())


@pytest.mark.parametrize("target", [0.8, 0.95])
def test_tuned_recall_holds_on_fresh_queries(tmp_path, target):
    x, fresh, _ = generate(4000, 32, queries=400, seed=3, clusters=16)
    cfg = IndexConfig(dim=32, S=4, inner=InnerParams(edge_size_for_search=10))
    with Index.create(str(tmp_path / "ix"), cfg) as ix:
        ix.insert([str(i) for i in range(len(x))], x)
        ix.build()
        r = tune(ix, target, progress=False)
        assert r.held_out == "leave-one-out" and r.n_queries == 500
        assert r.met and r.expected >= target and r.recall >= r.expected
        got = fresh_recall(ix, fresh, x)  # the stored defaults (T, epsilon) are used
    assert got >= target - 0.02, (got, r)


def test_self_match_does_not_count(tmp_path):
    """With every stored vector as its own query, T=k would look perfect if the query's own id
    counted; leave-one-out reports it as it is on fresh queries."""
    x, fresh, _ = generate(3000, 16, queries=300, seed=5, clusters=8)
    with Index.create(str(tmp_path / "ix"), IndexConfig(dim=16, S=4)) as ix:
        ix.insert([str(i) for i in range(len(x))], x)
        ix.build()
        r = tune(ix, 0.999, Ts=[10], epsilons=(0.0,), apply=True, progress=False)
        assert abs(r.recall - fresh_recall(ix, fresh, x)) < 0.08
        assert r.recall < 0.999


def test_given_queries_are_used(tmp_path):
    x, q, _ = generate(2000, 16, queries=100, seed=7, clusters=8)
    with Index.create(str(tmp_path / "ix"), IndexConfig(dim=16, S=2)) as ix:
        ix.insert([str(i) for i in range(len(x))], x)
        ix.build()
        r = tune(ix, 0.9, queries=q, progress=False)
    assert r.held_out == "queries" and r.n_queries == 100


def test_lower_bound_is_below_the_mean():
    per_query = np.array([1.0, 0.9, 0.8, 1.0, 0.7])
    assert lower_bound(per_query) < per_query.mean()
    assert lower_bound(np.ones(10)) == 1.0


def test_auto_pca_dim_follows_the_variance():
    rng = np.random.default_rng(0)
    low = rng.standard_normal((3000, 40)) @ rng.standard_normal((40, 512))  # rank 40 in 512 dims
    assert auto_pca_dim(low.astype(np.float32), "l2") == 64
    assert auto_pca_dim(rng.standard_normal((20000, 256)).astype(np.float32), "l2") == 0  # no structure
    assert auto_pca_dim(rng.standard_normal((100, 64)).astype(np.float32), "l2") == 0    # small dim
