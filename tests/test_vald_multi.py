"""Multi* calls: MultiSearch answers each request with its own config, in order; Multi writes
are all-or-nothing (one bad request and nothing is written)."""
from __future__ import annotations

import grpc
import numpy as np

from vald_fixtures import (T, config, data, error, ids_and_distances, index, insert_all, p, vald,  # noqa: F401
                           vec)


def test_multi_search_matches_single_searches(vald):
    x = data(60)
    insert_all(vald, x)
    q = data(4, seed=3)
    nums = [1, 3, 5, 8]
    reqs = [p.Search.Request(vector=row.tolist(), config=config(n, request_id=f"r{i}"))
            for i, (row, n) in enumerate(zip(q, nums))]
    r = vald.search.MultiSearch(p.Search.MultiRequest(requests=reqs), timeout=T)
    assert len(r.responses) == 4
    for i, (resp, n) in enumerate(zip(r.responses, nums)):
        single = vald.search.Search(reqs[i], timeout=T)
        assert resp.request_id == f"r{i}" and len(resp.results) == n
        assert ids_and_distances(resp)[0] == ids_and_distances(single)[0]
        assert ids_and_distances(resp)[0] == vald.index.search(q[i:i + 1], n)[0][0].tolist()

    by_id = vald.search.MultiSearchByID(p.Search.MultiIDRequest(requests=[
        p.Search.IDRequest(id="v5", config=config(2)), p.Search.IDRequest(id="v5", config=config(3))]), timeout=T)
    assert [r.results[0].id for r in by_id.responses] == ["v5", "v5"]
    assert [len(r.results) for r in by_id.responses] == [2, 3]


def test_multi_search_fails_as_a_whole(vald):
    insert_all(vald, data(10))
    good = p.Search.Request(vector=data(1)[0].tolist(), config=config(3))
    bad = p.Search.Request(vector=[1.0, 2.0], config=config(3))
    e = error(vald.search.MultiSearch, p.Search.MultiRequest(requests=[good, bad]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith("requests[1].vector:")
    e = error(vald.search.MultiSearch, p.Search.MultiRequest())
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith("requests:")


def test_multi_writes_are_all_or_nothing(vald):
    x = data(6)
    insert_all(vald, x[:3])  # v0..v2
    seq = vald.index.seq
    reqs = [p.Insert.Request(vector=vec(f"v{i}", x[i])) for i in (3, 4, 1)]  # v1 exists
    e = error(vald.insert.MultiInsert, p.Insert.MultiRequest(requests=reqs))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS and "'v1'" in e.details()
    assert vald.index.seq == seq and not vald.index.exists(["v3", "v4"]).any()

    reqs = [p.Insert.Request(vector=vec("a", x[3])), p.Insert.Request(vector=vec("a", x[4]))]
    e = error(vald.insert.MultiInsert, p.Insert.MultiRequest(requests=reqs))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith("requests[1].vector.id:")

    y = data(3, seed=4)
    e = error(vald.update.MultiUpdate, p.Update.MultiRequest(requests=[
        p.Update.Request(vector=vec("v0", y[0])), p.Update.Request(vector=vec("missing", y[1]))]))
    assert e.code() == grpc.StatusCode.NOT_FOUND and "'missing'" in e.details()
    np.testing.assert_array_equal(vald.index.get(["v0"])[0], x[0])

    e = error(vald.remove.MultiRemove, p.Remove.MultiRequest(requests=[
        p.Remove.Request(id=p.Object.ID(id="v0")), p.Remove.Request(id=p.Object.ID(id="missing"))]))
    assert e.code() == grpc.StatusCode.NOT_FOUND and vald.index.exists(["v0"])[0]
    assert vald.index.seq == seq

    locs = vald.update.MultiUpdate(p.Update.MultiRequest(requests=[
        p.Update.Request(vector=vec("v0", y[0])), p.Update.Request(vector=vec("v1", y[1]))]), timeout=T)
    assert [loc.uuid for loc in locs.locations] == ["v0", "v1"] and vald.index.seq == seq + 1
    locs = vald.upsert.MultiUpsert(p.Upsert.MultiRequest(requests=[
        p.Upsert.Request(vector=vec("v2", y[2])), p.Upsert.Request(vector=vec("v9", y[2]))]), timeout=T)
    assert [loc.uuid for loc in locs.locations] == ["v2", "v9"]
    np.testing.assert_array_equal(vald.index.get(["v0", "v1", "v2", "v9"]), [y[0], y[1], y[2], y[2]])
    locs = vald.remove.MultiRemove(p.Remove.MultiRequest(requests=[
        p.Remove.Request(id=p.Object.ID(id="v0")), p.Remove.Request(id=p.Object.ID(id="v9"))]), timeout=T)
    assert [loc.uuid for loc in locs.locations] == ["v0", "v9"] and len(vald.index) == 2
