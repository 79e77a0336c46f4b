"""Run algorithms over their parameter grids on one dataset; one result row per setting.

Per build configuration: build time and memory (RSS growth across ``fit``, measured after
``gc.collect()`` and ``malloc_trim``; approximate: allocator caching blurs it), and the peak
RSS growth during ``fit``. Per query setting, after a warm-up (whose ids give recall@k):
``repeats`` timed batch runs (whole test set in one call) and ``repeats`` timed single-query
passes over the same first queries; each measure is stored as its median (the plain key, e.g.
``qps_batch``) with ``_min`` / ``_max`` over the repeats. Rows are appended to ``rows.jsonl``
as they are measured, so a crash keeps what was done and ``resume`` skips it.
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

ROWS_LOG = "rows.jsonl"
PEERS_FILE = "peers.json"  # algorithms that could not be imported / built here, with the reason


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


def spread(name: str, values) -> dict:
    """``{name: median, name_min: .., name_max: ..}`` (all None when there are no values)."""
    v = [x for x in values if x is not None]
    if not v:
        return {name: None, f"{name}_min": None, f"{name}_max": None}
    return {name: float(np.median(v)), f"{name}_min": float(min(v)), f"{name}_max": float(max(v))}


def _single_pass(algo, Q: np.ndarray, k: int, limit: int, budget_s: float) -> list[float]:
    """Latencies of ``query`` over ``Q[:limit]``, stopping early once ``budget_s`` is spent."""
    lat: list[float] = []
    spent = 0.0
    while len(lat) < limit and spent < budget_s:
        t0 = time.perf_counter()
        algo.query(Q[len(lat)], k)
        lat.append(time.perf_counter() - t0)
        spent += lat[-1]
    return lat


def measure(algo, ds: Dataset, k: int = 10, repeats: int = 3, single_queries: int = 200,
            single_budget_s: float = 1.5) -> dict:
    """Recall@k and the median / min / max over ``repeats`` of batch QPS and of single-query
    QPS, p50 and p99 latency. The first single pass stops after ``single_queries`` queries or
    ``single_budget_s / repeats`` seconds; the later passes time the same number of queries
    (``single_n``)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    ids = algo.batch_query(ds.test, k)  # warm-up run; its answers are the ones scored
    batch = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        algo.batch_query(ds.test, k)
        batch.append(len(ds.test) / max(time.perf_counter() - t0, 1e-9))
    limit = min(single_queries, len(ds.test))
    passes: list[list[float]] = []
    if limit:
        algo.query(ds.test[0], k)  # warm-up
        first = _single_pass(algo, ds.test, k, limit, single_budget_s / repeats)
        passes = [first] + [_single_pass(algo, ds.test, k, len(first), float("inf"))
                            for _ in range(repeats - 1)]
    qps = [len(p) / sum(p) for p in passes if p]
    pct = [np.percentile(p, [50, 99]) * 1e3 for p in passes if p]
    return {"recall": metrics.recall(ds, ids, k), **spread("qps_batch", batch), **spread("qps_single", qps),
            **spread("p50_ms", [float(p[0]) for p in pct]), **spread("p99_ms", [float(p[1]) for p in pct]),
            "single_n": len(passes[0]) if passes else 0, "repeats": repeats}


def setting_key(row_or_name, build_params=None, query_params=None, dataset=None) -> tuple:
    """Identity of one measured setting (for ``resume``)."""
    if isinstance(row_or_name, dict):
        r = row_or_name
        return (r["dataset"], r["algorithm"], json.dumps(r["build_params"], sort_keys=True),
                json.dumps(r["query_params"], sort_keys=True))
    return (dataset, row_or_name, json.dumps(build_params, sort_keys=True), json.dumps(query_params, sort_keys=True))


def read_rows_log(out_dir: str) -> list[dict]:
    """Rows already measured into ``out_dir/rows.jsonl`` (a torn last line is ignored)."""
    path = os.path.join(out_dir, ROWS_LOG)
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    log.warning("%s: skipping a torn line", path)
    return rows


def record_peer(out_dir: str, name: str, reason: str | None) -> None:
    """Note in ``peers.json`` whether ``name`` ran here (``reason`` None) or why it did not."""
    path = os.path.join(out_dir, PEERS_FILE)
    try:
        with open(path) as f:
            peers = json.load(f)
    except (OSError, ValueError):
        peers = {}
    if reason is None and peers.get(name, {}).get("status") == "unavailable":
        return  # keep the failure note of an earlier build configuration
    peers[name] = {"status": "ok"} if reason is None else {"status": "unavailable", "reason": reason}
    with open(path, "w") as f:
        json.dump(peers, f, indent=1, sort_keys=True)


def run(dataset: Dataset, algorithms_with_grids: dict, out_dir: str, single_queries: int = 200,
        k: int = 10, single_budget_s: float = 1.5, repeats: int = 3, budget: int | None = None,
        done: list[dict] | None = None, provenance: dict | None = None, on_progress=None) -> list[dict]:
    """Benchmark every (algorithm, build params, query params) of the grid on ``dataset``.

    ``algorithms_with_grids``: ``{name: [{"build": {...}, "query": {...}}, ...]}`` (see
    ``grids``); ``budget`` caps each algorithm at that many settings. Settings already in
    ``done`` (rows of an earlier run) are not measured again and those rows are returned with
    the new ones. ``on_progress(rows)`` is called after each build configuration (to write
    tables and plots as a long grid goes). An algorithm whose library is missing or whose
    build fails is skipped and recorded in ``peers.json``.
    """
    if k > dataset.neighbors.shape[1]:
        raise ValueError(f"k={k} exceeds the {dataset.neighbors.shape[1]} true neighbours stored")
    os.makedirs(out_dir, exist_ok=True)
    workdir = os.path.join(out_dir, "work")
    os.makedirs(workdir, exist_ok=True)
    plan = grids.apply_budget(grids.expand(algorithms_with_grids), budget)
    rows = [r for r in (done or []) if r["dataset"] == dataset.name]
    have = {setting_key(r) for r in rows}
    todo = [(name, b, [q for q in qs if setting_key(name, b, q, dataset.name) not in have])
            for name, b, qs in plan]
    todo = [t for t in todo if t[2]]
    total = sum(len(q) for _, _, q in todo)
    log.info("%s: n=%d dim=%d queries=%d, %d build configs, %d settings to measure (%d done)",
             dataset.name, dataset.n, dataset.dim, len(dataset.test), len(todo), total, len(rows))
    bar = tqdm(total=total, desc=dataset.name, unit="setting")
    failed: set[str] = set()
    with open(os.path.join(out_dir, ROWS_LOG), "a") as sink:
        for name, build_params, queries in todo:
            if name in failed:
                bar.update(len(queries))
                continue
            bar.set_postfix_str(f"{name} {build_params}"[:60], refresh=True)
            try:
                algo, build_s, memory, peak = build(name, build_params, dataset, workdir)
            except (ImportError, OSError, RuntimeError, ValueError) as e:
                log.warning("%s %s: cannot build (%s); skipped", name, build_params, e)
                record_peer(out_dir, name, f"{type(e).__name__}: {e}")
                failed.add(name)
                bar.update(len(queries))
                continue
            record_peer(out_dir, name, None)
            try:
                index_bytes = algo.index_bytes()
                log.info("%s built in %.2f s (rss +%s bytes)", algo, build_s, memory)
                for qp in queries:
                    algo.set_query_arguments(**qp)
                    row = {"dataset": dataset.name, "algorithm": name, "build_params": build_params,
                           "query_params": qp,
                           **measure(algo, dataset, k, repeats, single_queries, single_budget_s),
                           "build_s": build_s, "memory_bytes": memory, "build_peak_bytes": peak,
                           "index_bytes": index_bytes, "n": dataset.n, "dim": dataset.dim, "k": k,
                           "queries": len(dataset.test), "cpus": os.cpu_count(),
                           "provenance": provenance or {}}
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
            if on_progress is not None:
                on_progress(rows)
    bar.close()
    try:
        os.rmdir(workdir)
    except OSError:
        log.debug("work directory %s not removed (not empty)", workdir)
    return rows
