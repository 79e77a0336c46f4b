"""Segmented inner indexes (``hnsw``, ``hnsw_sq``, ``symqg``): a growing exact segment plus sealed
graphs with delete bitmaps, checked against the exact oracle: merges, removes, replayed inserts,
reused ids, background compaction, a remove during a compaction, save/load (and a save from
before segments), ip, an Index."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers import LocalWorker, SearchParams, WorkerSpec

from conftest import EXACT, brute_force, clustered, keys_for, recall, subspace_recall

WIDTHS = [40, 24]  # symqg pads to 64 inside: the zero columns must not change a distance
DIM = sum(WIDTHS)
KINDS = ["symqg", "hnsw"]


def params(kind, **kw):
    return InnerParams(kind=kind, hnsw_M=16, hnsw_ef_construction=100, threads=1, **kw)


@pytest.fixture
def worker(tmp_path):
    made = []

    def make(inner, metric="l2", name="w"):
        w = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), metric, inner), str(tmp_path / name))
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture(scope="module")
def data():
    return clustered(2000, DIM, seed=30, n_clusters=12), clustered(30, DIM, seed=31, n_clusters=12)


def shape(w):
    """(rows of each sealed segment, their deleted counts, live growing rows) of subspace 0."""
    st = w.inners[0].stats()
    g = st["growing"]
    return [s["rows"] for s in st["segments"]], [s["deleted"] for s in st["segments"]], g["rows"] - g["deleted"]


@pytest.mark.parametrize("kind", KINDS)
def test_one_built_graph_agrees_with_the_exact_oracle_and_distances_are_exact(worker, data, kind):
    X, Q = data
    ids = np.arange(len(X), dtype=np.int64) * 3  # sparse ids: the graph's rows map back
    w, ex = worker(params(kind, compact=False)), worker(EXACT, name="exact")
    for x in (w, ex):
        x.insert(ids, X)
        x.build(True)
    assert shape(w) == ([2000], [0], 0)  # built: one graph, nothing growing
    got, gd = w.search(Q, 10, SearchParams(ef_search=200))
    want, _ = ex.search(Q, 10, SearchParams())
    assert subspace_recall(got, want) >= 0.95
    for s, (a, b) in enumerate(((0, 40), (40, 64))):  # exact partials of the ids returned
        x = X[got[s] // 3][..., a:b]
        np.testing.assert_allclose(gd[s], ((x - Q[:, None, a:b]) ** 2).sum(-1), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_growing_rows_are_found_at_once_and_merged_without_duplicates(worker, data, kind):
    X, Q = data
    w = worker(params(kind, compact=False))
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])            # after the build: the growing segment
    w.insert(np.arange(10), X[:10])                       # a replayed insert: replaces its row
    w.build(False)                                        # what every write does: no merge
    assert shape(w) == ([1500], [10], 510)
    top, d = w.search(X[1500:1510], 1, SearchParams())
    assert (top[:, :, 0] == np.arange(1500, 1510)).all() and np.allclose(d[:, :, 0], 0, atol=1e-4)
    got, _ = w.search(Q, 20, SearchParams(ef_search=200))
    assert all(len(set(row.tolist())) == 20 for row in got.reshape(-1, 20))  # no id twice
    ex = worker(EXACT, name="exact")
    ex.insert(np.arange(2000), X)
    assert subspace_recall(got, ex.search(Q, 20, SearchParams())[0]) >= 0.95
    w.build(True)
    assert shape(w) == ([2000], [0], 0)


@pytest.mark.parametrize("kind", KINDS)
def test_removed_ids_never_come_back_and_a_merge_drops_their_rows(worker, data, kind):
    X, Q = data
    w = worker(params(kind, compact=False))
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])
    before, _ = w.search(Q, 10, SearchParams())
    gone = np.unique(np.concatenate([before[:, :, :3].ravel(), np.arange(1500, 1600)]))
    w.remove(gone)
    after, d = w.search(Q, 10, SearchParams())
    assert not np.isin(after, gone).any() and (after >= 0).all() and np.isfinite(d).all()
    w.build(True)
    assert shape(w) == ([2000 - len(gone)], [0], 0)
    seg = w.inners[0].lone
    assert seg is not None and not seg.identity  # one clean graph over ids with gaps: rows map through gid_of
    merged, d = w.search(Q, 10, SearchParams())
    assert not np.isin(merged, gone).any() and (merged >= 0).all()
    want = ((Q[:, None, :WIDTHS[0]] - X[merged[0], :WIDTHS[0]]) ** 2).sum(-1)  # each id's own distance
    np.testing.assert_allclose(d[0], want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_a_reused_id_answers_with_its_new_vector_only(worker, data, kind):
    """Ids come back (the coordinator reuses them): the old row stays dead in its segment."""
    X, Q = data
    w = worker(params(kind, compact=False))
    w.insert(np.arange(2000), X)
    w.build(True)
    far = X[:5] + 50.0
    w.remove(np.arange(5))
    w.insert(np.arange(5), far)                           # ids 0..4 now hold other vectors
    top, d = w.search(X[:5], 3, SearchParams(ef_search=64))
    assert not np.isin(top, np.arange(5)).any()           # their old vectors are gone
    top, d = w.search(far, 1, SearchParams())
    assert (top[:, :, 0] == np.arange(5)).all() and np.allclose(d[:, :, 0], 0, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_background_compaction_seals_and_merges_into_one_graph(worker, data, kind):
    X, Q = data
    w = worker(params(kind, seal_rows=300, idle_seconds=3600))
    for a in range(0, 2000, 100):
        w.insert(np.arange(a, a + 100), X[a: a + 100])
    w.remove(np.arange(0, 2000, 4))
    assert w.settle(timeout=120)                          # treated as idle: everything merged
    assert shape(w) == ([1500], [0], 0)
    state = w.stats()["compaction"]
    assert state["state"] == "idle" and state["steps"] >= 2 and state["error"] == ""
    ex = worker(EXACT, name="exact")
    ex.insert(np.arange(2000), X)
    ex.remove(np.arange(0, 2000, 4))
    got, _ = w.search(Q, 10, SearchParams(ef_search=200))
    assert subspace_recall(got, ex.search(Q, 10, SearchParams())[0]) >= 0.95


def test_few_vectors_make_an_exact_segment(worker, data):
    X, Q = data
    w, ex = worker(params("symqg")), worker(EXACT, name="exact")
    for x in (w, ex):
        x.insert(np.arange(100), X[:100])
        x.build(True)
    assert shape(w) == ([100], [0], 0)
    assert type(w.inners[0].sealed[max(w.inners[0].sealed)].graph).__name__ == "ExactGraph"
    got, gd = w.search(Q, 10, SearchParams())
    want, wd = ex.search(Q, 10, SearchParams())
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(gd, wd, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_keeps_segments_growing_rows_and_removals(worker, data, tmp_path, kind):
    X, Q = data
    w = worker(params(kind, compact=False), name="a")
    w.insert(np.arange(1500), X[:1500])
    w.build(True)
    w.insert(np.arange(1500, 2000), X[1500:])
    w.remove(np.arange(0, 2000, 7))
    before = w.search(Q, 15, SearchParams())
    w.save(str(tmp_path / "saved"))
    w2 = worker(params(kind, compact=False), name="b")
    w2.load(str(tmp_path / "saved"))
    after = w2.search(Q, 15, SearchParams())
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert shape(w2) == shape(w)


def test_a_save_from_before_segments_opens_with_its_masked_ids_dead(worker, data, tmp_path):
    """The single-graph layout (``hnsw.faiss`` + ``hnswmap.npz``, removed ids masked by liveness,
    a replayed insert twice in the graph) opens as one sealed segment with those rows dead."""
    import faiss

    X, Q = data
    w = worker(params("hnsw", compact=False), name="a")
    w.insert(np.arange(2000), X)
    w.remove(np.arange(0, 2000, 5))
    path = tmp_path / "old"
    w.save(str(path))
    for s, (a, b) in enumerate(((0, 40), (40, 64))):
        d = path / f"sub{s:03d}"
        for f in d.iterdir():
            f.unlink()
        index = faiss.IndexHNSWFlat(b - a, 16)
        index.add(np.ascontiguousarray(np.concatenate([X[:, a:b], X[:3, a:b]])))
        faiss.write_index(index, str(d / "hnsw.faiss"))
        np.savez(d / "hnswmap.npz", gid_of=np.concatenate([np.arange(2000), np.arange(3)]), masked=np.array([400]))
    w2 = worker(params("hnsw", compact=False), name="b")
    w2.load(str(path))
    assert shape(w2) == ([2003], [403], 0)                # removed ids and the older duplicates
    got, _ = w2.search(Q, 10, SearchParams(ef_search=100))
    assert not (got % 5 == 0).any() and (got >= 0).all()


def test_inner_product_distances_are_minus_the_dot_product(worker, data):
    X, Q = data
    w = worker(params("symqg"), metric="ip")
    w.insert(np.arange(2000), X)
    w.build(True)
    got, d = w.search(Q, 10, SearchParams(ef_search=200))
    for s, (a, b) in enumerate(((0, 40), (40, 64))):
        np.testing.assert_allclose(d[s], -(X[got[s]][..., a:b] * Q[:, None, a:b]).sum(-1), rtol=1e-4, atol=1e-3)
    ex = worker(EXACT, metric="ip", name="exact")
    ex.insert(np.arange(2000), X)
    assert subspace_recall(got, ex.search(Q, 10, SearchParams())[0]) >= 0.9


def test_a_remove_during_a_compaction_stays_removed(worker, data):
    """The merge copies its rows, builds outside the lock, swaps in: ids removed (and reused)
    while it builds are dead in the new segment, and a new row for a reused id survives."""
    X, Q = data
    w = worker(params("symqg", compact=False))
    w.insert(np.arange(1000), X[:1000])
    inner = w.inners[0]
    started, release = threading.Event(), threading.Event()
    real = inner.make_graph

    def blocking(x, threads):
        started.set()
        release.wait()
        return real(x, threads)

    inner.make_graph = blocking
    t = threading.Thread(target=inner.run, args=(inner.plan(idle=True), 1))
    t.start()
    assert started.wait(60)
    w.remove(np.arange(10))                               # in the rows being built
    w.insert(np.arange(5), X[:5] + 50.0)                  # ids 0..4 reused meanwhile
    w.insert(np.arange(1000, 1100), X[1000:1100])         # new rows meanwhile
    release.set()
    t.join()
    st = inner.stats()
    assert [s["deleted"] for s in st["segments"]] == [10] and st["growing"]["rows"] == 105
    got, _ = inner.search(np.ascontiguousarray(X[:10, :40]), 3, SearchParams(ef_search=64))
    assert not np.isin(got, np.arange(5, 10)).any()       # removed ones stay removed
    assert not np.isin(got, np.arange(5)).any()           # reused ids: only their new rows,
    top, _ = inner.search(np.ascontiguousarray(X[:5, :40] + 50.0), 1, SearchParams())
    np.testing.assert_array_equal(top[:, 0], np.arange(5))  # which are far from the old ones


def test_index_with_symqg_inner_searches_and_reopens(tmp_path, data32):
    X, Q = data32
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=32, S=1, inner=params("symqg")))
    ix.insert(keys_for(len(X)), X)
    ix.build(True)
    late = X[:50] + 100.0                                 # far from every query: growing rows
    ix.insert(keys_for(50, "late"), late)
    ix.remove(keys_for(5))
    gt, _ = brute_force(Q, X, 10, live=np.arange(len(X)) >= 5)
    keys, _ = ix.search(Q, 10, T=40)
    assert recall([[int(k[1:]) for k in row] for row in keys], gt) >= 0.9
    assert [row[0] for row in ix.search(late[:3], 1)[0]] == keys_for(3, "late")
    ids, _ = ix.search_ids(Q, 10, T=40)
    ix.close()
    with Index.open(str(tmp_path / "ix")) as again:
        np.testing.assert_array_equal(again.search_ids(Q, 10, T=40)[0], ids)


P = InnerParams(seal_rows=100, merge_ratio=0.5, max_deleted=0.1)
Q = InnerParams(seal_rows=100, merge_ratio=0.5, max_deleted=0.1, idle_merge_rows=10000)


def test_merge_policy():
    from sanny.workers.merge_policy import plan

    assert plan({}, {}, 50, 50, P, idle=False) is None                       # small growing: wait
    assert plan({}, {}, 100, 100, P, idle=False).reason == "seal"            # full: seal it alone
    assert plan({}, {}, 100, 100, P, idle=False).sources == ()
    assert plan({}, {}, 40, 100, P, idle=False).reason == "vacuum"          # 60 of 100 rewritten
    assert plan({}, {}, 40, 100, P, idle=False).upto == 0
    assert plan({}, {}, 0, 0, P, idle=True) is None                          # nothing at all
    assert plan({1: 1000}, {1: 0}, 10, 10, P, idle=False) is None             # 10 < 0.5 * 1000
    step = plan({1: 1000, 2: 300}, {1: 0, 2: 0}, 20, 20, P, idle=False)     # 320 < 500
    assert step is None
    step = plan({1: 1000, 2: 300}, {1: 0, 2: 0}, 250, 260, P, idle=False)   # 560 >= 500, but first:
    assert step.reason == "seal" and step.sources == ()                     # 260 growing rows sealed
    step = plan({1: 1000, 2: 300, 3: 260}, {1: 0, 2: 0, 3: 0}, 10, 10, P, idle=False)
    assert step.reason == "merge ratio" and step.sources == (1, 2, 3) and step.upto == 10
    assert plan({1: 1000}, {1: 200}, 0, 0, P, idle=False).reason == "deleted share"  # 200 >= 0.1 * 1200
    assert plan({1: 1000}, {1: 50}, 0, 0, P, idle=False) is None              # 50 < 105
    assert plan({1: 1000}, {1: 50}, 0, 0, P, idle=True).reason == "idle merge"      # idle: one clean graph
    assert plan({1: 1000}, {1: 0}, 0, 0, P, idle=True) is None                # already one clean graph
    assert plan({1: 1000}, {1: 0}, 0, 5, P, idle=True).reason == "idle merge"       # dead growing rows: dropped
    # idle above idle_merge_rows (10,000 here): the rest merge among themselves, the largest stays
    step = plan({1: 9900, 2: 100, 3: 50}, {1: 0, 2: 0, 3: 0}, 10, 10, Q, idle=True)
    assert step.reason == "idle small" and step.sources == (2, 3) and step.upto == 10
    assert plan({1: 9900, 2: 150}, {1: 0, 2: 0}, 0, 0, Q, idle=True) is None  # one small clean graph: left
    assert plan({1: 9900, 2: 150}, {1: 0, 2: 3}, 0, 0, Q, idle=True).sources == (2,)  # its dead rows go
    step = plan({1: 9000, 2: 150, 3: 60}, {1: 0, 2: 0, 3: 0}, 0, 0, Q, idle=True)  # 9,210 rows: all
    assert step.reason == "idle merge" and step.sources == (1, 2, 3)
    step = plan({1: 0, 2: 800}, {1: 1000, 2: 0}, 10, 10, P, idle=False)     # all of 1 deleted
    assert step.reason == "drop" and step.sources == (1,) and step.upto == 0


def test_coordinator_liveness_with_and_without_free_ids():
    """Without a free id the store answers liveness by range alone; with one, by its mask."""
    from sanny.engine.store import VectorStore

    st = VectorStore(4)
    st.add(["a", "b", "c"], np.eye(4, dtype=np.float32)[:3])
    probe = np.array([[0, 2, 3, -1], [1, -7, 2**40, 2]])
    np.testing.assert_array_equal(st.is_live(probe), [[True, True, False, False], [True, False, False, True]])
    st.drop(["b"])
    np.testing.assert_array_equal(st.is_live(probe), [[True, True, False, False], [False, False, False, True]])
    st.drop([])
    st.add(["d"], np.eye(4, dtype=np.float32)[:1])      # takes id 1 again: no hole
    np.testing.assert_array_equal(st.is_live(probe), [[True, True, False, False], [True, False, False, True]])


def test_coordinator_ids_are_reused_smallest_first_and_replay_gives_the_same(tmp_path):
    from sanny.engine.store import VectorStore

    st = VectorStore(4)
    x = np.eye(4, dtype=np.float32)
    st.drop([])
    assert st.add(["a", "b", "c", "d"], x).tolist() == [0, 1, 2, 3]
    assert sorted(st.drop(["d", "b"]).tolist()) == [1, 3]
    assert st.add(["e"], x[:1]).tolist() == [4]           # the same write: 1 and 3 are not free yet
    st.drop([])                                           # the next write frees them
    assert st.add(["f", "g", "h"], x[:3]).tolist() == [1, 3, 5]
    assert st.keys[:6] == ["a", "f", "c", "g", "e", "h"] and st.size == 6
    np.testing.assert_array_equal(st.vectors[[1, 3, 5]], x[:3])
    st.drop(["a"])
    st.save(str(tmp_path))
    again = VectorStore.load(str(tmp_path), 4, True)
    assert again.add(["h"], x[:1]).tolist() == [0]        # the free ids come back from keys.json


def test_an_index_under_upserts_keeps_its_stores_at_the_live_count(tmp_path, data32):
    X, Q = data32
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=32, S=2, inner=params("symqg", seal_rows=200)))
    n = len(X)
    ix.insert(keys_for(n), X)
    rng = np.random.default_rng(3)
    for _ in range(6):
        sel = rng.choice(n, n // 3, replace=False)
        ix.upsert([f"k{i}" for i in sel], X[sel])           # same keys, unchanged vectors
    # ids a write drops are free from the next write on: at most one write's worth above the live count
    assert ix.store.size <= n + n // 3 and all(w.store.size <= n + n // 3 for w in ix.workers)
    assert all(w.settle(timeout=120) for w in ix.workers)
    assert all(w.stats()["segments"] == [{"rows": n, "deleted": 0}] for w in ix.workers)
    gt, _ = brute_force(Q, X, 10)
    keys, _ = ix.search(Q, 10, T=40)
    assert recall([[int(k[1:]) for k in row] for row in keys], gt) >= 0.9
    ix.close()


def test_a_vacuum_drops_rewritten_growing_rows_without_a_build(worker, data):
    X, Q = data
    w = worker(params("hnsw", compact=False, seal_rows=100))
    for _ in range(3):
        w.insert(np.arange(50), X[:50])                    # the same ids again: rows rewritten
    inner = w.inners[0]
    assert inner.g_n == 150 and inner.g_ndead == 100
    step = inner.plan()
    assert step.reason == "vacuum" and inner.run(step, 1)
    assert inner.g_n == 50 and inner.g_ndead == 0 and not inner.sealed
    top, d = w.search(X[:50], 1, SearchParams())
    assert (top[:, :, 0] == np.arange(50)).all() and np.allclose(d[:, :, 0], 0, atol=1e-4)


def test_the_compactor_thread_runs_at_its_own_nice_value(worker, data):
    import os

    X, _ = data
    w = worker(params("hnsw", compact_nice=7, idle_seconds=3600))
    w.insert(np.arange(100), X[:100])
    tid = w.compactor._thread.native_id
    assert w.settle(timeout=60)
    assert os.getpriority(os.PRIO_PROCESS, tid) == os.getpriority(os.PRIO_PROCESS, 0) + 7


def test_an_upsert_of_an_unchanged_vector_writes_nothing(tmp_path, data32):
    X, Q = data32
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=32, S=1, metric="cosine", inner=params("hnsw")))
    ix.insert(keys_for(100), X[:100])
    seq = ix.seq
    ix.upsert(keys_for(100), X[:100])                      # the same vectors again
    ix.update(keys_for(50), X[:50])
    assert ix.seq == seq and ix.store.size == 100          # nothing logged, no id taken
    ix.upsert(keys_for(3) + ["new"], np.vstack([X[:2], X[5:6], X[7:8]]))  # k2 changes, "new" is new
    assert ix.seq == seq + 1
    np.testing.assert_allclose(ix.get(["k2", "new"]), validate_unit(np.vstack([X[5:6], X[7:8]])), rtol=1e-6)
    with pytest.raises(Exception, match="k999"):           # a missing key still fails an update
        ix.update(keys_for(3) + ["k999"], np.vstack([X[:3], X[9:10]]))
    assert ix.seq == seq + 1
    ix.close()


def validate_unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)
