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
    """Index.build() (optimize) builds each HNSW graph again over the live vectors: removed and
    replaced ones leave the graph (memory back, no over-fetch), answers stay right, and the
    rebuilt graph takes new writes and survives save/open."""
    X, Q = data32
    ix = Index.create(str(tmp_path / kind), IndexConfig(dim=32, S=2, inner=InnerParams(kind=kind)))
    ix.insert(keys_for(len(X)), X)
    ix.remove(keys_for(300))
    ix.upsert(keys_for(600)[300:], X[300:600] + 0.01)  # replaced: old versions masked
    inners = [w.inners[0] for w in ix.workers]
    assert all(i.masked == 600 and i.index.ntotal == len(X) + 300 for i in inners)
    before = ix.search_ids(Q, 10, T=40)[0]
    ix.build()
    assert all(i.masked == 0 and i.index.ntotal == len(X) - 300 for i in inners)
    live = np.ones(len(X), bool)
    live[:300] = False
    gt, _ = brute_force(Q, np.concatenate([X[:300], X[300:600] + 0.01, X[600:]]), 10, live=live)
    ids = ix.search_ids(Q, 10, T=40)[0]
    gt_ids = np.where(gt < 600, gt + len(X) - 300, gt)  # replaced keys got new internal ids
    assert not np.isin(ids, np.arange(600)).any()        # removed and replaced ids never come back
    assert recall(ids, gt_ids) >= 0.9 and recall(ids, gt_ids) >= recall(before, gt_ids) - 0.05
    ix.insert(["new"], Q[:1])
    assert ix.search(Q[:1], 1)[0][0, 0] == "new"
    ix.remove(keys_for(601)[600:])  # one remove: under REBUILD_SHARE, build() leaves it masked
    ix.build()
    assert all(i.masked == 1 and i.index.ntotal == len(X) - 299 for i in inners)
    ix.close()
    again = Index.open(str(tmp_path / kind))
    try:
        assert again.search(Q[:1], 1)[0][0, 0] == "new"
        assert [w.inners[0].masked for w in again.workers] == [1, 1]
    finally:
        again.close()


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


@pytest.mark.parametrize("m", [1, 5])
def test_hnsw_search_keeps_each_rows_first_live_entries_in_distance_order(m):
    """Once ids are removed, a row is faiss' over-fetched row with the dead (and missing)
    entries dropped, order kept, padded with (-1, inf): the same as sorting with dead = inf."""
    from sanny.workers.hnsw_inner import _first_live

    rng = np.random.default_rng(m)
    for _ in range(50):
        size, T = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        d = np.sort(rng.random((m, size)).astype(np.float32), axis=1)
        gid = rng.permutation(1000)[: m * size].reshape(m, size)
        gid[:, size - int(rng.integers(0, 3)):] = -1     # faiss found fewer than size
        d[gid < 0] = np.inf
        ok = (rng.random((m, size)) < 0.6) & (gid >= 0)
        ids, out = _first_live(gid, d, ok, T)
        ref = np.where(ok, d, np.inf)
        order = np.argsort(ref, axis=1, kind="stable")[:, :T]
        want_ids = np.full((m, T), -1)
        want_d = np.full((m, T), np.inf, np.float32)
        t = order.shape[1]
        want_ids[:, :t] = np.where(np.take_along_axis(ok, order, 1), np.take_along_axis(gid, order, 1), -1)
        want_d[:, :t] = np.take_along_axis(ref, order, 1)
        assert np.array_equal(ids, want_ids) and np.array_equal(out, want_d)
        assert ids.dtype == np.int64 and out.dtype == np.float32


def test_hnsw_worker_never_returns_removed_ids_and_one_query_matches_its_batch_row(data32):
    X, Q = data32
    w = LocalWorker(WorkerSpec(subspaces=[0], widths=[32], inner=HNSW))
    w.insert(np.arange(len(X)), X)
    w.remove(np.arange(0, len(X), 10))  # every tenth id: masked in the graph, over-fetched for
    ids, d = w.search(Q[:6], 20)
    assert ids.shape == (1, 6, 20) and (ids >= 0).all()
    assert not (ids % 10 == 0).any()
    assert (np.diff(d, axis=2) >= 0).all()                  # each row sorted by distance
    for i in range(6):
        one, dd = w.search(Q[i: i + 1], 20)
        assert np.array_equal(one[0, 0], ids[0, i]) and np.allclose(dd[0, 0], d[0, i])
