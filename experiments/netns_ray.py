"""A Ray cluster whose nodes are network-namespace hosts, and the coordinator side of its test.

:func:`start_ray` runs ``ray start --head --block`` in one :class:`.netns.Lab` host and
``ray start --address=HEAD --block`` in others, each with ``--node-ip-address`` its host's
address and its own ``--temp-dir``, so every Ray node (GCS, raylet, object store) is its own
host on the lab's bridge. Token authentication is on, with a fresh token in the lab's
environment (the nodes and any driver run with it; nothing is read from or written to
``~/.ray``). The ``ray start`` processes are the lab's, stopped by PID with it (and whatever
Ray left in its namespaces).

``python -m experiments.netns_ray --address HEAD:PORT --nodes IP,IP --index DIR`` (run inside
the head's host: a Ray driver needs a raylet on its own host) waits until every node is alive,
then builds two indexes over Ray actors: 2 subspace groups pinned one per node of ``--nodes``
(``[workers] nodes``), and a grid of 2 row shards x 1 group x 2 replicas, each cell's replicas
in a STRICT_SPREAD placement group; it prints ``{"event": "result", ...}``: each index's
results and recall@10, the embedded engine's on the same data, and the node of every actor.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time

import numpy as np

from sanny.bench.netns import Lab

PORT = 6379
STARTED = r"Ray runtime started"
WAIT = 120.0  # bound on every wait for a state


class RayUnavailable(RuntimeError):
    """A Ray node did not start in its namespace (the message has its log's tail)."""


def start_ray(lab: Lab, hosts: list[int], tmp: str, cpus: int = 1) -> str:
    """One Ray node per lab host in ``hosts`` (the first one the head); returns ``HEAD:PORT``."""
    lab.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0")
    head = f"{lab.address(hosts[0])}:{PORT}"
    procs = []
    for j, i in enumerate(hosts):
        args = ["start", "--block", f"--node-ip-address={lab.address(i)}", f"--num-cpus={cpus}",
                f"--temp-dir={os.path.join(tmp, f'ray-h{i}')}", "--disable-usage-stats"]
        args += ["--head", f"--port={PORT}", "--include-dashboard=false"] if j == 0 else [f"--address={head}"]
        procs.append(lab.run(i, f"ray-{'head' if j == 0 else 'node'}-h{i}", args, os.path.join(tmp, f"ray-h{i}.log"),
                             STARTED, module="ray.scripts.scripts"))
        if j == 0:  # the other nodes join the head's GCS: start them once it is up
            _ready(procs[0])
    for p in procs[1:]:
        _ready(p)
    return head


def _ready(p) -> None:
    try:
        p.wait_ready(WAIT)
    except RuntimeError as e:
        raise RayUnavailable(str(e)) from None


# -- the coordinator side (a Ray driver inside the head's host) ------------------------------
def _say(**kw) -> None:
    print(json.dumps(kw), flush=True)


def _wait_nodes(ray, n: int) -> list[str]:
    end = time.monotonic() + WAIT
    while True:
        alive = sorted(x["NodeManagerAddress"] for x in ray.nodes() if x["Alive"])
        if len(alive) >= n or time.monotonic() > end:
            return alive
        time.sleep(0.1)


def _actor_nodes(ray, ix) -> list[list[str]]:
    """The node IP of every actor of ``ix``: per cell (column, then shard), its replicas'."""
    from ray._private.state import actors

    cells = [c.replicas for col in ix.workers for c in getattr(col, "cells", None) or []] or [[w] for w in ix.workers]
    return [[actors(w.actor._actor_id.hex())["Address"]["IPAddress"] for w in cell] for cell in cells]


def run(address: str, nodes: list[str], root: str, n: int = 1000) -> dict:
    import ray

    from sanny.engine import Index, IndexConfig, InnerParams
    from sanny.workers.transports import factory_from_config

    from sanny.bench import metrics
    from sanny.bench.datasets import Dataset, exact_ground_truth
    from sanny.bench.synthetic import clustered

    ray.init(address=address, log_to_driver=False)  # the node IP: the one that routes to the head
    alive = _wait_nodes(ray, len(nodes) + 1)
    x = clustered(n, 32, 0, n_clusters=16, center_seed=100)
    q = clustered(50, 32, 1, n_clusters=16, center_seed=100)
    ds = Dataset("clustered", x, q, *exact_ground_truth(x, q, "euclidean", k=10), metric="euclidean", dim=32)
    common = {"transport": "ray", "address": address, "num_cpus": 0.25, "timeout": 60,
              "data_dir": os.path.join(root, "actors")}
    tables = {"pinned": {**common, "nodes": nodes},                       # group g on nodes[g]
              "spread": {**common, "shards": 2, "replicas": 2}}          # each cell's replicas on 2 nodes
    out = {"nodes": alive}
    for name in ("embedded", *tables):
        cfg = IndexConfig(dim=32, S=2, workers=2 if name == "pinned" else 1, shards=2 if name == "spread" else 1,
                          inner=InnerParams(kind="exact"), T=20)
        factory = factory_from_config({"workers": tables[name]}) if name in tables else None
        ix = Index.create(os.path.join(root, name), cfg, worker_factory=factory)
        try:
            ix.insert([str(i) for i in range(n)], x)
            ids = np.array([[int(k) for k in row] for row in ix.search(q, k=10)[0]])
            out[name] = {"recall": metrics.recall(ds, ids, 10), "ids": ids.tolist()}
            if name in tables:
                out[name]["actor_nodes"] = _actor_nodes(ray, ix)
        finally:
            ix.close(save=False)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.netns_ray")
    ap.add_argument("--address", required=True, help="the Ray head's HOST:PORT (this host's address)")
    ap.add_argument("--nodes", required=True, help="two node IPs for the pinned actors, comma-separated")
    ap.add_argument("--index", required=True, help="folder for the indexes")
    args = ap.parse_args(argv)
    _say(event="result", **run(args.address, args.nodes.split(","), args.index))
    return 0


if __name__ == "__main__":
    sys.exit(main())
