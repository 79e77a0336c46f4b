"""The lone-query lane (``engine.lane``): one query on an S=1, no-PCA index whose one clean segment
is a graph with exact distances is answered without the pipeline. Its answers must equal the
pipeline's for the same query, it must step aside (None) whenever its shortcut would not hold
(removed or growing rows, a batch, other options, a held lock, another shape), and bad input must
still get the pipeline's errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import clustered, keys_for
from sanny.engine import InnerParams
from sanny.workers.errors import InvalidArgument

WAIT = 120.0  # bound on waiting for a state; never reached when it works
KINDS = ["symqg", "hnsw"]


def _index(make_index, kind, metric, X, **cfg):
    ix = make_index(dim=X.shape[1], metric=metric, inner=InnerParams(kind=kind, hnsw_M=16, idle_seconds=3600),
                    **cfg)
    if ix.config.needs_training:
        ix.train(X)
    ix.insert(keys_for(len(X)), X)
    ix.build()
    return ix


def _pipeline(ix, q, k, T, ef):
    """The pipeline's answer for one query: ``prune`` is not a lane option, so it takes the long way."""
    keys, d = ix.search(q[None], k, T=T, ef_search=ef, prune=ix.config.prune)
    ids, _ = ix.search_ids(q[None], k, T=T, ef_search=ef, prune=ix.config.prune)
    return ids, keys, d


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_lane_answers_as_the_pipeline_does(make_index, kind, metric):
    X, Q = clustered(1500, 48, seed=50), clustered(25, 48, seed=51)
    ix = _index(make_index, kind, metric, X)
    for T, ef in ((10, 0), (16, 40), (None, None)):
        for q in Q:
            got = ix._lane.search(q[None], 10, T, ef, True)
            assert got is not None  # one clean graph: the lane answers
            want_ids, want_keys, want_d = _pipeline(ix, q, 10, T, ef)
            np.testing.assert_array_equal(got[0], want_ids)
            np.testing.assert_array_equal(got[2], want_keys)
            np.testing.assert_allclose(got[1], want_d, rtol=1e-5, atol=1e-5)
    keys, d = ix.search(Q[0], 10)  # the public calls, 1-D and (1, dim): the lane's rows
    np.testing.assert_array_equal(keys, ix.search(Q[:1], 10, prune=ix.config.prune)[0])
    prepared = ix.prepare_queries(Q)  # rows of prepared queries take the lane too, with the same answer
    got = ix._lane.search(prepared[3:4], 10, None, None, True)
    assert got is not None and got[2].tolist() == ix.search(Q[3:4], 10, prune=ix.config.prune)[0].tolist()
    ix.set_defaults(T=12, ef_search=48)  # changed defaults: the lane reads them as the pipeline does
    got = ix._lane.search(Q[:1], 10, None, None, False)
    assert ix.last_stats["T"] == 12
    np.testing.assert_array_equal(got[0], _pipeline(ix, Q[0], 10, None, None)[0])


def test_a_unit_query_is_searched_as_it_is_and_others_normalised(make_index):
    X, Q = clustered(1500, 48, seed=52), clustered(10, 48, seed=53)
    ix = _index(make_index, "symqg", "cosine", X)
    for q in Q:
        u = (q / np.linalg.norm(q)).astype(np.float32)
        a, b = ix._lane.search(u[None], 10, 10, 32, False), ix._lane.search((q * 7)[None], 10, 10, 32, False)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_the_lane_steps_aside_for_removed_and_growing_rows_until_they_are_merged(make_index, kind):
    X, Q = clustered(1500, 48, seed=54), clustered(10, 48, seed=55)
    ix = _index(make_index, kind, "l2", X)
    q = Q[0]
    nearest = ix.search(q, 1)[0][0, 0]
    ix.remove([nearest])
    assert ix._lane.search(q[None], 10, None, None, False) is None  # a dead row: the pipeline masks it
    assert nearest not in ix.search(q, 10)[0]
    ix.insert(["new"], q[None])
    assert ix._lane.search(q[None], 10, None, None, False) is None  # a growing row: scanned by the pipeline
    assert ix.search(q, 1)[0][0, 0] == "new"
    assert ix.wait_compaction(WAIT)  # merged into one clean graph: the lane again
    got = ix._lane.search(q[None], 10, None, None, True)
    assert got is not None and got[2][0, 0] == "new" and nearest not in got[2]
    np.testing.assert_array_equal(got[2], _pipeline(ix, q, 10, None, None)[1])


def test_the_lane_steps_aside_for_batches_options_other_shapes_and_a_held_lock(make_index):
    X, Q = clustered(1500, 48, seed=56), clustered(4, 48, seed=57)
    ix = _index(make_index, "symqg", "l2", X)
    lane = ix._lane
    assert lane.search(Q[:2], 10, None, None, False) is None            # a batch
    assert lane.search(Q[:1].astype(np.float64), 10, None, None, False) is None  # not float32: checked by the pipeline
    assert lane.search(Q[:1], 10.0, None, None, False) is None          # k not an int
    assert lane.search(Q[:1], 10, 5, None, False) is None               # T < k: the pipeline's error
    holding, release = threading.Event(), threading.Event()

    def hold():
        with ix._lock:
            holding.set()
            release.wait(WAIT)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(WAIT)
        assert lane.search(Q[:1], 10, None, None, False) is None        # another thread holds the state lock
    finally:
        release.set()
        t.join(WAIT)
    assert lane.search(Q[:1], 10, None, None, False) is not None
    split = _index(make_index, "symqg", "l2", X, S=2, name="split")
    assert split._lane.search(Q[:1], 10, None, None, False) is None     # two subspaces: the union's re-rank
    sq = _index(make_index, "hnsw_sq", "l2", X, name="sq")
    assert sq._lane.search(Q[:1], 10, None, None, False) is None        # 8-bit codes: the exact re-rank


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_bad_single_queries_still_get_the_pipelines_errors(make_index, metric):
    X = clustered(600, 48, seed=58)
    ix = _index(make_index, "symqg", metric, X)
    q = X[0].copy()
    bad = [(dict(queries=np.full(48, np.nan, np.float32)), "queries"),
           (dict(queries=np.full(48, np.inf, np.float32)), "queries"),
           (dict(queries=q[:10]), "queries"),
           (dict(queries=q, k=0), "k"),
           (dict(queries=q, k=10, T=3), "T"),
           (dict(queries=q, ef_search=-1), "ef_search")]
    if metric == "cosine":
        bad.append((dict(queries=np.zeros(48, np.float32)), "queries"))
    for kw, field in bad:
        for call in (ix.search, ix.search_ids):
            with pytest.raises(InvalidArgument) as e:
                call(**kw)
            assert e.value.field == field


def test_a_graph_that_cannot_fill_the_list_is_scanned_instead(make_index):
    """SymphonyQG raises when it cannot find T results (T near its row count, now and then): the
    lane steps aside and the pipeline scans that segment's rows exactly, so the caller gets the
    exact answer, not the library's error."""
    from conftest import brute_force

    X, Q = clustered(600, 48, seed=59), clustered(5, 48, seed=60)
    ix = _index(make_index, "symqg", "l2", X)
    seg = ix.workers[0].inners[0].lone

    def refuse(*a, **kw):
        raise RuntimeError("QuantizedGraph search could not produce k results")

    seg.graph.search = seg.graph.one = refuse  # the pipeline's call and the lane's
    assert ix._lane.search(Q[0], 10, 590, None, False) is None
    ids, d = ix.search_ids(Q, 10, T=590)
    want, _ = brute_force(Q, X, 10, "l2")
    np.testing.assert_array_equal(ids, want)
