"""Request limits from the request's shape, before any work; malformed bytes are INVALID_ARGUMENT.

Every rejected search is checked to have done no work: the index's search entry points are
replaced by a spy that records any call."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from sanny.engine.limits import Limits, MemoryBudget, ResourceExhausted
from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc
from sanny.workers.errors import InvalidArgument

from service_fixtures import DIM, data, keys, make_index, matrix, rpc_error, served


@pytest.fixture
def spied(tmp_path, monkeypatch):
    ix = make_index(tmp_path / "idx")
    ix.insert(keys(20), data(20))
    calls = []
    for name in ("search", "prepare_queries", "get"):
        real = getattr(ix, name)
        monkeypatch.setattr(ix, name, lambda *a, _r=real, _n=name, **kw: (calls.append(_n), _r(*a, **kw))[1])
    yield ix, calls
    ix.close(save=False)


def stub_for(ix, **kw):
    class Ctx:
        def __enter__(self):
            self._served = served(ix, **kw)
            port = self._served.__enter__()
            self._ch = grpc.insecure_channel(f"127.0.0.1:{port}")
            return pb_grpc.SannyStub(self._ch), self._ch

        def __exit__(self, *exc):
            self._ch.close()
            self._served.__exit__(*exc)
    return Ctx()


def test_512_queries_with_100000_candidates_rejected_before_work(spied):
    ix, calls = spied
    with stub_for(ix) as (stub, _):
        req = pb.SearchRequest(queries=matrix(data(512, seed=3)), k=10, candidates=100_000)
        err = rpc_error(stub.Search, req)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_query_candidates" in err.details()
    assert calls == []


@pytest.mark.parametrize("limits,request_kw,code,name", [
    (Limits(max_query_k=100), {"k": 50, "rows": 3}, grpc.StatusCode.RESOURCE_EXHAUSTED, "max_query_k"),
    (Limits(max_response_bytes=1000), {"k": 100, "rows": 1}, grpc.StatusCode.RESOURCE_EXHAUSTED, "max_response_bytes"),
    (Limits(memory_budget_bytes=10_000), {"k": 5, "rows": 10}, grpc.StatusCode.RESOURCE_EXHAUSTED, "memory_budget_bytes"),
])
def test_search_shape_limits_name_the_limit(spied, limits, request_kw, code, name):
    ix, calls = spied
    with stub_for(ix, limits=limits) as (stub, _):
        req = pb.SearchRequest(queries=matrix(data(request_kw["rows"], seed=4)), k=request_kw["k"])
        err = rpc_error(stub.Search, req)
        assert err.code() == code and name in err.details()
        assert calls == []
        ok = stub.Search(pb.SearchRequest(queries=matrix(data(1, seed=5)), k=1), timeout=10)
        assert len(ok.results) == 1


def test_key_length_and_keys_per_request(spied):
    ix, calls = spied
    with stub_for(ix, limits=Limits(max_key_bytes=16, max_keys=4)) as (stub, _):
        long_key = pb.InsertRequest(keys=["x" * 17], vectors=matrix(data(1)))
        err = rpc_error(stub.Insert, long_key)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "max_key_bytes" in err.details()
        many = pb.InsertRequest(keys=keys(5, "m"), vectors=matrix(data(5)))
        err = rpc_error(stub.Insert, many)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_keys" in err.details()
        err = rpc_error(stub.Exists, pb.ExistsRequest(keys=keys(5, "m")))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_keys" in err.details()
        err = rpc_error(stub.SearchByKey, pb.SearchByKeyRequest(keys=keys(5), k=1))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and calls == []
    assert len(ix) == 20  # nothing written


def test_malformed_bytes_are_invalid_argument(spied):
    ix, _ = spied
    with stub_for(ix) as (_, ch):
        for method in ("/sanny.v1.Sanny/Search", "/sanny.v1.Sanny/Insert", "/sanny.v1.Sanny/Exists"):
            call = ch.unary_unary(method, request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
            with pytest.raises(grpc.RpcError) as err:
                call(b"\xff\xff\xff\xff\x0f", timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert "not a valid protobuf" in err.value.details()
        stream = ch.stream_unary("/sanny.v1.Sanny/StreamInsert", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            stream(iter([b"\xff\xff\xff\xff\x0f"]), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        search = ch.stream_stream("/sanny.v1.Sanny/StreamSearch", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            list(search(iter([b"\xff\xff\xff\xff\x0f"]), timeout=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_memory_budget_refuses_what_does_not_fit_and_frees_on_exit():
    budget = MemoryBudget(100)
    with pytest.raises(ResourceExhausted, match="memory_budget_bytes"):
        with budget.hold(101):
            pass
    with budget.hold(60):
        with pytest.raises(ResourceExhausted, match="server busy"):
            with budget.hold(60, wait=0):
                pass
        assert budget.used == 60
    assert budget.used == 0
    with budget.hold(100):
        pass


def test_limits_from_dict_checks_names_and_values():
    assert Limits.from_dict({"max_keys": "7"}).max_keys == 7
    with pytest.raises(InvalidArgument, match="unknown limit"):
        Limits.from_dict({"max_kees": 1})
    with pytest.raises(InvalidArgument, match="max_keys"):
        Limits.from_dict({"max_keys": 0})
    assert DIM and np  # fixtures' dimension is what data() draws


def test_vald_search_shares_the_limits(tmp_path):
    vald_pb = pytest.importorskip("vald.v1.payload.payload_pb2")
    from vald.v1.vald import search_pb2_grpc
    ix = make_index(tmp_path / "v")
    ix.insert(keys(20), data(20))
    try:
        with stub_for(ix, limits=Limits(max_query_k=5)) as (_, ch):
            req = vald_pb.Search.Request(vector=data(1, seed=9)[0].tolist(),
                                         config=vald_pb.Search.Config(num=10))
            with pytest.raises(grpc.RpcError) as err:
                search_pb2_grpc.SearchStub(ch).Search(req, timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_query_k" in err.value.details()
    finally:
        ix.close(save=False)


def test_vald_writes_share_the_key_limits(tmp_path):
    """A Vald id is a key: over max_key_bytes -> INVALID_ARGUMENT naming the field; more
    requests than max_keys in one Multi call -> RESOURCE_EXHAUSTED; nothing is written."""
    vald_pb = pytest.importorskip("vald.v1.payload.payload_pb2")
    from vald.v1.vald import insert_pb2_grpc, object_pb2_grpc, remove_pb2_grpc
    ix = make_index(tmp_path / "v")
    ix.insert(keys(5), data(5))
    x = data(3, seed=4)
    try:
        with stub_for(ix, limits=Limits(max_key_bytes=16, max_keys=2)) as (_, ch):
            def vec(id_, row):
                return vald_pb.Object.Vector(id=id_, vector=row.tolist())
            long_id = "x" * 17
            with pytest.raises(grpc.RpcError) as err:
                insert_pb2_grpc.InsertStub(ch).Insert(vald_pb.Insert.Request(vector=vec(long_id, x[0])), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "vector.id" in err.value.details() and "max_key_bytes" in err.value.details()
            many = vald_pb.Insert.MultiRequest(requests=[vald_pb.Insert.Request(vector=vec(f"n{i}", x[i]))
                                                         for i in range(3)])
            with pytest.raises(grpc.RpcError) as err:
                insert_pb2_grpc.InsertStub(ch).MultiInsert(many, timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max_keys" in err.value.details()
            with pytest.raises(grpc.RpcError) as err:
                remove_pb2_grpc.RemoveStub(ch).Remove(
                    vald_pb.Remove.Request(id=vald_pb.Object.ID(id=long_id)), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "id.id" in err.value.details()
            with pytest.raises(grpc.RpcError) as err:
                object_pb2_grpc.ObjectStub(ch).Exists(vald_pb.Object.ID(id=long_id), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(ix) == 5 and not ix.exists([long_id, "n0", "n1", "n2"]).any()
    finally:
        ix.close(save=False)
