"""The options that were carried but never exercised: the faiss HNSW inner index
(``InnerParams(kind="hnsw")``, ``sanny serve --inner hnsw``), the per-search ``edge_size``
(NGT) and ``ef_search`` (HNSW) of SearchParams, ``choose_S`` (``sanny build --S auto``)."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine.api import serve_cli
from sanny.engine.tune import choose_S
from sanny.workers import LocalWorker, SearchParams, WorkerSpec

from conftest import EXACT, brute_force, clustered, keys_for, recall

HNSW = InnerParams(kind="hnsw", hnsw_M=16, hnsw_ef_construction=80)


def test_hnsw_inner_finds_the_neighbours_and_survives_remove_save_open(tmp_path, data32):
    X, Q = data32
    ix = Index.create(str(tmp_path / "h"), IndexConfig(dim=32, S=2, inner=HNSW))
    ix.insert(keys_for(len(X)), X)
    ix.remove(keys_for(10))  # HNSW has no in-place remove: masked, never returned
    live = np.ones(len(X), bool)
    live[:10] = False
    gt, _ = brute_force(Q, X, 10, live=live)
    ids, _ = ix.search_ids(Q, 10, T=40)
    assert recall(ids, gt) >= 0.95
    assert not np.isin(ids, np.arange(10)).any()
    ix.close()
    again = Index.open(str(tmp_path / "h"))
    try:
        ids2, _ = again.search_ids(Q, 10, T=40)
        assert np.array_equal(ids, ids2)
    finally:
        again.close()


@pytest.mark.parametrize("kind", ["hnsw", "hnsw_sq"])
def test_build_drops_removed_vectors_from_the_hnsw_graph(tmp_path, data32, kind):
    """Index.build() (optimize) merges each subspace into one graph over the live vectors:
    removed and replaced ones leave it (memory back, no over-fetch), answers stay right, and
    the merged graph takes new writes and survives save/open."""
    X, Q = data32
    cfg = IndexConfig(dim=32, S=2, inner=InnerParams(kind=kind, compact=False))
    ix = Index.create(str(tmp_path / kind), cfg)
    ix.insert(keys_for(len(X)), X)
    ix.build()
    ix.remove(keys_for(300))
    ix.upsert(keys_for(600)[300:], X[300:600] + 0.01)  # replaced: old rows dead in the graph
    segs = lambda: [(w.stats()["segments"], w.stats()["growing"]) for w in ix.workers]  # noqa: E731
    assert all(s == [{"rows": len(X), "deleted": 600}] and g["rows"] == 300 for s, g in segs())
    keys = np.array(keys_for(len(X)))
    live = np.ones(len(X), bool)
    live[:300] = False
    gt, _ = brute_force(Q, np.concatenate([X[:300], X[300:600] + 0.01, X[600:]]), 10, live=live)
    before = ix.search(Q, 10, T=40)[0]
    ix.build()
    assert all(s == [{"rows": len(X) - 300, "deleted": 0}] and g["rows"] == 0 for s, g in segs())
    got = ix.search(Q, 10, T=40)[0]
    assert not np.isin(got, keys[:300]).any()             # removed keys never come back
    as_ids = lambda k: np.vectorize(lambda x: int(x[1:]))(k)  # noqa: E731
    assert recall(as_ids(got), gt) >= 0.9 and recall(as_ids(got), gt) >= recall(as_ids(before), gt) - 0.05
    ix.insert(["new"], Q[:1])
    assert ix.search(Q[:1], 1)[0][0, 0] == "new"
    ix.close()
    with Index.open(str(tmp_path / kind)) as again:
        assert again.search(Q[:1], 1)[0][0, 0] == "new"
        assert [w.stats()["growing"]["rows"] for w in again.workers] == [1, 1]


def _worker(tmp_path, inner, x):
    w = LocalWorker(WorkerSpec([0], [x.shape[1]], "l2", inner), str(tmp_path / inner.kind))
    w.insert(np.arange(len(x)), x)
    w.build()
    return w


def test_ef_search_reaches_the_exact_answer_when_it_covers_everything(tmp_path):
    x, q = clustered(300, 8, seed=3), clustered(5, 8, seed=4)
    exact = _worker(tmp_path, EXACT, x).search(q, 10, SearchParams())
    small = _worker(tmp_path, HNSW, x)
    ids, d = small.search(q, 10, SearchParams(ef_search=len(x)))
    assert np.array_equal(ids, exact[0]) and np.allclose(d, exact[1], rtol=1e-4, atol=1e-4)


def test_edge_size_reaches_ngt(tmp_path, monkeypatch):
    x, q = clustered(300, 8, seed=5), clustered(2, 8, seed=6)
    w = _worker(tmp_path, InnerParams(kind="ngt", threads=1), x)
    seen = []

    class Spy:  # ngtpy.Index attributes are read-only: wrap the object instead
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def search(self, *a, **kw):
            seen.append(kw.get("edge_size"))
            return self.real.search(*a, **kw)

    inner = w.inners[0]
    monkeypatch.setattr(inner, "index", Spy(inner.index))
    w.search(q, 5, SearchParams(edge_size=77))  # 2 queries: NGT's per-query search
    assert seen.count(77) == len(q)  # every query search carries it (a warm-up call may precede them)


def test_serve_offers_the_hnsw_inner(tmp_path):
    ns = argparse.Namespace(index=str(tmp_path / "idx"), create=True, dim=16, S=2, metric=None, inner="hnsw")
    ix = serve_cli.open_index(ns, {}, None)
    try:
        assert ix.config.inner.kind == "hnsw"
    finally:
        ix.close()


def test_choose_S_builds_each_and_returns_one_of_them(small16):
    X, _ = small16
    S, table = choose_S(X, IndexConfig(dim=16, S=8, inner=EXACT), [1, 2], target_recall=0.9, progress=False)
    assert S in (1, 2) and [r["S"] for r in table] == [1, 2]
    assert all(r["met"] and r["recall"] >= 0.9 for r in table)  # exact subspaces reach any recall


@pytest.mark.parametrize("S", ["auto"])
def test_build_S_auto_picks_and_reports(tmp_path, small16, capsys, S):
    from sanny.engine import cli

    X, _ = small16
    np.save(tmp_path / "x.npy", X)
    assert cli.main(["build", str(tmp_path / "x.npy"), "--index", str(tmp_path / "idx"), "--S", S,
                     "--inner", "exact", "--target-recall", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "chose S=" in out
    with Index.open(str(tmp_path / "idx")) as ix:
        assert f"chose S={ix.config.S}" in out


def test_hnsw_worker_never_returns_removed_ids_and_one_query_matches_its_batch_row(data32):
    X, Q = data32
    w = LocalWorker(WorkerSpec(subspaces=[0], widths=[32], inner=HNSW))
    w.insert(np.arange(len(X)), X)
    w.build(True)
    w.remove(np.arange(0, len(X), 10))  # every tenth id: dead rows in the graph, over-fetched for
    ids, d = w.search(Q[:6], 20)
    assert ids.shape == (1, 6, 20) and (ids >= 0).all()
    assert not (ids % 10 == 0).any()
    assert (np.diff(d, axis=2) >= 0).all()                  # each row sorted by distance
    for i in range(6):
        one, dd = w.search(Q[i: i + 1], 20)
        assert np.array_equal(one[0, 0], ids[0, i]) and np.allclose(dd[0, 0], d[0, i])
