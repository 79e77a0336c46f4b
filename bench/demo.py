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


def make_features(n: int, dim: int, n_test: int = 500, latent: int = 24, clusters: int = 200, seed: int = 0):
    """Clustered points in a ``latent``-dim space, lifted to ``dim`` by a random ReLU layer."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, latent)) * 3
    lift = rng.standard_normal((latent, dim)) / np.sqrt(latent)

    def draw(m):
        z = centres[rng.integers(0, clusters, m)] + rng.standard_normal((m, latent))
        return np.maximum(z @ lift, 0).astype(np.float32) + 0.01 * rng.random((m, dim), np.float32)

    return draw(n), draw(n_test)


def write_hdf5(path: str, train: np.ndarray, test: np.ndarray, k: int = 100) -> None:
    """ann-benchmarks layout with exact ground truth from faiss."""
    import faiss
    import h5py

    flat = faiss.IndexFlatL2(train.shape[1])
    flat.add(train)
    d, i = flat.search(test, k)
    with h5py.File(path, "w") as f:
        f.attrs.update(distance="euclidean", dimension=train.shape[1], point_type="float",
                       source="sanny demo: generated clustered ReLU features")
        f["train"], f["test"] = train, test
        f["neighbors"], f["distances"] = i.astype(np.int32), np.sqrt(np.maximum(d, 0)).astype(np.float32)


def run_demo(out: str, n: int = 20000, dim: int = 256) -> dict:
    """Generate data, serve an embedded index on a loopback port, insert and search through the
    gRPC client, check recall against exact search, then benchmark against the baselines."""
    import faiss

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
    flat = faiss.IndexFlatL2(dim)
    flat.add(train)
    kth = flat.search(test, 10)[0][:, 9]
    rows = np.array([[int(k[5:]) if k is not None else -1 for k in ks] for ks in keys])
    got = ((train[np.maximum(rows, 0)] - test[:, None, :]) ** 2).sum(-1)
    recall = float(((got <= kth[:, None] * (1 + 1e-5) + 1e-6) & (rows >= 0)).sum(1).mean() / 10)
    print(f"   recall@10 = {recall:.3f}   batch QPS via gRPC = {qps:.0f}   "
          f"insert + build via gRPC = {build_s:.1f} s")
    print("   first query's top 5:", ", ".join(f"{k} ({d:.3f})" for k, d in zip(keys[0][:5], dist[0][:5])))

    print("4/4 benchmark in-process vs baselines (plain NGT, faiss HNSW, faiss flat) ...")
    bench_rows = run_bench(data, os.path.join(out, "bench"), grid="quick", single_queries=100)
    print(pareto_markdown(bench_rows))
    print(f"plot: {os.path.join(out, 'bench', 'pareto.png')}")
    return {"recall": recall, "qps": qps, "build_s": build_s}
