"""Every sanny.v1.Sanny RPC round-trips through a real server and agrees with the Index."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.v1 import sanny_pb2 as pb

from service_fixtures import CALL_TIMEOUT, DIM, S, data, index, keys, matrix, port, stub  # noqa: F401

T = CALL_TIMEOUT


@pytest.fixture
def loaded(index, stub):
    x = data(100)
    r = stub.Insert(pb.InsertRequest(keys=keys(100), vectors=matrix(x)), timeout=T)
    assert r.count == 100 and r.wal_seq == index.seq
    return index, stub, x


def unpack(results):
    return [list(r.keys) for r in results], [np.array(r.distances) for r in results]


def test_insert_and_search_match_the_index(loaded):
    index, stub, x = loaded
    q = data(5, seed=1)
    r = stub.Search(pb.SearchRequest(queries=matrix(q), k=7), timeout=T)
    want_k, want_d = index.search(q, 7)
    got_k, got_d = unpack(r.results)
    assert got_k == want_k.tolist()
    np.testing.assert_allclose(got_d, want_d, rtol=1e-6)


def test_search_options_are_passed(loaded):
    index, stub, _ = loaded
    q = data(3, seed=2)
    r = stub.Search(pb.SearchRequest(queries=matrix(q), k=4, candidates=60, epsilon=0.2, adaptive=True,
                                     max_candidates=100), timeout=T)
    assert unpack(r.results)[0] == index.search(q, 4, T=60, epsilon=0.2, adaptive=True, T_max=100)[0].tolist()


def test_search_returns_fewer_when_the_index_is_small(stub):
    x = data(3)
    stub.Insert(pb.InsertRequest(keys=keys(3), vectors=matrix(x)), timeout=T)
    r = stub.Search(pb.SearchRequest(queries=matrix(x[:1]), k=10), timeout=T)
    assert sorted(r.results[0].keys) == keys(3) and len(r.results[0].distances) == 3


def test_upsert_update_remove(loaded):
    index, stub, x = loaded
    y = data(2, seed=5)
    assert stub.Upsert(pb.UpsertRequest(keys=["k0", "new"], vectors=matrix(y)), timeout=T).count == 2
    np.testing.assert_array_equal(index.get(["k0", "new"]), y)
    assert stub.Update(pb.UpdateRequest(keys=["k1"], vectors=matrix(y[:1])), timeout=T).count == 1
    np.testing.assert_array_equal(index.get(["k1"]), y[:1])
    assert stub.Remove(pb.RemoveRequest(keys=["k2", "new"]), timeout=T).count == 2
    assert len(index) == 99 and not index.exists(["k2", "new"]).any()


def test_client_streaming_writes(index, stub):
    x = data(30)
    batches = [pb.InsertRequest(keys=keys(30)[a: a + 10], vectors=matrix(x[a: a + 10])) for a in (0, 10, 20)]
    assert stub.StreamInsert(iter(batches), timeout=T).count == 30
    y = data(2, seed=3)
    assert stub.StreamUpsert(iter([pb.UpsertRequest(keys=["k0", "z"], vectors=matrix(y))]), timeout=T).count == 2
    assert stub.StreamUpdate(iter([pb.UpdateRequest(keys=["z"], vectors=matrix(y[:1]))]), timeout=T).count == 1
    assert stub.StreamRemove(iter([pb.RemoveRequest(keys=["k1"]), pb.RemoveRequest(keys=["k2", "z"])]),
                             timeout=T).count == 3
    assert len(index) == 28
    np.testing.assert_array_equal(index.get(["k0", "k3"]), np.stack([y[0], x[3]]))


def test_search_by_key(loaded):
    index, stub, x = loaded
    r = stub.SearchByKey(pb.SearchByKeyRequest(keys=["k3", "k4"], k=5), timeout=T)
    assert unpack(r.results)[0] == index.search(x[3:5], 5)[0].tolist()
    assert [res.keys[0] for res in r.results] == ["k3", "k4"]
    r = stub.SearchByKey(pb.SearchByKeyRequest(keys=["k3"], k=5, exclude_self=True), timeout=T)
    assert list(r.results[0].keys) == index.search(x[3:4], 6)[0][0, 1:].tolist()


def test_stream_search_answers_in_order(loaded):
    index, stub, _ = loaded
    qs = [data(2, seed=s) for s in (10, 11, 12)]
    got = list(stub.StreamSearch(iter([pb.SearchRequest(queries=matrix(q), k=3) for q in qs]), timeout=T))
    assert [g.WhichOneof("result") for g in got] == ["response"] * 3
    for g, q in zip(got, qs):
        assert unpack(g.response.results)[0] == index.search(q, 3)[0].tolist()


def test_get_vector_and_exists(loaded):
    _, stub, x = loaded
    r = stub.GetVector(pb.GetVectorRequest(keys=["k9", "k1"]), timeout=T)
    assert list(r.keys) == ["k9", "k1"] and (r.vectors.rows, r.vectors.dim) == (2, DIM)
    np.testing.assert_array_equal(np.array(r.vectors.values).reshape(2, DIM), x[[9, 1]])
    r = stub.Exists(pb.ExistsRequest(keys=["k1", "nope", "k99"]), timeout=T)
    assert list(r.exists) == [True, False, True]


def test_index_info(loaded):
    index, stub, _ = loaded
    r = stub.IndexInfo(pb.IndexInfoRequest(), timeout=T)
    assert (r.count, r.dim, r.subspaces, r.metric, r.trained) == (100, DIM, S, "l2", True)
    assert r.wal_seq == index.seq and r.default_candidates == index.config.T
    assert len(r.workers) == S
    assert all(w.state == pb.WORKER_STATE_SERVING and w.count == 100 and w.transport == "local"
               for w in r.workers)
    assert [list(w.subspaces) for w in r.workers] == [[0], [1]]


def test_save_checkpoints(loaded):
    index, stub, _ = loaded
    r = stub.Save(pb.SaveRequest(), timeout=T)
    assert r.wal_seq == index.seq
    assert index.info()["wal_seq"] == r.wal_seq
