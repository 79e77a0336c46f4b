"""Mixed read/write load on one served index: ``C`` clients, each request a search with
probability ``read`` else a one-key upsert (a WAL fsync). Prints searches/s and writes/s.

Clients run as threads of the server's process (the old harness: they share its interpreter) or
in their own processes, as real clients do. ``engine_path`` re-creates the engine as it was
before each step for a same-run comparison: writes holding the search lock through their WAL
fsync (old), sequenced writes, and sequenced writes with concurrent searches batched (new).

    python -m sanny.bench.mixed_load --n 5000 --dim 128 --S 4 --clients 8 --seconds 15 --repeats 3
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import multiprocessing as mp
import tempfile
import threading
import time

import numpy as np
from tqdm import tqdm

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


START_WAIT = 120.0  # s: bound on waiting for every client to connect


def _client(port: int, dim: int, c: int, read: float, seconds: float, max_requests: int, seed: int,
            go) -> dict:
    """One client: its own channel; ``go`` (a barrier) starts every client's clock at once."""
    rng = np.random.default_rng(seed + c)
    out = {"search": 0, "write": 0, "errors": 0, "latency": []}  # latency: seconds per search
    with Client(f"127.0.0.1:{port}") as cl:
        cl.search(rng.normal(size=(1, dim)).astype(np.float32), 10)  # connected before the clock
        go.wait(START_WAIT)  # a client that cannot connect breaks the barrier instead of hanging the rest
        t0 = time.monotonic()
        stop = t0 + seconds
        for i in range(max_requests):
            if time.monotonic() >= stop:
                break
            kind = "search" if rng.random() < read else "write"
            v = rng.normal(size=(1, dim)).astype(np.float32)
            try:
                if kind == "search":
                    t = time.perf_counter()
                    cl.search(v, 10)
                    out["latency"].append(time.perf_counter() - t)
                else:
                    cl.upsert([f"w{c}-{i % 500}"], v)
            except Exception:  # noqa: BLE001 - counted
                kind = "errors"
            out[kind] += 1
        out["span"] = time.monotonic() - t0
    return out


def _in_threads(port, dim, clients, **kw) -> list[dict]:
    res, go = [None] * clients, threading.Barrier(clients)

    def one(c):
        res[c] = _client(port, dim, c, **kw, go=go)

    threads = [threading.Thread(target=one, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res


def _in_processes(port, dim, clients, **kw) -> list[dict]:
    """Clients in their own processes (spawned), as real clients are: the server's interpreter
    is measured alone. The clock starts when every client is connected."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(clients) as pool:
        go = manager.Barrier(clients)
        return pool.starmap(functools.partial(_client, **kw, go=go), [(port, dim, c) for c in range(clients)])


def run(index, clients: int, seconds: float, read: float = 0.8, max_requests: int = 100_000,
        seed: int = 0, processes: bool = False) -> dict:
    """Drive ``index`` through a gRPC server with ``clients`` clients, in threads of this
    process or (``processes``) in their own; counts per kind over the longest client's span."""
    with run_server(index, vald=False) as (_server, port):
        drive = _in_processes if processes else _in_threads
        res = drive(port, index.config.dim, clients, read=read, seconds=seconds, max_requests=max_requests, seed=seed)
    wall = max(r["span"] for r in res)
    counts = {k: sum(r[k] for r in res) for k in ("search", "write", "errors")}
    latency = [x for r in res for x in r["latency"]]
    p50, p99 = np.percentile(latency, [50, 99]) * 1000 if latency else (np.nan, np.nan)
    return {**counts, "seconds": wall, "searches_per_s": counts["search"] / wall,
            "writes_per_s": counts["write"] / wall, "search_p50_ms": p50, "search_p99_ms": p99}


@contextlib.contextmanager
def engine_path(index, name: str):
    """The engine's write/search path as it was before each step, for a same-run comparison."""
    serial = _serialised_writes(index) if name == "serialised" else contextlib.nullcontext()
    index._coalescer.enabled = name == "batched"
    try:
        with serial:
            yield
    finally:
        index._coalescer.enabled = True


PATHS = {"serialised": "writes hold the search lock, one search at a time (old)",
         "sequenced": "writes sequenced, one search at a time",
         "batched": "writes sequenced, concurrent searches batched (new)"}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--inner", choices=INNER_KINDS, default="hnsw", help="inner index kind (default hnsw)")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients-in", choices=("threads", "processes", "both"), default="both",
                    help="clients as threads of the server's process (the old harness) or their own processes")
    args = ap.parse_args(argv)
    modes = ["threads", "processes"] if args.clients_in == "both" else [args.clients_in]
    x = clustered(args.n, args.dim, seed=0)
    rows: dict[tuple, list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        index = Index.create(f"{d}/idx", IndexConfig(dim=args.dim, S=args.S, inner=InnerParams(kind=args.inner)))
        index.insert([str(i) for i in range(args.n)], x)
        index.build()
        for _ in tqdm(range(args.repeats), desc="repeats"):
            for mode in modes:
                for path in PATHS:
                    with engine_path(index, path):
                        r = run(index, args.clients, args.seconds, processes=mode == "processes")
                    rows.setdefault((mode, path), []).append(r)
        index.close(save=False)
    print(f"{args.clients} clients, {args.n} x {args.dim}, S={args.S}, {args.inner}; median (min-max) of {args.repeats}")
    print(f"{'clients in':10} {'engine path':54} {'searches/s':>22} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for (mode, path), rs in rows.items():
        qps = [r["searches_per_s"] for r in rs]
        med = lambda key: float(np.median([r[key] for r in rs]))  # noqa: E731
        print(f"{mode:10} {PATHS[path]:54} {med('searches_per_s'):8.0f} ({min(qps):5.0f}-{max(qps):5.0f}) "
              f"{med('writes_per_s'):9.0f} {med('search_p50_ms'):7.1f} {med('search_p99_ms'):7.1f} "
              f"{sum(r['errors'] for r in rs):6d}")


if __name__ == "__main__":
    main()
