"""Client: numpy in and out like Index (same shapes, dtypes, padding), the engine's exception
types for request errors, bulk streams, stream search and context-manager use."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine import AlreadyExists, InvalidArgument, NotFound

from service_fixtures import DIM, S, client, data, index, keys, port  # noqa: F401


@pytest.fixture
def loaded(index, client):
    x = data(120)
    assert client.insert(keys(120), x) == 120
    return index, client, x


def test_search_matches_index(loaded):
    index, client, _ = loaded
    q = data(6, seed=4)
    got_k, got_d = client.search(q, k=5, T=40, epsilon=0.1)
    want_k, want_d = index.search(q, 5, T=40, epsilon=0.1)
    assert got_k.dtype == object and got_d.dtype == np.float32 and got_k.shape == (6, 5)
    assert got_k.tolist() == want_k.tolist()
    np.testing.assert_allclose(got_d, want_d, rtol=1e-6)
    one_k, _ = client.search(q[0], k=5)  # a single 1-D query is one row
    assert one_k.tolist() == want_k[:1].tolist()


def test_padding_like_index(client):
    client.insert(["a", "b"], data(2))
    k, d = client.search(data(1, seed=9), k=4)
    assert k[0, 2:].tolist() == [None, None] and np.isinf(d[0, 2:]).all()


def test_reads_and_writes(loaded):
    index, client, x = loaded
    np.testing.assert_array_equal(client.get(["k3", "k0"]), x[[3, 0]])
    assert client.exists(["k1", "zz"]).tolist() == [True, False]
    assert client.upsert("k1", x[2]) == 1 and client.update(["k2"], x[1:2]) == 1
    np.testing.assert_array_equal(client.get(["k1", "k2"]), x[[2, 1]])
    assert client.remove(["k1"]) == 1 and len(client) == 119
    kk, _ = client.search_by_key(["k4"], k=3, exclude_self=True)
    assert "k4" not in kk[0].tolist() and kk.shape == (1, 3)
    info = client.info()
    assert (info["count"], info["dim"], info["subspaces"], info["metric"]) == (119, DIM, S, "l2")
    assert [w["state"] for w in info["workers"]] == ["SERVING"] * S
    assert client.save() == index.seq and client.health() == "SERVING"


def test_streams(index, client):
    x = data(50)
    assert client.stream_insert((keys(50)[a: a + 20], x[a: a + 20]) for a in range(0, 50, 20)) == 50
    assert client.stream_upsert([(["k0"], x[1:2])]) == 1
    assert client.stream_update([(["k0"], x[0:1])]) == 1
    assert client.stream_remove([["k1"], ["k2", "k3"]]) == 3
    assert len(index) == 47
    batches = [data(3, seed=s) for s in (1, 2)]
    got = list(client.stream_search(batches, k=4))
    assert [g[0].tolist() for g in got] == [index.search(b, 4)[0].tolist() for b in batches]
    with pytest.raises(InvalidArgument) as e:
        list(client.stream_search([batches[0], data(1, dim=DIM + 1)], k=4))
    assert e.value.field == "queries"


def test_errors_are_engine_exceptions(loaded):
    _, client, x = loaded
    with pytest.raises(AlreadyExists):
        client.insert(["k0"], x[:1])
    with pytest.raises(NotFound):
        client.get(["missing"])
    with pytest.raises(InvalidArgument) as e:
        client.search(x[:2], k=0)
    assert e.value.field == "k"
    with pytest.raises(InvalidArgument) as e:
        client.insert(["n"], np.full((1, DIM), np.nan))
    assert e.value.field == "vectors"
