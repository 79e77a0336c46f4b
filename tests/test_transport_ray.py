"""Ray actors behind the Worker interface, on a real local Ray cluster: same results as
embedded workers (local and distributed re-rank), and an actor killed by Ray comes back from
its save and is caught up from the coordinator's log, losing no acknowledged write."""
from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from sanny.engine import IndexConfig, InnerParams  # noqa: E402
from sanny.workers.transports import factory_from_config  # noqa: E402

from transport_helpers import build, dataset, matching_embedded  # noqa: E402

NGT = InnerParams(kind="ngt", threads=1)
RAY = {"workers": {"transport": "ray", "num_cpus": 1, "groups": [[0, 1], [2, 3]], "timeout": 60}}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.parametrize("keep_vectors", [True, False], ids=["local-rerank", "distributed-rerank"])
def test_ray_actors_match_embedded(tmp_path, cluster, keep_vectors):
    with matching_embedded(tmp_path, factory_from_config(RAY), keep_vectors) as (remote, _q, _want):
        assert [w["transport"] for w in remote.info()["workers"]] == ["ray", "ray"]
    # closing the remote index kills its actors


def test_killed_actor_restarts_from_its_save_and_is_caught_up(tmp_path, cluster):
    x, q, keys = dataset(n=1200)
    ix = build(tmp_path / "idx", IndexConfig(dim=32, S=4, workers=2, inner=NGT), x[:1000], keys[:1000],
               factory_from_config(RAY))
    try:
        ix.insert(keys[1000:], x[1000:])  # acknowledged after the last save
        epoch = ix.workers[0]._epoch
        ray.kill(ix.workers[0].actor, no_restart=False)  # Ray restarts it: the host reloads its newest save

        live = list(range(5, len(x)))
        got, dist = ix.search(x[live], 1)
        assert list(got[:, 0]) == [keys[i] for i in live]
        assert np.allclose(dist[:, 0], 0, atol=0.02)
        stats = ix.info()["workers"]
        assert [w["count"] for w in stats] == [len(live)] * 2
        assert [w["applied_seq"] for w in stats] == [ix.seq] * 2
        assert ix.workers[0]._epoch != epoch  # a new incarnation, caught up from the log
    finally:
        ix.close(save=False)
