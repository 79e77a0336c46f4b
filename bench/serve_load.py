"""Load benchmark of the *service* (``sanny bench-serve``): QPS, p50/p99 latency, recall@k and
per-process RSS of the embedded, gRPC-worker and Ray topologies, as ratios to the in-process
engine measured in the same run (same data, index configuration and search parameters);
``netnsN``: the ``grpcN`` topology with every process in its own network namespace.

Indexes are built in this process: in-process (measured directly, then served as ``embedded``)
and, per worker count N, over ``sanny worker`` processes (served as ``grpcN``, and as ``rayN``
from the same worker data directories); again with ``keep_vectors=False`` for the modes run with
distributed re-rank. Each topology takes C client threads (each its own ``Client`` and
connection) sending Search requests of 1 and of ``batch`` queries, each phase bounded by
``seconds`` and ``max_queries``. Keys are ``str(row)``."""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import shutil
import threading
import time

import numpy as np

from . import metrics, serve_modes, serve_report
from .datasets import Dataset, load
from .netns import unavailable

log = logging.getLogger(__name__)

def drive(make, ds: Dataset, k: int, clients: int, request: int, seconds: float, max_queries: int) -> dict:
    """``clients`` threads, each with ``make()`` as its searcher, send requests of ``request``
    consecutive test queries (cycling over the test set) until ``seconds`` pass or
    ``max_queries`` are sent; one untimed warm-up request each first."""
    m = len(ds.test)
    cap = max(1, max_queries // request)
    counter = itertools.count()
    t0: list[float] = []
    barrier = threading.Barrier(clients + 1, action=lambda: t0.append(time.perf_counter()))
    lat: list[list[float]] = [[] for _ in range(clients)]
    got: list[list] = [[] for _ in range(clients)]
    errors: list[str] = []

    def client(j: int) -> None:
        searcher = None
        try:
            searcher = make()
            searcher(ds.test[:request])
        except Exception as e:  # noqa: BLE001 - reported in the row
            errors.append(f"warm-up: {type(e).__name__}: {e}")
            searcher = None
        barrier.wait()
        if searcher is None:
            return
        try:
            while time.perf_counter() < t0[0] + seconds and (r := next(counter)) < cap:
                rows = (np.arange(request) + r * request) % m
                t = time.perf_counter()
                res = searcher(ds.test[rows])
                lat[j].append(time.perf_counter() - t)
                got[j].append((rows, searcher.decode(res)))
        except Exception as e:  # noqa: BLE001 - this client stops; the row counts the error
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            searcher.close()

    threads = [threading.Thread(target=client, args=(j,), name=f"bench-client-{j}") for j in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0[0]
    ids = np.full((m, k), -1, np.int64)
    answered = np.zeros(m, bool)
    for rows, res in itertools.chain.from_iterable(got):
        ids[rows] = res
        answered[rows] = True
    all_lat = np.concatenate([np.asarray(x) for x in lat]) if any(lat) else np.zeros(0)
    n_req = len(all_lat)
    sub = dataclasses.replace(ds, test=ds.test[answered], neighbors=ds.neighbors[answered],
                              distances=ds.distances[answered])
    p50, p99 = (np.percentile(all_lat, [50, 99]) * 1e3).tolist() if n_req else (None, None)
    return {"clients": clients, "request": request, "requests": n_req, "queries": n_req * request,
            "seconds": wall, "qps": n_req * request / wall if wall > 0 else None, "p50_ms": p50,
            "p99_ms": p99, "recall": metrics.recall(sub, ids[answered], k) if answered.any() else None,
            "answered": int(answered.sum()), "errors": len(errors), "error": errors[0] if errors else None}


def _phases(mode, rerank, make, ds, opts, sizes, built, top=None) -> list[dict]:
    """Every clients x request size phase on one topology (``top`` None: in-process)."""
    rows = []
    for c in opts["clients"]:
        for size in sizes:
            r = drive(make, ds, opts["k"], c, size, opts["seconds"], opts["max_queries"])
            rows.append({**opts["base"], "mode": mode, "rerank": rerank, **r, **(top.rss() if top else {}),
                         **built, **(top.where() if top else {}), "pids": top.pids() if top else []})
            log.info("%-9s %-11s clients=%d request=%-4d %8.1f QPS  p50 %.2f ms  p99 %.2f ms  recall %.4f%s",
                     mode, rerank, c, size, r["qps"] or 0, r["p50_ms"] or 0, r["p99_ms"] or 0, r["recall"] or 0,
                     f"  {r['errors']} errors ({r['error']})" if r["errors"] else "")
    return rows


WORKER_MODES = ("grpc", "ray", "netns")  # each followed by its worker count


def _worker_counts(modes) -> list[int]:
    return sorted({int(m.lstrip("abcdefghijklmnopqrstuvwxyz")) for m in modes if m.startswith(WORKER_MODES)})


def _without_netns(plan: dict) -> None:
    """Drop the ``netnsN`` modes (with a warning saying why) where namespaces cannot be made here."""
    wanted = sorted({m for ms in plan.values() for m in ms if m.startswith("netns")})
    why = unavailable() if wanted else None
    if why:
        log.warning("skipping %s: network namespaces unavailable here: %s", ", ".join(wanted), why)
        for ms in plan.values():
            ms.difference_update(wanted)


def _run_rerank(rerank: str, modes: set, ds, opts: dict, sizes: list[int], work: str) -> list[dict]:
    """Build the indexes ``modes`` need with this re-rank and run every topology in ``modes``."""
    from sanny.engine import IndexConfig
    from sanny.engine.split import group
    from sanny.workers.transports import factory_from_config

    k, S, search = opts["k"], opts["base"]["S"], opts["search"]

    def config(workers: int):
        return IndexConfig(dim=ds.dim, S=S, metric="cosine" if ds.metric == "angular" else "l2", workers=workers,
                           pca_dim=opts["base"]["pca_dim"], keep_vectors=rerank == "local", **search)

    def client():
        return serve_modes.ServiceSearcher(top.address, k, search)

    rows: list[dict] = []
    logs = os.path.join(work, rerank, "logs")
    os.makedirs(logs, exist_ok=True)
    if modes & {"inproc", "embedded"}:
        root = os.path.join(work, rerank, "index-embedded")
        ix, build_s = serve_modes.build(root, config(0), ds)
        built = {"built": "in-process", "build_s": build_s}
        log.info("%s re-rank: built the in-process index in %.1f s", rerank, build_s)
        try:
            ix.search_ids(ds.test[:1], k, **search)  # warm-up from the main thread (NGT-labs/NGT#174)
            rows += _phases("inproc", rerank, lambda: serve_modes.InProcessSearcher(ix, k, search), ds, opts, sizes,
                            built)
        finally:
            ix.close(save=False)
        if "embedded" in modes:
            with serve_modes.serve("embedded", root, [], [], os.path.join(logs, "embedded")) as top:
                rows += _phases("embedded", rerank, client, ds, opts, sizes, built, top)
    for n in _worker_counts(modes):
        groups = group(S, n)
        root = os.path.join(work, rerank, f"index-{n}w")
        dirs = [os.path.join(work, rerank, f"workers-{n}", f"worker-{i}") for i in range(n)]
        with serve_modes.worker_procs(dirs, logs) as ws:  # built over gRPC workers; Ray actors reuse their saves
            table = serve_modes.grpc_table([w.address for w in ws], groups)
            ix, build_s = serve_modes.build(root, config(n), ds, factory_from_config({"workers": table}))
            ix.close(save=False)
        built = {"built": f"{n} gRPC workers", "build_s": build_s}
        log.info("%s re-rank: built the %d-worker index in %.1f s", rerank, n, build_s)
        for mode in (f"{kind}{n}" for kind in WORKER_MODES):
            if mode in modes:
                with serve_modes.serve(mode, root, dirs, groups, os.path.join(logs, mode)) as top:
                    rows += _phases(mode, rerank, client, ds, opts, sizes, built, top)
    return rows


def run_serve_bench(path: str, out_dir: str, modes=("embedded", "grpc2", "grpc4", "ray2"), clients=(1, 4),
                    seconds: float = 10.0, k: int = 10, T: int | None = None, epsilon: float | None = None,
                    S: int = 8, pca_dim: int = 0, prefix: int | None = None, distributed=None,
                    batch: int = 100, max_queries: int = 100_000, keep_work: bool = False) -> list[dict]:
    """The in-process engine and ``modes`` with local re-rank, and the ``distributed`` modes
    (default: the grpcN ones of ``modes``; may include ``inproc``) with distributed re-rank, each
    over clients x request sizes (1 and ``batch``). Writes serve.json, serve.md and serve.png to
    ``out_dir``; returns the rows (``ratio``: QPS over the in-process engine's, local re-rank)."""
    from sanny.engine import IndexConfig, InvalidArgument

    if distributed is None:
        distributed = [m for m in modes if m.startswith("grpc")]
    plan = {"local": {"inproc", *modes}, "distributed": set(distributed)}
    _without_netns(plan)
    counts = _worker_counts(plan["local"] | plan["distributed"])
    if counts and not 1 <= counts[0] <= counts[-1] <= S:
        raise InvalidArgument("modes", f"worker counts {counts} must be between 1 and S={S}")
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, "work")
    ds = load(path, prefix=prefix)
    if k > ds.neighbors.shape[1]:
        raise InvalidArgument("k", f"{k} exceeds the {ds.neighbors.shape[1]} true neighbours stored")
    if plan["distributed"] and pca_dim not in (0, ds.dim):
        log.warning("no distributed re-rank runs: they need pca_dim 0 (a reducing PCA is rejected)")
        plan["distributed"] = set()
    search = {key: v for key, v in (("T", T), ("epsilon", epsilon)) if v is not None}
    base = {"dataset": ds.name, "n": ds.n, "dim": ds.dim, "test_queries": len(ds.test), "S": S, "pca_dim": pca_dim,
            "k": k, "T": T or IndexConfig.T, "epsilon": IndexConfig.epsilon if epsilon is None else epsilon,
            "cpus": os.cpu_count()}
    opts = {"k": k, "clients": list(clients), "seconds": seconds, "max_queries": max_queries, "base": base,
            "search": search}
    sizes = [1] + ([batch] if batch > 1 else [])
    rows: list[dict] = []
    try:
        for rerank, ms in plan.items():
            if ms:
                rows += _run_rerank(rerank, ms, ds, opts, sizes, work)
    finally:
        if rows:
            serve_report.add_ratios(rows)
            serve_report.write_all(rows, out_dir)
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return rows
