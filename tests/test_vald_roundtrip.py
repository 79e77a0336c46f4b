"""The official vald-client-python stubs round-trip Insert -> Search -> SearchByID -> Update ->
Exists / GetObject -> Upsert -> Remove against a Sanny server, with the engine's results."""
from __future__ import annotations

import numpy as np

from vald_fixtures import T, config, data, ids_and_distances, index, p, vald, vec  # noqa: F401


def test_vald_client_round_trip(vald):
    x = data(50)
    for i in range(50):
        loc = vald.insert.Insert(p.Insert.Request(vector=vec(f"v{i}", x[i]), config=p.Insert.Config()), timeout=T)
        assert loc.uuid == f"v{i}" and loc.name and list(loc.ips) == ["127.0.0.1"]
    assert len(vald.index) == 50

    q = data(1, seed=7)[0]
    r = vald.search.Search(p.Search.Request(vector=q.tolist(), config=config(5, request_id="q1")), timeout=T)
    want_k, want_d = vald.index.search(q[None], 5)
    got_k, got_d = ids_and_distances(r)
    assert r.request_id == "q1" and got_k == want_k[0].tolist()
    np.testing.assert_allclose(got_d, want_d[0], rtol=1e-6)
    brute = np.sqrt(((x - q) ** 2).sum(1))  # the exact index: true neighbours
    assert got_k == [f"v{i}" for i in np.argsort(brute)[:5]]

    r = vald.search.SearchByID(p.Search.IDRequest(id="v3", config=config(4)), timeout=T)
    got_k, got_d = ids_and_distances(r)
    assert got_k[0] == "v3" and got_d[0] == 0 and got_k == vald.index.search(x[3:4], 4)[0][0].tolist()

    y = data(1, seed=9)[0]
    assert vald.update.Update(p.Update.Request(vector=vec("v3", y)), timeout=T).uuid == "v3"
    np.testing.assert_array_equal(vald.index.get(["v3"])[0], y)

    assert vald.object.Exists(p.Object.ID(id="v3"), timeout=T).id == "v3"
    got = vald.object.GetObject(p.Object.VectorRequest(id=p.Object.ID(id="v3")), timeout=T)
    assert got.id == "v3"
    np.testing.assert_array_equal(np.array(got.vector, np.float32), y)

    assert vald.upsert.Upsert(p.Upsert.Request(vector=vec("new", y)), timeout=T).uuid == "new"
    assert vald.upsert.Upsert(p.Upsert.Request(vector=vec("v4", y)), timeout=T).uuid == "v4"
    np.testing.assert_array_equal(vald.index.get(["new", "v4"]), [y, y])

    assert vald.remove.Remove(p.Remove.Request(id=p.Object.ID(id="v3")), timeout=T).uuid == "v3"
    assert not vald.index.exists(["v3"])[0] and len(vald.index) == 50
    r = vald.search.Search(p.Search.Request(vector=y.tolist(), config=config(3)), timeout=T)
    got_k = ids_and_distances(r)[0]
    assert set(got_k[:2]) == {"new", "v4"} and got_k == vald.index.search(y[None], 3)[0][0].tolist()
