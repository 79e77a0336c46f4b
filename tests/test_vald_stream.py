"""Bidirectional Stream* calls: one answer per message, in order; a bad message answers a
google.rpc.Status and the stream goes on (Vald: each request is independent)."""
from __future__ import annotations

import grpc
import numpy as np

from vald_fixtures import T, config, data, ids_and_distances, index, insert_all, p, vald, vec  # noqa: F401

INVALID, EXISTS, NOT_FOUND = (c.value[0] for c in (grpc.StatusCode.INVALID_ARGUMENT,
                                                   grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.NOT_FOUND))


def test_stream_insert_then_stream_search(vald):
    x = data(30)
    reqs = [p.Insert.Request(vector=vec(f"v{i}", x[i])) for i in range(30)]
    reqs.insert(10, p.Insert.Request(vector=vec("v3", x[3])))       # duplicate id
    reqs.insert(20, p.Insert.Request(vector=vec("short", [1.0, 2.0])))  # wrong dimension
    out = list(vald.insert.StreamInsert(iter(reqs), timeout=T))
    assert len(out) == 32
    assert out[10].WhichOneof("payload") == "status" and out[10].status.code == EXISTS
    assert out[20].status.code == INVALID and out[20].status.message.startswith("vector.vector:")
    ok = [o.location.uuid for i, o in enumerate(out) if i not in (10, 20)]
    assert ok == [f"v{i}" for i in range(30)] and len(vald.index) == 30

    q = data(5, seed=2)
    reqs = [p.Search.Request(vector=row.tolist(), config=config(4, request_id=f"q{i}")) for i, row in enumerate(q)]
    reqs.insert(2, p.Search.Request(vector=q[0].tolist(), config=config(0)))  # num = 0
    out = list(vald.search.StreamSearch(iter(reqs), timeout=T))
    assert [o.WhichOneof("payload") for o in out] == ["response"] * 2 + ["status"] + ["response"] * 3
    assert out[2].status.code == INVALID and out[2].status.message.startswith("config.num:")
    answers = [o.response for o in out if o.HasField("response")]
    assert [a.request_id for a in answers] == [f"q{i}" for i in range(5)]
    for a, row in zip(answers, q):
        assert ids_and_distances(a)[0] == vald.index.search(row[None], 4)[0][0].tolist()

    out = list(vald.search.StreamSearchByID(iter([p.Search.IDRequest(id="v1", config=config(2)),
                                                  p.Search.IDRequest(id="nope", config=config(2))]), timeout=T))
    assert out[0].response.results[0].id == "v1" and out[1].status.code == NOT_FOUND


def test_stream_get_update_upsert_remove(vald):
    x = data(4)
    insert_all(vald, x)
    out = list(vald.object.StreamGetObject(iter([p.Object.VectorRequest(id=p.Object.ID(id=i)) for i in
                                                 ("v2", "gone", "v0")]), timeout=T))
    np.testing.assert_array_equal(np.array(out[0].vector.vector, np.float32), x[2])
    assert out[1].status.code == NOT_FOUND and out[2].vector.id == "v0"

    y = data(2, seed=8)
    out = list(vald.update.StreamUpdate(iter([p.Update.Request(vector=vec("v0", y[0])),
                                              p.Update.Request(vector=vec("zz", y[1]))]), timeout=T))
    assert out[0].location.uuid == "v0" and out[1].status.code == NOT_FOUND
    out = list(vald.upsert.StreamUpsert(iter([p.Upsert.Request(vector=vec("zz", y[1]))]), timeout=T))
    assert out[0].location.uuid == "zz"
    out = list(vald.remove.StreamRemove(iter([p.Remove.Request(id=p.Object.ID(id=i)) for i in ("v1", "v1", "zz")]),
                                        timeout=T))
    assert [o.WhichOneof("payload") for o in out] == ["location", "status", "location"]
    assert out[1].status.code == NOT_FOUND and sorted(vald.index.exists(["v0", "v1", "v2", "v3", "zz"])) == \
        [False, False, True, True, True]
