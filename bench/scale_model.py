"""A scale model of the R x S x F grid: single-query latency, throughput and memory per node,
from costs measured on this machine (never assumed), checked against configurations it can run.

Measured parts (:func:`measure`):
- ``sub``: one NGT subspace search, seconds per query, fitted as ``a + b * w * log2(n)`` over
  a small grid of rows ``n`` and widths ``w`` (one thread);
- ``coord``: the coordinator's part per query — union of the S top-T lists and exact re-rank of
  the candidates (``engine/rerank.py`` on arrays of the real shapes), fitted ``c * S*T * d``
  plus the fixed cost of one ``Index.search`` call;
- ``hop``: one coordinator -> worker gRPC round trip (search of one query on a tiny worker, less
  the same search in process);
- ``graph``: NGT graph bytes per vector and subspace.

Model (:func:`predict`), one query, workers on their own cores, links with one-way ``delay``:
``latency = coord + 2 * delay + hop + max over cells(groups per worker x sub(n / R, d / S))``
(embedded: the cells run in turn, no hop); the R shards' lists are merged per subspace inside
the column (``engine/grid.py``), so the coordinator's union stays S lists of T. Throughput:
``nodes x cores / CPU-seconds per query`` capped by the coordinator's ``1 / coord`` per core;
memory per worker node: its cells' ``n/R`` rows x (``4 * d/S`` + graph) bytes; the coordinator
keeps ``4 * n * d`` bytes of full vectors. ``python -m sanny.bench.scale_model`` measures,
validates against embedded and loopback gRPC runs (1-2 workers: this machine has 2 cores) and
writes ``bench/results/scale_model.json`` and a plot of predictions up to 1e9 x 2048-d.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import numpy as np

from .synthetic import clustered

T, K = 40, 10


def _best(fn, repeats: int = 5) -> float:
    """Median wall time of ``fn()`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _worker(n: int, w: int, seed: int = 0):
    from sanny.workers import InnerParams, LocalWorker, WorkerSpec

    lw = LocalWorker(WorkerSpec([0], [w], "l2", InnerParams(kind="ngt", threads=1)))
    x = clustered(n, w, seed, n_clusters=32)
    lw.insert(np.arange(n), x)
    lw.build()
    return lw, clustered(64, w, seed + 1, n_clusters=32)


def measure(sizes=(2000, 8000, 32000), widths=(8, 32)) -> dict:
    from sanny.engine import rerank
    from sanny.workers import SearchParams

    rows, graph = [], []
    for n in sizes:
        for w in widths:
            lw, q = _worker(n, w)
            t = _best(lambda: [lw.search(q[i: i + 1], T, SearchParams()) for i in range(len(q))]) / len(q)
            rows.append((n, w, t))
            graph.append(lw.stats()["index_bytes"] / n)
            lw.close()
    A = np.array([[1.0, w * math.log2(n)] for n, w, _ in rows])
    sub = np.linalg.lstsq(A, np.array([t for *_, t in rows]), rcond=None)[0]
    rng = np.random.default_rng(0)
    coord = []
    for S, d in ((4, 64), (8, 256), (16, 1024)):
        x = rng.standard_normal((20000, d)).astype(np.float32)
        q = rng.standard_normal((1, d)).astype(np.float32)
        ids = np.stack([np.sort(rng.choice(20000, (1, T), replace=False), 1) for _ in range(S)])
        dd = np.sort(rng.random((S, 1, T)).astype(np.float32), 2)

        def one():
            cand, lb, _ = rerank.union(ids, dd)
            rerank.rerank(q, cand, lb, K, x, "l2")
        coord.append((S * T * d, _best(one, 20)))
    c = np.polyfit([a for a, _ in coord], [b for _, b in coord], 1)
    return {"sub": sub.tolist(), "sub_points": rows, "coord": c.tolist(), "coord_points": coord,
            "graph_bytes_per_vector": float(np.median(graph)), "hop": _hop(), "fixed": _fixed()}


def _hop() -> float:
    """One gRPC round trip to a worker: a 1-query search of a tiny one-worker index over
    loopback, less the same search with the worker in process."""
    x = clustered(200, 8, 0)
    cfg = {"embedded": False, "R": 1, "S": 1, "workers": 1}
    return max(_measured(cfg, x, x[:16], "exact") - _measured({**cfg, "embedded": True}, x, x[:16], "exact"), 0.0)


def _fixed() -> float:
    """An ``Index.search`` call's own cost: tiny exact index, one subspace."""
    from sanny.engine import Index, IndexConfig, InnerParams

    with tempfile.TemporaryDirectory() as tmp:
        ix = Index.create(tmp + "/ix", IndexConfig(dim=8, S=1, inner=InnerParams(kind="exact"), T=T))
        x = clustered(100, 8, 0)
        ix.insert([str(i) for i in range(100)], x)
        t = _best(lambda: ix.search(x[:1], K), 50)
        ix.close(save=False)
    return t


def sub_time(m: dict, n: float, w: float) -> float:
    a, b = m["sub"]
    return max(a + b * w * math.log2(max(n, 2)), 0.0)


def coord_time(m: dict, S: int, d: int) -> float:
    c1, c0 = m["coord"]
    return m["fixed"] + max(c0 + c1 * S * T * d, 0.0)


def predict(m: dict, n: int, d: int, R: int = 1, S: int = 8, F: int = 1, groups: int | None = None,
            embedded: bool = False, delay: float = 0.0, cores: int = 2) -> dict:
    """Latency (s), throughput (queries/s) and memory per node (bytes) of one configuration."""
    G = groups or S
    per_worker = (S // G) * sub_time(m, n / R, d / S)
    if embedded:
        latency = coord_time(m, S, d) + R * S * sub_time(m, n / R, d / S)
    else:
        latency = coord_time(m, S, d) + m["hop"] + 2 * delay + per_worker
    cpu = max(R * S * sub_time(m, n / R, d / S) + (0 if embedded else R * G * m["hop"] / 2), 1e-9)
    nodes = 1 if embedded else R * G * F
    qps = min(nodes * cores / cpu, cores / coord_time(m, S, d)) if not embedded else cores / (cpu + coord_time(m, S, d))
    cell = n / R * (4 * d / G + m["graph_bytes_per_vector"] * (S // G))  # one (shard, group) per node
    return {"latency_s": latency, "qps": qps, "worker_node_bytes": cell,
            "coordinator_bytes": 4 * n * d, "nodes": nodes}


def _measured(cfg: dict, x, q, kind: str = "ngt") -> float:
    """p50 single-query latency of a real index in this configuration."""
    from sanny.engine import Index, IndexConfig, InnerParams

    with tempfile.TemporaryDirectory() as tmp:
        factory, servers = None, []
        if not cfg["embedded"]:
            import contextlib

            from sanny.workers.grpc_server import run_server
            from sanny.workers.transports import factory_from_config

            stack = contextlib.ExitStack()
            ports = [stack.enter_context(run_server(f"{tmp}/w{i}", "127.0.0.1:0"))[1] for i in range(cfg["workers"])]
            factory = factory_from_config({"workers": {"transport": "grpc", "shards": cfg["R"],
                                                       "addresses": [f"127.0.0.1:{p}" for p in ports]}})
            servers.append(stack)
        G = cfg["workers"] // cfg["R"] if not cfg["embedded"] else cfg["S"]
        ix = Index.create(f"{tmp}/ix", IndexConfig(dim=x.shape[1], S=cfg["S"], workers=G, shards=cfg["R"], T=T,
                                                   inner=InnerParams(kind=kind, threads=1)), worker_factory=factory)
        ix.insert([str(i) for i in range(len(x))], x)
        ix.build()
        lat = _best(lambda: [ix.search(q[i: i + 1], K) for i in range(len(q))], 5) / len(q)
        ix.close(save=False)
        for s in servers:
            s.close()
    return lat


VALIDATION = [
    {"embedded": True, "R": 1, "S": 4, "workers": 0},
    {"embedded": True, "R": 2, "S": 4, "workers": 0},
    {"embedded": False, "R": 1, "S": 4, "workers": 1},
    {"embedded": False, "R": 1, "S": 4, "workers": 2},
    {"embedded": False, "R": 2, "S": 4, "workers": 2},
]


def validate(m: dict, n: int = 20000, d: int = 64) -> list[dict]:
    x = clustered(n, d, 0, n_clusters=32)
    q = clustered(64, d, 1, n_clusters=32)
    out = []
    for cfg in VALIDATION:
        got = _measured(cfg, x, q)
        G = cfg["workers"] // cfg["R"] if not cfg["embedded"] else cfg["S"]
        want = predict(m, n, d, cfg["R"], cfg["S"], 1, G, cfg["embedded"])["latency_s"]
        out.append({**cfg, "n": n, "d": d, "measured_s": got, "predicted_s": want, "error": want / got - 1})
    return out


def _plot(big: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for R in sorted({p["R"] for p in big}):
        pts = [p for p in big if p["R"] == R]
        n = [p["n"] for p in pts]
        label = f"R={R} x {pts[0]['groups']} groups x F=2"
        axes[0].loglog(n, [1e3 * p["latency_s"] for p in pts], "o-", label=label)
        axes[1].loglog(n, [p["qps"] for p in pts], "o-", label=label)
        axes[2].loglog(n, [p["worker_node_bytes"] / 2**30 for p in pts], "o-", label=label)
    for ax, title in zip(axes, ("single-query latency (ms)", "throughput (queries/s)", "memory per worker node (GiB)")):
        ax.set_title(title)
        ax.set_xlabel("vectors (2048-d, 64 nodes, 0.25 ms one-way)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sanny.bench.scale_model")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "scale_model.json"))
    args = ap.parse_args(argv)
    m = measure()
    checks = validate(m)
    big = [{"n": n, "d": 2048, "R": R, "S": 16, "groups": 32 // R, "F": 2,  # 64 nodes = R x groups x F
            **predict(m, int(n), 2048, R, 16, 2, 32 // R, delay=0.25e-3)}
           for n in (1e7, 1e8, 1e9) for R in (2, 4, 8)]
    with open(args.out, "w") as f:
        json.dump({"model": m, "validation": checks, "predictions": big}, f, indent=1)
    _plot(big, args.out.replace(".json", ".png"))
    for c in checks:
        print(f"{'embedded' if c['embedded'] else 'grpc'} R={c['R']} S={c['S']} workers={c['workers']}: "
              f"measured {1e3 * c['measured_s']:.3f} ms, predicted {1e3 * c['predicted_s']:.3f} ms ({100 * c['error']:+.0f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
