"""The no-flag build's choice of inner index, made by measurement: build each candidate shape
on a sample of the data, tune it to the target recall, time the tuned candidates in turns, keep
the fastest.

Candidates are the two measured winners at ``S=1`` (docs/TUNING.md): ``symqg`` on the raw
vectors and faiss HNSW over ``auto_pca_dim`` PCA coordinates (raw when the rule says no PCA).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from sanny.workers import InnerParams

from .config import IndexConfig, auto_pca_dim, default_inner

log = logging.getLogger(__name__)

SAMPLE = 10_000  # vectors per trial build: seconds each, and large enough to rank the two shapes
ROUNDS = 7       # timed rounds in turns of the tuned candidates


@dataclass
class Choice:
    config: IndexConfig
    reason: str                  # one line: the choice and the measurement behind it
    table: list[dict] = field(default_factory=list)


def candidates(dim: int, metric: str) -> list[tuple[str, IndexConfig]]:
    """``(label, config)`` of the shapes tried: symqg raw, faiss HNSW over the PCA rule's size."""
    qg = default_inner(1, 0, dim)[0]
    p = auto_pca_dim(dim)
    return [("symqg raw", IndexConfig(dim=dim, metric=metric, inner=qg)),
            (f"hnsw PCA-{p}" if p else "hnsw raw", IndexConfig(dim=dim, metric=metric, pca_dim=p, inner=InnerParams()))]


def choose(x: np.ndarray, metric: str, target: float = 0.95, queries: np.ndarray | None = None,
           sample: int = SAMPLE, progress: bool = True) -> Choice:
    """Build every candidate on the same sample, tune it (the caller's queries or leave-one-out)
    and return the one with the best median QPS, timed in turns, at ``target`` (the best recall if none gets
    there), with a one-line reason naming both measurements."""
    from .index import Index
    from .tune import tune

    n, dim = x.shape
    rows_x = x[np.sort(np.random.default_rng(0).permutation(n)[:sample])]
    table = []
    with contextlib.ExitStack() as stack:  # every candidate stays open for the timing in turns
        for label, cfg in tqdm(candidates(dim, metric), desc="choose inner index", disable=not progress):
            ix = Index.create(stack.enter_context(tempfile.TemporaryDirectory(prefix="sanny-pick-")), cfg,
                              overwrite=True)
            stack.callback(ix.close, save=False)
            t0 = time.perf_counter()
            if cfg.needs_training:
                ix.train(rows_x)
            ix.insert([str(i) for i in range(len(rows_x))], rows_x)
            ix.build(optimize=True)
            build_s = time.perf_counter() - t0
            r = tune(ix, target, queries=queries, apply=False, progress=False)
            table.append({"label": label, "config": cfg, "index": ix, "T": r.T, "ef_search": r.ef_search,
                          "recall": r.recall, "expected": r.expected, "met": r.met, "build_s": build_s,
                          "held_out": r.held_out, "n_queries": r.n_queries})
        _in_turns(table, rows_x[:500] if queries is None else queries)
    for t in table:
        del t["index"]
    good = [t for t in table if t["met"]]
    best = max(good, key=lambda t: t["qps"]) if good else max(table, key=lambda t: t["expected"])
    others = ", ".join(f"{t['label']} {_qps(t)}" for t in table if t is not best)
    src = "given queries" if best["held_out"] == "queries" else f"{best['n_queries']} leave-one-out queries"
    verdict = (f"the fastest at recall@10 >= {target}" if good
               else f"no candidate reached recall {target}: the highest recall")
    reason = (f"chose {best['label']}: {verdict}, {_qps(best)} vs {others} "
              f"(measured on {len(rows_x):,} of {n:,} vectors, {src}; QPS timed in turns, median of {ROUNDS})")
    cfg = dataclasses.replace(best["config"], T=best["T"], ef_search=best["ef_search"])
    return Choice(cfg, reason, table)


def _in_turns(table: list[dict], queries: np.ndarray, rounds: int = ROUNDS, k: int = 10) -> None:
    """Time every candidate at its tuned setting in turns (A, B, A, B, ...): load from elsewhere
    on the machine then hits all of them alike, unlike tables timed one after the other."""
    q = [t["index"].prepare_queries(np.asarray(queries, np.float32)) for t in table]
    times = [[] for _ in table]
    for r in range(rounds + 1):  # round 0 warms up
        for i, t in enumerate(table):
            t0 = time.perf_counter()
            t["index"].search_ids(q[i], k, T=t["T"], ef_search=t["ef_search"])
            if r:
                times[i].append(len(q[i]) / (time.perf_counter() - t0))
    for t, qps in zip(table, times):
        t["qps"], t["qps_min"], t["qps_max"] = float(np.median(qps)), min(qps), max(qps)


def _qps(t: dict) -> str:
    return (f"{t['qps']:,.0f} QPS ({t['qps_min']:,.0f}-{t['qps_max']:,.0f}) at T={t['T']} ef_search={t['ef_search']}, "
            f"recall {t['recall']:.3f}" + ("" if t["met"] else " (target not reached)"))
