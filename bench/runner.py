"""Run algorithms over their parameter grids on one dataset; one result row per setting.

Per build configuration: build time and memory (RSS growth across ``fit``, measured after
``gc.collect()``; approximate: allocator caching and memory freed by the previous algorithm
blur it). Per query setting: batch QPS (whole test set in one call, best of 2), single-query
QPS with p50/p99 latency over the first ``single_queries`` queries, and recall@k.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from . import algorithms, grids, metrics
from .datasets import Dataset

log = logging.getLogger(__name__)

ROWS_LOG = "rows.jsonl"  # appended as rows are measured, so a crash keeps what was done


def build(name: str, build_params: dict, ds: Dataset, workdir: str | None = None):
    """Construct and fit; returns ``(algo, build_s, memory_bytes, peak_bytes)``."""
    algo = algorithms.get(name)(ds.metric, **build_params)
    algo.workdir = workdir
    gc.collect()
    before = metrics.rss_bytes()
    peak_ok = metrics.reset_peak()
    t0 = time.perf_counter()
    algo.fit(ds.train)
    build_s = time.perf_counter() - t0
    peak = metrics.peak_bytes() if peak_ok else None
    gc.collect()
    after = metrics.rss_bytes()
    memory = after - before if before is not None and after is not None else None
    peak_delta = peak - before if peak is not None and before is not None else None
    return algo, build_s, memory, peak_delta


def measure(algo, ds: Dataset, k: int = 10, single_queries: int = 200) -> dict:
    """Batch QPS (best of 2), single-query QPS and latency, recall@k for the current setting."""
    best, ids = float("inf"), None
    for _ in range(2):
        t0 = time.perf_counter()
        ids = algo.batch_query(ds.test, k)
        best = min(best, time.perf_counter() - t0)
    nq = min(single_queries, len(ds.test))
    lat = np.empty(nq)
    if nq:
        algo.query(ds.test[0], k)  # warm-up
    for i in range(nq):
        t0 = time.perf_counter()
        algo.query(ds.test[i], k)
        lat[i] = time.perf_counter() - t0
    p50, p99 = (np.percentile(lat, [50, 99]) * 1e3).tolist() if nq else (None, None)
    return {"recall": metrics.recall(ds, ids, k), "qps_batch": len(ds.test) / best,
            "qps_single": nq / lat.sum() if nq else None, "p50_ms": p50, "p99_ms": p99}


def run(dataset: Dataset, algorithms_with_grids: dict, out_dir: str, single_queries: int = 200,
        k: int = 10) -> list[dict]:
    """Benchmark every (algorithm, build params, query params) of the grid on ``dataset``.

    ``algorithms_with_grids``: ``{name: [{"build": {...}, "query": {...}}, ...]}`` (see
    ``grids``); values may be lists, which are expanded as a Cartesian product.
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
            index_bytes = algo.index_bytes()
            log.info("%s built in %.2f s (rss +%s bytes)", algo, build_s, memory)
            for qp in queries:
                algo.set_query_arguments(**qp)
                row = {"dataset": dataset.name, "algorithm": name, "build_params": build_params,
                       "query_params": qp, **measure(algo, dataset, k, single_queries),
                       "build_s": build_s, "memory_bytes": memory, "build_peak_bytes": peak,
                       "index_bytes": index_bytes, "n": dataset.n, "dim": dataset.dim, "k": k,
                       "queries": len(dataset.test), "cpus": os.cpu_count()}
                log.info("%s: recall %.4f, %.0f QPS batch, %.0f QPS single", algo, row["recall"],
                         row["qps_batch"], row["qps_single"] or 0)
                rows.append(row)
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                bar.update()
            algo.done()
            del algo
            gc.collect()
    bar.close()
    try:
        os.rmdir(workdir)
    except OSError:
        log.debug("work directory %s not removed (not empty)", workdir)
    return rows
