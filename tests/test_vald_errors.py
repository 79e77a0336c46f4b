"""Status codes of the vald.v1 facade: duplicate insert ALREADY_EXISTS, missing id NOT_FOUND,
wrong dimension / NaN / num = 0 / empty id INVALID_ARGUMENT naming the field, same-vector
update ALREADY_EXISTS unless skip_strict_exist_check, filters UNIMPLEMENTED."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from vald_fixtures import DIM, T, config, data, error, index, insert_all, p, vald, vec  # noqa: F401

C = grpc.StatusCode


@pytest.fixture
def loaded(vald):
    x = data(10)
    insert_all(vald, x)
    return vald, x


def test_duplicate_insert_is_already_exists(loaded):
    v, x = loaded
    e = error(v.insert.Insert, p.Insert.Request(vector=vec("v1", x[2])))
    assert e.code() == C.ALREADY_EXISTS and "'v1'" in e.details()
    np.testing.assert_array_equal(v.index.get(["v1"])[0], x[1])  # unchanged


def test_missing_id_is_not_found(loaded):
    v, x = loaded
    for call, request in [
        (v.update.Update, p.Update.Request(vector=vec("nope", x[0]))),
        (v.remove.Remove, p.Remove.Request(id=p.Object.ID(id="nope"))),
        (v.object.GetObject, p.Object.VectorRequest(id=p.Object.ID(id="nope"))),
        (v.object.Exists, p.Object.ID(id="nope")),
        (v.search.SearchByID, p.Search.IDRequest(id="nope", config=config(3))),
    ]:
        e = error(call, request)
        assert e.code() == C.NOT_FOUND and "'nope'" in e.details(), call


def test_bad_input_is_invalid_argument_naming_the_field(loaded):
    v, x = loaded
    nan = x[0].copy()
    nan[3] = np.nan
    for call, request, field in [
        (v.insert.Insert, p.Insert.Request(vector=vec("w", x[0][:DIM - 1])), "vector.vector:"),
        (v.insert.Insert, p.Insert.Request(vector=vec("w", nan)), "vector.vector:"),
        (v.insert.Insert, p.Insert.Request(vector=vec("", x[0])), "vector.id:"),
        (v.upsert.Upsert, p.Upsert.Request(vector=vec("w", [np.inf] * DIM)), "vector.vector:"),
        (v.search.Search, p.Search.Request(vector=x[0].tolist(), config=config(0)), "config.num:"),
        (v.search.Search, p.Search.Request(vector=x[0].tolist()), "config.num:"),  # no config at all
        (v.search.Search, p.Search.Request(vector=x[0][:3].tolist(), config=config(3)), "vector:"),
        (v.search.Search, p.Search.Request(vector=nan.tolist(), config=config(3)), "vector:"),
        (v.search.Search, p.Search.Request(vector=x[0].tolist(), config=config(3, epsilon=-2)), "config.epsilon:"),
        (v.search.Search, p.Search.Request(vector=x[0].tolist(), config=config(3, min_num=4)), "config.min_num:"),
        (v.search.SearchByID, p.Search.IDRequest(id="", config=config(3)), "id:"),
        (v.object.Exists, p.Object.ID(id=""), "id:"),
    ]:
        e = error(call, request)
        assert e.code() == C.INVALID_ARGUMENT and e.details().startswith(field), (field, e.details())
    assert len(v.index) == 10 and not v.index.exists(["w"])[0]


def test_same_vector_update_is_already_exists_unless_skipped(loaded):
    v, x = loaded
    seq = v.index.seq
    e = error(v.update.Update, p.Update.Request(vector=vec("v2", x[2])))
    assert e.code() == C.ALREADY_EXISTS and "'v2'" in e.details()
    e = error(v.upsert.Upsert, p.Upsert.Request(vector=vec("v2", x[2])))
    assert e.code() == C.ALREADY_EXISTS and v.index.seq == seq
    skip = p.Update.Config(skip_strict_exist_check=True)
    assert v.update.Update(p.Update.Request(vector=vec("v2", x[2]), config=skip), timeout=T).uuid == "v2"
    assert v.index.seq == seq  # accepted; the key already holds this vector, so nothing is logged


def test_filters_are_unimplemented(loaded):
    v, x = loaded
    filters = p.Filter.Config(targets=[p.Filter.Target(host="filter", port=8081)])
    e = error(v.search.Search, p.Search.Request(vector=x[0].tolist(), config=config(3, egress_filters=filters)))
    assert e.code() == C.UNIMPLEMENTED and e.details().startswith("config.egress_filters:")
    e = error(v.insert.Insert, p.Insert.Request(vector=vec("w", x[0]), config=p.Insert.Config(filters=filters)))
    assert e.code() == C.UNIMPLEMENTED and not v.index.exists(["w"])[0]
