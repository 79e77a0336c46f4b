"""The single-query path's cheap forms keep the results of the general
ones — liveness by id, faiss' -1 padding, the cosine normalisation, the thread-pool guard
(nested, after an error, from any thread), one- vs many-row searches."""
from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from conftest import keys_for
from sanny.engine import InnerParams, validate
from sanny.workers import SearchParams
from sanny.workers.graphs import HnswGraph
from sanny.workers.kernels import single_threaded
from sanny.workers.slices import SliceStore, live_lookup


def test_live_lookup_edges():
    live = np.zeros(8, bool)
    live[[0, 3, 7]] = True
    ids = np.array([[-1, 0, 3, 5, 7, 8, 100, -5]], np.int64)
    for size in (8, 6):  # ids at or past size are not live, even where the mask says so
        want = np.array([[i >= 0 and i < size and i < len(live) and live[i] for i in ids[0]]])
        np.testing.assert_array_equal(live_lookup(live, size, ids), want)
    np.testing.assert_array_equal(live_lookup(live, 8, np.array([3, -1], np.int32)), [True, False])
    assert live_lookup(np.zeros(0, bool), 0, np.array([0, -1])).tolist() == [False, False]


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_hnsw_maps_faiss_padding_to_minus_one_and_inf(metric):
    """Where faiss finds fewer than asked it pads with -1 and its largest float (ip: the
    lowest, negated here): the graph returns -1 / +inf there and the segment maps the rest."""
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    graph = HnswGraph.build(x, metric, 16, 40, quantized=False)
    full, full_d = graph.search(x[:2], 4, 4)
    real = graph.index

    class Short:  # faiss' answer with the last two of each row not found
        ntotal = real.ntotal

        def search_c(self, n, q, k, d, i, sp):
            real.search_c(n, q, k, d, i, sp)
            dd, ii = faiss.rev_swig_ptr(d, n * k).reshape(n, k), faiss.rev_swig_ptr(i, n * k).reshape(n, k)
            ii[:, 2:] = -1
            dd[:, 2:] = np.finfo(np.float32).max * (-1 if metric == "ip" else 1)

    graph.index = Short()
    got, d = graph.search(x[:2], 4, 4)
    np.testing.assert_array_equal(got[:, :2], full[:, :2])
    np.testing.assert_array_equal(d[:, :2], full_d[:, :2])
    assert (got[:, 2:] == -1).all() and (d[:, 2:] == np.inf).all()
    store = SliceStore([8])  # through a segment with a dead row: the same answer, mapped to ids
    store.put(np.arange(10, 16, dtype=np.int64), [x])
    from sanny.workers.inner import make_inner
    from sanny.workers.segments import Segment

    inner = make_inner("hnsw", "", 8, InnerParams(kind="hnsw", compact=False), metric, store, 0)
    inner.adopt({1: Segment(1, graph, np.arange(10, 16, dtype=np.int64))}, np.zeros(0, np.int64), 1)
    inner.remove(np.array([10 + int(full[0, 3])]))  # a row the short answer does not reach
    got, d = inner.search(x[:2], 4, SearchParams())
    assert (got[:, 2:] == -1).all() and (d[:, 2:] == np.inf).all()
    np.testing.assert_array_equal(got[:, :2], full[:, :2] + 10)


def test_unit_is_the_float64_division_rounded_once():
    x = (np.random.default_rng(1).standard_normal((50, 33)) * 1e3).astype(np.float32)
    n = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    np.testing.assert_array_equal(validate.unit(x, "q"), (x / n[:, None]).astype(np.float32))
    assert validate.unit(x, "q").dtype == np.float32


def _pools() -> list[tuple]:
    """Every BLAS (faiss' OpenMP is read with omp_get_max_threads: other OpenMP runtimes that
    other packages load, e.g. torch's, are not on the search path and not limited)."""
    return [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def _one(pools) -> bool:
    return all(n == 1 for _, n in pools)


def test_guard_nested_error_and_other_threads():
    faiss.omp_set_num_threads(2)
    before = _pools()
    with single_threaded(1):
        inside = _pools()
        assert _one(inside) and faiss.omp_get_max_threads() == 1, inside
        with single_threaded(1):  # nested: passes through, the outer one restores
            pass
        assert faiss.omp_get_max_threads() == 1
    assert _pools() == before
    with pytest.raises(RuntimeError):
        with single_threaded(2):
            raise RuntimeError("boom")
    assert _pools() == before and faiss.omp_get_max_threads() == 2
    seen = []

    def other():  # not the thread that first limited BLAS: still limited
        with single_threaded(1):
            seen.append((_pools(), faiss.omp_get_max_threads()))
        seen.append(faiss.omp_get_max_threads())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    inside, omp_in = seen[0]
    assert _one(inside) and omp_in == 1 and seen[1] == 2, seen
    assert _pools() == before


def test_one_row_and_batch_paths_agree(make_index):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((600, 24)).astype(np.float32)
    Q = rng.standard_normal((9, 24)).astype(np.float32)
    idx = make_index(dim=24, S=1, pca_dim=12, metric="cosine", inner=InnerParams(kind="hnsw"))
    idx.train(X)
    idx.insert(keys_for(len(X)), X)
    idx.build()
    idx.remove(keys_for(3))
    ids, d = idx.search_ids(Q, 5, T=16)
    one = [idx.search_ids(Q[i], 5, T=16) for i in range(len(Q))]
    np.testing.assert_array_equal(np.concatenate([o[0] for o in one]), ids)
    np.testing.assert_allclose(np.concatenate([o[1] for o in one]), d, rtol=1e-5, atol=1e-6)
    assert not np.isin(ids, np.arange(3)).any()
    assert idx.last_stats["union"] == idx.last_stats["scored"] == 16
