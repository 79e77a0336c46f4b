"""Ray nodes as network-namespace hosts: ``ray start --head`` in one namespace and ``ray start
--address=HEAD`` in two others, each node its own address (experiments/netns_ray.py), the coordinator
(a Ray driver) in the head's namespace. Actors pinned by node (``[workers] nodes``) run on the
nodes named; in a 2-shard x 2-replica grid each cell's replicas (a STRICT_SPREAD placement group)
run on two different nodes; both indexes answer exactly as the embedded engine. Every process started is stopped by PID.

Needs root, network namespaces and Ray: skipped (with the reason) otherwise."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("ray")

from sanny.bench.netns import Lab, LabUnavailable  # noqa: E402
from experiments import netns_ray  # noqa: E402
from experiments.netns_ray import RayUnavailable, start_ray  # noqa: E402
from sanny.bench.procs import alive  # noqa: E402

WAIT = 300.0  # bound on the coordinator's run; never reached when things work


def _in_lab(lab: Lab) -> list[int]:
    return [int(p) for i in range(lab.n + 1)
            for p in subprocess.run(["ip", "netns", "pids", lab.ns(i)], capture_output=True, text=True).stdout.split()]


def test_ray_nodes_in_namespaces():
    lab = Lab(workers=2)
    try:
        lab.up()
    except LabUnavailable as e:
        pytest.skip(f"network namespaces unavailable here: {e}")
    tmp = tempfile.mkdtemp(prefix="sanny-ray-")  # short: Ray's Unix socket paths live under it
    started: list[int] = []
    try:
        try:
            head = start_ray(lab, [0, 1, 2], tmp)
        except RayUnavailable as e:
            pytest.skip(f"Ray nodes do not start in network namespaces here: {e}")
        hosts = [lab.address(i) for i in range(3)]
        run = subprocess.run(["ip", "netns", "exec", lab.ns(0), sys.executable, netns_ray.__file__,
                              "--address", head, "--nodes", ",".join(hosts[1:]), "--index", os.path.join(tmp, "ix")],
                             env={**os.environ, **lab.env}, capture_output=True, text=True, timeout=WAIT)
        assert run.returncode == 0, run.stderr[-3000:]
        res = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
        assert res["event"] == "result" and res["nodes"] == hosts  # three Ray nodes, one per namespace
        assert res["pinned"]["actor_nodes"] == [[h] for h in hosts[1:]]  # group g on nodes[g]
        cells = res["spread"]["actor_nodes"]                              # 2 shards x 1 group x 2 replicas
        assert len(cells) == 2 and all(len(set(c)) == 2 and set(c) <= set(hosts) for c in cells)
        for name in ("pinned", "spread"):
            assert res[name]["ids"] == res["embedded"]["ids"]
            assert res[name]["recall"] == res["embedded"]["recall"] == 1.0  # exact inner index
        started = [p.pid for p in lab.procs] + _in_lab(lab)
    finally:
        lab.close()  # the ray start processes, then every pid left in the namespaces; namespaces removed
        shutil.rmtree(tmp, ignore_errors=True)
    assert started and not [p for p in started if alive(p)]
