"""Run algorithms over their parameter grids on one dataset; one result row per setting.

Per build configuration: build time and memory (RSS growth across ``fit``, measured after
``gc.collect()`` and ``malloc_trim``; approximate: allocator caching blurs it), and the peak
RSS growth during ``fit``. Per query setting: batch QPS (whole test set in one call, best of 2), single-query
QPS with p50/p99 latency over the first ``single_queries`` queries, and recall@k.
"""
from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from . import algorithms, grids, metrics
from .datasets import Dataset

log = logging.getLogger(__name__)

BATCH_REPEAT_S = 10.0  # batch runs longer than this are not repeated
ROWS_LOG = "rows.jsonl"  # appended as rows are measured, so a crash keeps what was done


def build(name: str, build_params: dict, ds: Dataset, workdir: str | None = None):
    """Construct and fit; returns ``(algo, build_s, memory_bytes, peak_bytes)``."""
    algo = algorithms.get(name)(ds.metric, **build_params)
    algo.workdir = workdir
    metrics.release_memory()
    before = metrics.rss_bytes()
    peak_ok = metrics.reset_peak()
    t0 = time.perf_counter()
    try:
        algo.fit(ds.train)
    except BaseException:
        algo.done()  # temporary files of a half-built index
        raise
    build_s = time.perf_counter() - t0
    peak = metrics.peak_bytes() if peak_ok else None
    metrics.release_memory()
    after = metrics.rss_bytes()
    memory = after - before if before is not None and after is not None else None
    peak_delta = peak - before if peak is not None and before is not None else None
    return algo, build_s, memory, peak_delta


def measure(algo, ds: Dataset, k: int = 10, single_queries: int = 200, single_budget_s: float = 2.0) -> dict:
    """Recall@k, batch QPS (best of 2; one run if it takes over ``BATCH_REPEAT_S``) and
    single-query QPS with p50/p99 latency for the current setting. Single queries stop after
    ``single_queries`` or once ``single_budget_s`` seconds are spent (``single_n`` says how
    many were timed)."""
    best, ids = float("inf"), None
    for _ in range(2):
        t0 = time.perf_counter()
        ids = algo.batch_query(ds.test, k)
        best = min(best, time.perf_counter() - t0)
        if best > BATCH_REPEAT_S:  # a long run needs no warm-up twin
            break
    nq = min(single_queries, len(ds.test))
    if nq:
        algo.query(ds.test[0], k)  # warm-up
    lat: list[float] = []
    spent = 0.0
    while len(lat) < nq and spent < single_budget_s:
        t0 = time.perf_counter()
        algo.query(ds.test[len(lat)], k)
        lat.append(time.perf_counter() - t0)
        spent += lat[-1]
    p50, p99 = (np.percentile(lat, [50, 99]) * 1e3).tolist() if lat else (None, None)
    return {"recall": metrics.recall(ds, ids, k), "qps_batch": len(ds.test) / best,
            "qps_single": len(lat) / spent if lat else None, "p50_ms": p50, "p99_ms": p99,
            "single_n": len(lat)}


def run(dataset: Dataset, algorithms_with_grids: dict, out_dir: str, single_queries: int = 200,
        k: int = 10, single_budget_s: float = 2.0) -> list[dict]:
    """Benchmark every (algorithm, build params, query params) of the grid on ``dataset``.

    ``algorithms_with_grids``: ``{name: [{"build": {...}, "query": {...}}, ...]}`` (see
    ``grids``); values may be lists, which are expanded as a Cartesian product.
    ``single_budget_s`` caps the time spent on single queries per setting.
    """
    if k > dataset.neighbors.shape[1]:
        raise ValueError(f"k={k} exceeds the {dataset.neighbors.shape[1]} true neighbours stored")
    os.makedirs(out_dir, exist_ok=True)
    workdir = os.path.join(out_dir, "work")
    os.makedirs(workdir, exist_ok=True)
    plan = grids.expand(algorithms_with_grids)
    total = sum(len(q) for _, _, q in plan)
    rows: list[dict] = []
    log.info("%s: n=%d dim=%d queries=%d, %d build configs, %d settings",
             dataset.name, dataset.n, dataset.dim, len(dataset.test), len(plan), total)
    bar = tqdm(total=total, desc=dataset.name, unit="setting")
    with open(os.path.join(out_dir, ROWS_LOG), "a") as sink:
        for name, build_params, queries in plan:
            bar.set_postfix_str(f"{name} {build_params}"[:60], refresh=True)
            algo, build_s, memory, peak = build(name, build_params, dataset, workdir)
            try:
                index_bytes = algo.index_bytes()
                log.info("%s built in %.2f s (rss +%s bytes)", algo, build_s, memory)
                for qp in queries:
                    algo.set_query_arguments(**qp)
                    row = {"dataset": dataset.name, "algorithm": name, "build_params": build_params,
                           "query_params": qp,
                           **measure(algo, dataset, k, single_queries, single_budget_s),
                           "build_s": build_s, "memory_bytes": memory, "build_peak_bytes": peak,
                           "index_bytes": index_bytes, "n": dataset.n, "dim": dataset.dim, "k": k,
                           "queries": len(dataset.test), "cpus": os.cpu_count()}
                    log.info("%s: recall %.4f, %.0f QPS batch, %.0f QPS single", algo, row["recall"],
                             row["qps_batch"], row["qps_single"] or 0)
                    rows.append(row)
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    bar.update()
            finally:
                algo.done()
                del algo
                metrics.release_memory()
    bar.close()
    try:
        os.rmdir(workdir)
    except OSError:
        log.debug("work directory %s not removed (not empty)", workdir)
    return rows
