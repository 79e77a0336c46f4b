"""``sanny demo``: the README's main job, on data it makes (no downloads, no server).

Generates image-feature-like vectors (non-negative, clustered, low intrinsic dimension), serves
an index with the default configuration on a loopback port, inserts (progress bar) and searches
through the gRPC client, prints recall@10 against exact search, QPS and build time, then runs the
benchmark harness' quick grid (plus Sanny's default inner index) against the baselines, writes
the recall-QPS plot and ends with one sentence: Sanny against faiss HNSW at recall 0.95.
"""
from __future__ import annotations

import os
import time

import numpy as np
from tqdm import tqdm

from sanny.engine import groundtruth

from .synthetic import make_features


def write_hdf5(path: str, train: np.ndarray, test: np.ndarray, k: int = 100) -> None:
    """ann-benchmarks layout with exact (float64-scored) ground truth."""
    import h5py

    i, d = groundtruth.exact_knn(train, test, k, "l2")
    with h5py.File(path, "w") as f:
        f.attrs.update(distance="euclidean", dimension=train.shape[1], point_type="float",
                       source="sanny demo: generated clustered ReLU features")
        f["train"], f["test"] = train, test
        f["neighbors"], f["distances"] = i.astype(np.int32), d.astype(np.float32)


def run_demo(out: str, n: int = 20000, dim: int = 256) -> dict:
    """Generate data, serve an embedded index on a loopback port, insert and search through the
    gRPC client, check recall against exact search, then benchmark against the baselines."""
    from sanny.engine import Index, IndexConfig
    from sanny.engine.api.client import Client
    from sanny.engine.api.server import run_server

    from . import run_bench

    os.makedirs(out, exist_ok=True)
    print(f"1/4 generating {n} x {dim} features ...")
    train, test = make_features(n, dim)
    data = os.path.join(out, f"demo-{dim}-euclidean.hdf5")
    write_hdf5(data, train, test)

    cfg = IndexConfig(dim=dim)  # what a new user gets: the default inner index, chosen by measurement
    print(f"2/4 serving a new index on 127.0.0.1 (inner index {cfg.inner.kind}, the default) and "
          "inserting through the gRPC client ...")
    ix = Index.create(os.path.join(out, "index"), cfg, overwrite=True)
    try:
        with run_server(ix, "127.0.0.1:0") as (_, port), Client(f"127.0.0.1:{port}") as client:
            client.wait_ready()
            t0 = time.perf_counter()
            with tqdm(total=n, desc="insert", unit="vec") as bar:
                for a in range(0, n, 2000):
                    client.insert([f"item-{i}" for i in range(a, min(a + 2000, n))], train[a: a + 2000])
                    bar.update(min(2000, n - a))
            ix.build()  # the graph now (a server also builds it in the background once its tail is long)
            build_s = time.perf_counter() - t0

            print("3/4 searching through the client and comparing with exact search ...")
            client.search(test[:10], 10)  # warm-up
            t0 = time.perf_counter()
            keys, dist = client.search(test, 10)
            qps = len(test) / (time.perf_counter() - t0)
            client.save()
    finally:
        ix.close()
    kth = groundtruth.exact_knn(train, test, 10, "l2")[1][:, 9]
    rows = np.array([[int(k[5:]) if k is not None else -1 for k in ks] for ks in keys])
    found = groundtruth.distances_to(train, test, rows, "l2")
    recall = float(groundtruth.recall_per_query(found, kth, 10).mean())
    print(f"   recall@10 = {recall:.3f}   batch QPS via gRPC = {qps:.0f}   "
          f"insert + build via gRPC = {build_s:.1f} s")
    print("   first query's top 5:", ", ".join(f"{k} ({d:.3f})" for k, d in zip(keys[0][:5], dist[0][:5])))

    print("4/4 benchmark in-process vs baselines (plain NGT, faiss HNSW, faiss flat) ...")
    bench_rows = run_bench(data, os.path.join(out, "bench"), grid=demo_grid(dim), single_queries=100)
    print(summary(bench_rows))
    print(f"plot: {os.path.join(out, 'bench', 'pareto.png')}")
    sentence = verdict(bench_rows)
    print(sentence)
    return {"recall": recall, "qps": qps, "build_s": build_s, "verdict": sentence}


def demo_grid(dim: int) -> dict:
    """The quick grid plus the default inner index (symqg) with its beam swept."""
    from . import grids

    grid = grids.quick(dim)
    grid["sanny"] = [*grid["sanny"], {"build": {"S": 1, "kind": "symqg", "hnsw_ef_construction": 200},
                                      "query": {"T": 10, "ef_search": [16, 24, 32, 64]}}]
    return grid


NAMES = {"sanny": "Sanny", "hnsw": "faiss HNSW", "ngt": "NGT", "flat": "faiss flat"}


def best(rows: list[dict], algorithm: str, at: float, field: str) -> dict | None:
    """The row of ``algorithm`` with the highest ``field`` among those reaching recall ``at``."""
    ok = [r for r in rows if r["algorithm"] == algorithm and r["recall"] >= at and r.get(field)]
    return max(ok, key=lambda r: r[field]) if ok else None


def summary(rows: list[dict], at: float = 0.95) -> str:
    """One line per algorithm: its fastest batch and single-query settings at recall >= ``at``."""
    lines = [f"| algorithm (recall >= {at}) | batch QPS | recall | setting | single-query QPS |", "|---|---|---|---|---|"]
    for a in dict.fromkeys(r["algorithm"] for r in rows):
        b, s = best(rows, a, at, "qps_batch"), best(rows, a, at, "qps_single")
        if b is None:
            lines.append(f"| {NAMES.get(a, a)} | not reached | - | - | - |")
            continue
        setting = " ".join(f"{k}={v}" for k, v in {**b["build_params"], **b["query_params"]}.items())
        single = f"{s['qps_single']:,.0f}" if s else "-"
        lines.append(f"| {NAMES.get(a, a)} | {b['qps_batch']:,.0f} | {b['recall']:.3f} | {setting or '-'} | {single} |")
    return "\n".join(lines)


def verdict(rows: list[dict], at: float = 0.95) -> str:
    """The demo's last line: Sanny's best over faiss HNSW's best at recall >= ``at``."""
    ratios = []
    for field, what in (("qps_batch", "batch"), ("qps_single", "single-query")):
        s, h = best(rows, "sanny", at, field), best(rows, "hnsw", at, field)
        if s is None or h is None:
            missing = " and ".join(NAMES[a] for a, r in (("sanny", s), ("hnsw", h)) if r is None)
            return f"at recall >= {at}: {missing} did not get there in this run ({what}), so no comparison."
        ratios.append(f"{s[field] / h[field]:.1f}x faiss HNSW {what}")
    return f"at recall >= {at}: Sanny {ratios[0]}, {ratios[1]}."
