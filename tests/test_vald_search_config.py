"""Search.Config semantics: radius, min_num and empty results (NOT_FOUND, as in Vald), epsilon
0 = the index default, timeout (ns) as a deadline on the search, LinearSearch = exact search."""
from __future__ import annotations

import grpc
import numpy as np

from sanny.engine import IndexConfig
from sanny.engine.api.server import run_server

from service_fixtures import ProxyWorker, make_index
from vald_fixtures import T, config, data, error, ids_and_distances, index, insert_all, p, stubs, vald  # noqa: F401

C = grpc.StatusCode


def test_radius_min_num_and_empty_results(vald):
    q = data(1, seed=1)[0]
    e = error(vald.search.Search, p.Search.Request(vector=q.tolist(), config=config(3)))
    assert e.code() == C.NOT_FOUND  # empty index: empty result
    x = data(3)
    insert_all(vald, x)
    d = np.sort(np.sqrt(((x - q) ** 2).sum(1)))
    r = vald.search.Search(p.Search.Request(vector=q.tolist(), config=config(5, radius=float(d[1]) + 1e-4)),
                           timeout=T)
    assert len(r.results) == 2  # the farthest is outside the radius
    r = vald.search.Search(p.Search.Request(vector=q.tolist(), config=config(5, radius=0, epsilon=0)), timeout=T)
    assert len(r.results) == 3  # radius 0 / epsilon 0: unlimited / the index default
    e = error(vald.search.Search, p.Search.Request(vector=q.tolist(), config=config(5, radius=float(d[0]) / 2)))
    assert e.code() == C.NOT_FOUND and "empty" in e.details()
    r = vald.search.Search(p.Search.Request(vector=q.tolist(), config=config(5, min_num=3)), timeout=T)
    assert len(r.results) == 3
    e = error(vald.search.Search, p.Search.Request(vector=q.tolist(), config=config(5, min_num=4)))
    assert e.code() == C.NOT_FOUND and "min_num" in e.details()


def test_linear_search_is_exact(tmp_path):
    ix = make_index(tmp_path / "ngt", inner=IndexConfig(dim=8, S=2).inner, S=4)  # the default NGT graph
    x = data(1500, seed=3)
    ids = [f"v{i}" for i in range(1500)]
    ix.insert(ids, x)
    ix.remove(ids[::5])
    live = np.array([i for i in range(1500) if i % 5])
    q = data(6, seed=4)
    try:
        with run_server(ix, "127.0.0.1:0", grace=1.0) as (_server, port), \
                grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            v = stubs(channel)
            reqs = [p.Search.Request(vector=row.tolist(), config=config(10)) for row in q]
            r = v.search.MultiLinearSearch(p.Search.MultiRequest(requests=reqs), timeout=T)
            for row, resp in zip(q, r.responses):
                d = np.sqrt(((x[live] - row) ** 2).sum(1))
                got_k, got_d = ids_and_distances(resp)
                assert got_k == [f"v{i}" for i in live[np.argsort(d)[:10]]]
                np.testing.assert_allclose(got_d, np.sort(d)[:10], rtol=1e-5)
            r = v.search.LinearSearchByID(p.Search.IDRequest(id="v7", config=config(3)), timeout=T)
            d = np.sqrt(((x[live] - x[7]) ** 2).sum(1))
            assert ids_and_distances(r)[0] == [f"v{i}" for i in live[np.argsort(d)[:3]]]
    finally:
        ix.close(save=False)


def test_config_timeout_is_a_deadline(tmp_path):
    ix = make_index(tmp_path / "slow", worker_factory=ProxyWorker)
    ix.insert(["a", "b"], data(2))
    for w in ix.workers:
        w.delay = 0.3
    q = data(1, seed=5)[0].tolist()
    try:
        with run_server(ix, "127.0.0.1:0", grace=1.0) as (_server, port), \
                grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            v = stubs(channel)
            e = error(v.search.Search, p.Search.Request(vector=q, config=config(1, timeout=50_000_000)))
            assert e.code() == C.DEADLINE_EXCEEDED and "config.timeout" in e.details()
            out = list(v.search.StreamSearch(iter([
                p.Search.Request(vector=q, config=config(1, timeout=50_000_000)),
                p.Search.Request(vector=q, config=config(1, timeout=5_000_000_000))]), timeout=T))
            assert out[0].status.code == C.DEADLINE_EXCEEDED.value[0]  # that message only
            assert len(out[1].response.results) == 1
    finally:
        ix.close(save=False)


def test_cosine_zero_vector_and_results(tmp_path):
    ix = make_index(tmp_path / "cos", metric="cosine")
    try:
        with run_server(ix, "127.0.0.1:0", grace=1.0) as (_server, port), \
                grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            v = stubs(channel)
            x = data(20)
            insert_all(v, x)
            e = error(v.search.Search, p.Search.Request(vector=[0.0] * 8, config=config(3)))
            assert e.code() == C.INVALID_ARGUMENT and e.details().startswith("vector: is a zero vector")
            r = v.search.Search(p.Search.Request(vector=(3 * x[4]).tolist(), config=config(3)), timeout=T)
            assert r.results[0].id == "v4" and abs(r.results[0].distance) < 1e-5
            e = error(v.update.Update, p.Update.Request(vector=p.Object.Vector(id="v4", vector=(2 * x[4]).tolist())))
            assert e.code() == C.ALREADY_EXISTS  # the same direction is the same stored vector
    finally:
        ix.close(save=False)
