"""The grid on Ray: a simulated 3-node Ray cluster (``ray.cluster_utils.Cluster``, several raylets
on this machine). Each cell's two replicas are placed on different nodes by a STRICT_SPREAD
placement group; the grid answers like one embedded worker; a replica actor killed by Ray costs
no failed search and is caught up after Ray restarts it."""
from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from sanny.engine import Index, IndexConfig, InnerParams  # noqa: E402
from sanny.workers.transports import factory_from_config  # noqa: E402

from transport_helpers import dataset  # noqa: E402

WAIT = 120.0


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(2):
            c.add_node(num_cpus=1)
        ray.init(address=c.address, log_to_driver=False)
        c.wait_for_nodes()
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def test_replicas_on_different_nodes_and_failover(tmp_path, cluster):
    x, q, keys = dataset(n=800)
    table = {"transport": "ray", "shards": 2, "replicas": 2, "num_cpus": 0.25, "timeout": 60,
             "failover_after": 30, "probe_every": 0.1}
    cfg = dict(dim=32, S=2, workers=1, inner=InnerParams(kind="exact"), T=20)
    grid = Index.create(str(tmp_path / "g"), IndexConfig(shards=2, **cfg),
                        worker_factory=factory_from_config({"workers": table}))
    plain = Index.create(str(tmp_path / "p"), IndexConfig(**cfg))
    try:
        for ix in (grid, plain):
            ix.insert(keys[:500], x[:500])
            ix.save()
        for cell in grid.workers[0].cells:
            strategies = [r.placement["scheduling_strategy"] for r in cell.replicas]
            assert [s.placement_group_bundle_index for s in strategies] == [0, 1]
            table = ray.util.placement_group_table(strategies[0].placement_group)
            assert table["strategy"] == "STRICT_SPREAD" and table["state"] == "CREATED"
            assert len(set(table["bundles_to_node_id"].values())) == 2  # never on the same node
        victim = grid.workers[0].cells[0].replicas[0]
        ray.kill(victim.actor, no_restart=False)  # Ray restarts it (max_restarts=-1) from its save
        for ix in (grid, plain):
            ix.insert(keys[500:], x[500:])
        got, want = grid.search(q, k=10), plain.search(q, k=10)
        assert (got[0] == want[0]).all()
        cell = grid.workers[0].cells[0]
        assert cell.wait_state("ready", WAIT)
        qs = q[:, grid.columns[0]]
        assert (victim.search(qs, 20)[0] == cell.replicas[1].search(qs, 20)[0]).all()
    finally:
        grid.close(save=False)
        plain.close()
