"""``kind="symqg"``: the SymphonyQG graph with its exact tail, checked against the exact oracle
(graph + tail merge, removes, replayed inserts, background rebuild, save/load, ip, an Index)."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers import LocalWorker, SearchParams, WorkerSpec
from sanny.workers import symqg_inner

from conftest import EXACT, brute_force, clustered, keys_for, recall, subspace_recall

SYMQG = InnerParams(kind="symqg", hnsw_M=16, hnsw_ef_construction=100, threads=1)
WIDTHS = [40, 24]  # padded to 64 inside: the zero columns must not change a distance
DIM = sum(WIDTHS)


@pytest.fixture
def worker(tmp_path):
    made = []

    def make(inner=SYMQG, metric="l2", name="w"):
        w = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), metric, inner), str(tmp_path / name))
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture(scope="module")
def data():
    return clustered(2000, DIM, seed=30, n_clusters=12), clustered(30, DIM, seed=31, n_clusters=12)


def test_graph_agrees_with_the_exact_oracle_and_distances_are_exact(worker, data):
    X, Q = data
    ids = np.arange(len(X), dtype=np.int64) * 3  # sparse ids: the graph's rows map back
    w, ex = worker(), worker(EXACT, name="exact")
    for x in (w, ex):
        x.insert(ids, X)
        x.build(True)
    got, gd = w.search(Q, 10, SearchParams(ef_search=200))
    want, wd = ex.search(Q, 10, SearchParams())
    assert w.inners[0].graph is not None and w.inners[0].tail_n == 0  # built: no tail left
    assert subspace_recall(got, want) >= 0.95
    # the distances it returns are the exact partials of the ids it returns
    for s, (a, b) in enumerate(((0, 40), (40, 64))):
        x = X[got[s] // 3][..., a:b]
        np.testing.assert_allclose(gd[s], ((x - Q[:, None, a:b]) ** 2).sum(-1), rtol=1e-4, atol=1e-3)


def test_tail_is_searched_exactly_and_merged_without_duplicates(worker, data):
    X, Q = data
    w = worker()
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])           # after the build: the exact tail
    w.insert(np.arange(10), X[:10])                      # a replayed insert: in graph and tail
    w.build(False)                                       # what every write does: no rebuild
    inner = w.inners[0]
    assert inner.tail_n == 510 and len(inner.graph.gid_of) == 1500 and inner.builds == 1
    top, d = w.search(X[1500:1510], 1, SearchParams())   # new vectors are found at once, exactly
    assert (top[:, :, 0] == np.arange(1500, 1510)).all() and np.allclose(d[:, :, 0], 0, atol=1e-4)
    got, _ = w.search(Q, 20, SearchParams(ef_search=200))
    for row in got.reshape(-1, 20):
        assert len(set(row.tolist())) == 20              # no id twice
    ex = worker(EXACT, name="exact")
    ex.insert(np.arange(2000), X)
    want, _ = ex.search(Q, 20, SearchParams())
    assert subspace_recall(got, want) >= 0.95


def test_removed_ids_never_come_back_from_graph_or_tail(worker, data):
    X, Q = data
    w = worker()
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])
    before, _ = w.search(Q, 10, SearchParams())
    gone = np.unique(np.concatenate([before[:, :, :3].ravel(), np.arange(1500, 1600)]))
    w.remove(gone)
    after, d = w.search(Q, 10, SearchParams())
    assert not np.isin(after, gone).any() and (after >= 0).all() and np.isfinite(d).all()
    w.build(True)                                            # the rebuild drops them from the graph
    inner = w.inners[0]
    assert inner.tail_n == 0 and not np.isin(inner.graph.gid_of, gone).any()
    assert len(inner.graph.gid_of) == 2000 - len(gone)


def test_a_long_tail_is_rebuilt_in_the_background_and_swapped_in(worker, data, monkeypatch):
    X, Q = data
    monkeypatch.setattr(symqg_inner, "TAIL_MIN", 300)
    w = worker()
    w.insert(np.arange(1000), X[:1000])                  # no search yet: nothing is built
    inner = w.inners[0]
    assert inner.graph is None and inner.builds == 0
    w.search(Q[:1], 5, SearchParams())                   # a search finds the long tail
    w.insert(np.arange(1000, 1100), X[1000:1100])       # added while (or after) it builds
    inner.wait()
    assert inner.builds == 1 and len(inner.graph.gid_of) == 1000
    assert inner.tail_n == 100                           # what came after the build started
    np.testing.assert_array_equal(np.sort(inner.tail_ids[:100]), np.arange(1000, 1100))
    top, d = w.search(X[1000:1005], 1, SearchParams())
    assert (top[:, :, 0] == np.arange(1000, 1005)).all() and np.allclose(d[:, :, 0], 0, atol=1e-4)


def test_few_vectors_stay_in_the_exact_tail(worker, data):
    X, Q = data
    w, ex = worker(), worker(EXACT, name="exact")
    for x in (w, ex):
        x.insert(np.arange(100), X[:100])
        x.build(True)
    assert w.inners[0].graph is None and w.inners[0].tail_n == 100
    got, gd = w.search(Q, 10, SearchParams())
    want, wd = ex.search(Q, 10, SearchParams())
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-4, atol=1e-3)


def test_save_load_round_trip_keeps_graph_tail_and_removals(worker, data, tmp_path):
    X, Q = data
    w = worker(name="a")
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])
    w.remove(np.arange(0, 2000, 7))
    before = w.search(Q, 15, SearchParams())
    w.save(str(tmp_path / "saved"))
    w2 = worker(name="b")
    w2.load(str(tmp_path / "saved"))
    after = w2.search(Q, 15, SearchParams())
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert w2.inners[0].tail_n == 500


def test_inner_product_distances_are_minus_the_dot_product(worker, data):
    X, Q = data
    w = worker(metric="ip")
    w.insert(np.arange(2000), X)
    w.build(True)
    got, d = w.search(Q, 10, SearchParams(ef_search=200))
    for s, (a, b) in enumerate(((0, 40), (40, 64))):
        np.testing.assert_allclose(d[s], -(X[got[s]][..., a:b] * Q[:, None, a:b]).sum(-1), rtol=1e-4, atol=1e-3)
    ex = worker(EXACT, metric="ip", name="exact")
    ex.insert(np.arange(2000), X)
    assert subspace_recall(got, ex.search(Q, 10, SearchParams())[0]) >= 0.9


def test_index_with_symqg_inner_searches_and_reopens(tmp_path, data32):
    X, Q = data32
    cfg = IndexConfig(dim=32, S=1, inner=SYMQG)
    ix = Index.create(str(tmp_path / "ix"), cfg)
    ix.insert(keys_for(len(X)), X)
    ix.build(True)
    late = X[:50] + 100.0                                 # far from every query: the exact tail
    ix.insert(keys_for(50, "late"), late)
    ix.remove(keys_for(5))
    gt, _ = brute_force(Q, X, 10, live=np.arange(len(X)) >= 5)
    keys, _ = ix.search(Q, 10, T=40)
    assert recall([[int(k[1:]) for k in row] for row in keys], gt) >= 0.9
    assert [row[0] for row in ix.search(late[:3], 1)[0]] == keys_for(3, "late")
    ids, _ = ix.search_ids(Q, 10, T=40)
    ix.close()
    again = Index.open(str(tmp_path / "ix"))
    try:
        np.testing.assert_array_equal(again.search_ids(Q, 10, T=40)[0], ids)
    finally:
        again.close()


def _blocking_builds(monkeypatch, builders: int = 1):
    """``_make_graph`` waits for ``release`` (set by the test) before building; ``started`` is
    set once ``builders`` builds (one per subspace when they run at once) are waiting."""
    import threading

    started, release = threading.Event(), threading.Event()
    real = symqg_inner.SymqgInner._make_graph
    waiting, lock = [0], threading.Lock()

    def make(self, gid):
        with lock:
            waiting[0] += 1
            if waiting[0] == builders:
                started.set()
        release.wait()
        return real(self, gid)

    monkeypatch.setattr(symqg_inner.SymqgInner, "_make_graph", make)
    return started, release


def test_a_remove_during_a_background_build_stays_removed(worker, data, monkeypatch):
    X, Q = data
    monkeypatch.setattr(symqg_inner, "TAIL_MIN", 300)
    started, release = _blocking_builds(monkeypatch, builders=2)  # both subspaces' builds
    w = worker()
    w.insert(np.arange(1000), X[:1000])
    w.search(Q[:1], 5, SearchParams())                   # starts the build of ids 0..999
    started.wait()
    w.remove(np.arange(10))                              # while it builds: they are in its graph
    release.set()
    inner = w.inners[0]
    inner.wait()
    assert inner.builds == 1 and np.isin(np.arange(10), inner.graph.gid_of).all()
    assert inner.masked == 10 and inner.tail_n == 0      # the mask outlives the swap
    got, _ = w.search(X[:10], 3, SearchParams())         # each removed vector's own query
    assert not np.isin(got, np.arange(10)).any()


def test_a_background_build_asked_for_during_a_build_does_not_redo_its_tail(worker, data, monkeypatch):
    """Index.build() is building; a search then asks for a background build of the tail as it
    was: once build() has swapped its graph in, that request is stale and does nothing."""
    import threading

    X, Q = data
    monkeypatch.setattr(symqg_inner, "TAIL_MIN", 300)
    started, release = _blocking_builds(monkeypatch)
    w = worker()
    w.insert(np.arange(1000), X[:1000])
    sync = threading.Thread(target=w.build, args=(True,))  # Index.build() of ids 0..999
    sync.start()
    started.wait()
    w.insert(np.arange(1000, 1500), X[1000:1500])
    w.search(Q[:1], 5, SearchParams())                   # tail 1500 long: asks for a build
    release.set()
    sync.join()
    inner = w.inners[0]
    inner.wait()
    assert inner.builds == 1 and len(inner.graph.gid_of) == 1000 and inner.tail_n == 500
    held = np.concatenate([inner.graph.gid_of, inner.tail_ids[: inner.tail_n]])
    np.testing.assert_array_equal(np.sort(held), np.arange(1500))  # each exactly once
    top, d = w.search(X[1000:1005], 1, SearchParams(ef_search=64))  # subspace 1 may hold them in its graph
    assert (top[:, :, 0] == np.arange(1000, 1005)).all() and np.allclose(d[:, :, 0], 0, atol=1e-4)
