"""Every bad-input case gets INVALID_ARGUMENT with a message starting with the field's name,
and nothing is written."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from sanny.engine.validate import MAX_K, MAX_T
from sanny.v1 import sanny_pb2 as pb

from service_fixtures import CALL_TIMEOUT, DIM, data, index, keys, matrix, port, rpc_error, stub  # noqa: F401

X = data(4)


def with_row(value):
    x = X.copy()
    x[2, 3] = value
    return matrix(x)


def search(**kw):
    kw.setdefault("queries", matrix(X[:2]))
    kw.setdefault("k", 3)
    return pb.SearchRequest(**kw)


CASES = {
    # name: (method, request, field the message must start with)
    "insert wrong dim": ("Insert", pb.InsertRequest(keys=keys(4), vectors=matrix(data(4, dim=DIM + 1))), "vectors"),
    "insert NaN": ("Insert", pb.InsertRequest(keys=keys(4), vectors=with_row(np.nan)), "vectors"),
    "insert +Inf": ("Insert", pb.InsertRequest(keys=keys(4), vectors=with_row(np.inf)), "vectors"),
    "insert -Inf": ("Insert", pb.InsertRequest(keys=keys(4), vectors=with_row(-np.inf)), "vectors"),
    "insert empty batch": ("Insert", pb.InsertRequest(), "vectors"),
    "insert no keys": ("Insert", pb.InsertRequest(vectors=matrix(X)), "keys"),
    "insert key count": ("Insert", pb.InsertRequest(keys=keys(3), vectors=matrix(X)), "keys"),
    "insert empty key": ("Insert", pb.InsertRequest(keys=["a", "", "c", "d"], vectors=matrix(X)), "keys"),
    "insert repeated key": ("Insert", pb.InsertRequest(keys=["a", "b", "a", "d"], vectors=matrix(X)), "keys"),
    "insert short values": ("Insert", pb.InsertRequest(
        keys=keys(4), vectors=pb.Matrix(rows=4, dim=DIM, values=[1.0] * 5)), "vectors.values"),
    "insert huge finite": ("Insert", pb.InsertRequest(keys=keys(4), vectors=with_row(1e20)), "vectors"),
    "insert NUL in key": ("Insert", pb.InsertRequest(keys=["a", "b\0", "c", "d"], vectors=matrix(X)), "keys"),
    "upsert newline in key": ("Upsert", pb.UpsertRequest(keys=["a\nb", "b", "c", "d"], vectors=matrix(X)), "keys"),
    "search huge finite": ("Search", search(queries=with_row(1e20)), "queries"),
    "upsert NaN": ("Upsert", pb.UpsertRequest(keys=keys(4), vectors=with_row(np.nan)), "vectors"),
    "update wrong dim": ("Update", pb.UpdateRequest(keys=keys(4), vectors=matrix(data(4, dim=3))), "vectors"),
    "remove empty batch": ("Remove", pb.RemoveRequest(), "keys"),
    "search wrong dim": ("Search", search(queries=matrix(data(2, dim=DIM - 1))), "queries"),
    "search NaN": ("Search", search(queries=with_row(np.nan)), "queries"),
    "search Inf": ("Search", search(queries=with_row(np.inf)), "queries"),
    "search empty batch": ("Search", search(queries=pb.Matrix()), "queries"),
    "search k=0": ("Search", search(k=0), "k"),
    "search k<0": ("Search", search(k=-3), "k"),
    "search k over limit": ("Search", search(k=MAX_K + 1), "k"),
    "search candidates < k": ("Search", search(k=5, candidates=4), "candidates"),
    "search candidates over limit": ("Search", search(candidates=MAX_T + 1), "candidates"),
    "search epsilon NaN": ("Search", search(epsilon=float("nan")), "epsilon"),
    "search max_candidates < candidates": ("Search", search(candidates=20, max_candidates=10), "max_candidates"),
    "search_by_key k=0": ("SearchByKey", pb.SearchByKeyRequest(keys=["k0"], k=0), "k"),
    "search_by_key empty batch": ("SearchByKey", pb.SearchByKeyRequest(k=3), "keys"),
    "get empty batch": ("GetVector", pb.GetVectorRequest(), "keys"),
    "exists empty batch": ("Exists", pb.ExistsRequest(), "keys"),
}


@pytest.fixture
def loaded(index, stub):
    stub.Insert(pb.InsertRequest(keys=keys(4, "k"), vectors=matrix(X)), timeout=CALL_TIMEOUT)
    return index, stub


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_argument_names_the_field(loaded, case):
    index, stub = loaded
    method, request, field = CASES[case]
    seq = index.seq
    err = rpc_error(getattr(stub, method), request)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert err.details().startswith(field + ": "), err.details()
    assert index.seq == seq and len(index) == 4  # nothing written


def test_bad_stream_message_fails_the_stream_and_keeps_earlier_batches(loaded):
    index, stub = loaded
    good = pb.InsertRequest(keys=["s0", "s1"], vectors=matrix(data(2, seed=7)))
    bad = pb.InsertRequest(keys=["s2"], vectors=matrix(data(1, dim=DIM + 2)))
    err = rpc_error(stub.StreamInsert, iter([good, bad]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("vectors: wrong dimension") and "stream message 1" in err.details()
    assert index.exists(["s0", "s1", "s2"]).tolist() == [True, True, False]


def test_bad_stream_search_message_gets_a_status_and_the_stream_goes_on(loaded):
    _, stub = loaded
    requests = [search(), search(k=0), search(queries=matrix(data(1, dim=3))), search()]
    got = list(stub.StreamSearch(iter(requests), timeout=CALL_TIMEOUT))
    assert [g.WhichOneof("result") for g in got] == ["response", "status", "status", "response"]
    assert got[1].status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert got[1].status.message.startswith("k: ") and got[2].status.message.startswith("queries: ")
