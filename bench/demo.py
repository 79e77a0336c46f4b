"""``sanny demo``: the README's main job, on data it makes (no downloads, no server).

Generates image-feature-like vectors (non-negative, clustered, low intrinsic dimension), serves
a split index on a loopback port, inserts (progress bar) and searches through the gRPC client,
prints recall@10 against exact search, QPS and build time, then runs the benchmark harness'
quick grid against the baselines and writes the recall-QPS plot.
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
    from .results import pareto_markdown

    os.makedirs(out, exist_ok=True)
    print(f"1/4 generating {n} x {dim} features ...")
    train, test = make_features(n, dim)
    data = os.path.join(out, f"demo-{dim}-euclidean.hdf5")
    write_hdf5(data, train, test)

    pca = min(64, dim // 2)
    print(f"2/4 serving a split index (S=4 subspaces of a {pca}-d PCA space) on 127.0.0.1 and "
          "inserting through the gRPC client ...")
    cfg = IndexConfig(dim=dim, S=4, pca_dim=pca, T=40, epsilon=0.05)
    ix = Index.create(os.path.join(out, "index"), cfg, overwrite=True)
    try:
        ix.train(train[:10000])
        with run_server(ix, "127.0.0.1:0") as (_, port), Client(f"127.0.0.1:{port}") as client:
            client.wait_ready()
            t0 = time.perf_counter()
            with tqdm(total=n, desc="insert", unit="vec") as bar:
                for a in range(0, n, 2000):
                    client.insert([f"item-{i}" for i in range(a, min(a + 2000, n))], train[a: a + 2000])
                    bar.update(min(2000, n - a))
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
    bench_rows = run_bench(data, os.path.join(out, "bench"), grid="quick", single_queries=100)
    print(pareto_markdown(bench_rows))
    print(f"plot: {os.path.join(out, 'bench', 'pareto.png')}")
    return {"recall": recall, "qps": qps, "build_s": build_s}
