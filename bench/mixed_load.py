"""Mixed read/write load on one served index: ``C`` clients, each request a search with
probability ``read`` else a one-key upsert (a WAL fsync). Prints searches/s and writes/s.

``serial=True`` re-creates the old write path for a same-run comparison: every write holds the
index's state lock (the one searches take) through its WAL fsync.

    python -m sanny.bench.mixed_load --n 5000 --dim 128 --S 4 --clients 8 --seconds 20 [--inner symqg]
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.inner import INNER_KINDS
from sanny.engine.api.client import Client
from sanny.engine.api.server import run_server

from .synthetic import clustered


@contextlib.contextmanager
def _serialised_writes(index):
    """Writes hold the search lock for their whole duration (fsync included), as before."""
    originals = {m: getattr(index, m) for m in ("insert", "upsert", "update", "remove")}

    def wrap(fn):
        def locked(*a, **kw):
            with index._lock:
                return fn(*a, **kw)
        return locked

    for m, fn in originals.items():
        setattr(index, m, wrap(fn))
    try:
        yield
    finally:
        for m, fn in originals.items():
            setattr(index, m, fn)


def run(index, clients: int, seconds: float, read: float = 0.8, max_requests: int = 100_000,
        seed: int = 0) -> dict:
    """Drive ``index`` through a gRPC server; counts per kind and the wall time."""
    dim = index.config.dim
    counts = {"search": 0, "write": 0, "errors": 0}
    latency: list[float] = []  # seconds per search
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    with run_server(index, vald=False) as (_server, port):
        def client(c):
            rng = np.random.default_rng(seed + c)
            with Client(f"127.0.0.1:{port}") as cl:
                for i in range(max_requests):
                    if time.monotonic() >= stop:
                        return
                    kind = "search" if rng.random() < read else "write"
                    try:
                        v = rng.normal(size=(1, dim)).astype(np.float32)
                        if kind == "search":
                            t = time.perf_counter()
                            cl.search(v, 10)
                            latency.append(time.perf_counter() - t)
                        else:
                            cl.upsert([f"w{c}-{i % 500}"], v)
                    except Exception:  # noqa: BLE001 - counted
                        kind = "errors"
                    with lock:
                        counts[kind] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
    p50, p99 = np.percentile(latency, [50, 99]) * 1000 if latency else (np.nan, np.nan)
    return {**counts, "seconds": wall, "searches_per_s": counts["search"] / wall,
            "writes_per_s": counts["write"] / wall, "search_p50_ms": p50, "search_p99_ms": p99}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--inner", choices=INNER_KINDS, default="hnsw", help="inner index kind (default hnsw)")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    x = clustered(args.n, args.dim, seed=0)
    with tempfile.TemporaryDirectory() as d:
        index = Index.create(f"{d}/idx", IndexConfig(dim=args.dim, S=args.S, inner=InnerParams(kind=args.inner)))
        index.insert([str(i) for i in range(args.n)], x)
        index.build()
        rows = {}
        for name, ctx in (("serialised (old)", _serialised_writes(index)), ("sequenced (new)", contextlib.nullcontext())):
            with ctx:
                rows[name] = run(index, args.clients, args.seconds)
        index.close(save=False)
    print(f"{'write path':18} {'searches/s':>11} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for name, r in rows.items():
        print(f"{name:18} {r['searches_per_s']:11.1f} {r['writes_per_s']:9.1f} {r['search_p50_ms']:7.1f} "
              f"{r['search_p99_ms']:7.1f} {r['errors']:7d}")
    a, b = rows["serialised (old)"], rows["sequenced (new)"]
    print(f"ratio searches/s new/old: {b['searches_per_s'] / max(a['searches_per_s'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
