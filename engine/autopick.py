"""The no-flag build's choice of inner index, made by measurement: build each candidate shape
on a sample of the data, tune it to the target recall, keep the fastest.

Candidates are the two measured winners at ``S=1`` (docs/TUNING.md): ``symqg`` on the raw
vectors and faiss HNSW over ``auto_pca_dim`` PCA coordinates (raw when the rule says no PCA).
"""
from __future__ import annotations

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
    and return the one with the best median QPS at ``target`` (the best recall if none gets
    there), with a one-line reason naming both measurements."""
    from .index import Index
    from .tune import tune

    n, dim = x.shape
    rows_x = x[np.sort(np.random.default_rng(0).permutation(n)[:sample])]
    table = []
    for label, cfg in tqdm(candidates(dim, metric), desc="choose inner index", disable=not progress):
        with tempfile.TemporaryDirectory(prefix="sanny-pick-") as tmp:
            ix = Index.create(tmp, cfg, overwrite=True)
            try:
                t0 = time.perf_counter()
                if cfg.needs_training:
                    ix.train(rows_x)
                ix.insert([str(i) for i in range(len(rows_x))], rows_x)
                ix.build(optimize=True)
                build_s = time.perf_counter() - t0
                r = tune(ix, target, queries=queries, apply=False, progress=False)
            finally:
                ix.close(save=False)
        table.append({"label": label, "config": cfg, "T": r.T, "ef_search": r.ef_search, "recall": r.recall,
                      "expected": r.expected, "qps": r.qps, "qps_min": r.qps_min, "qps_max": r.qps_max,
                      "met": r.met, "build_s": build_s, "held_out": r.held_out, "n_queries": r.n_queries})
    good = [t for t in table if t["met"]]
    best = max(good, key=lambda t: t["qps"]) if good else max(table, key=lambda t: t["expected"])
    others = ", ".join(f"{t['label']} {_qps(t)}" for t in table if t is not best)
    src = "given queries" if best["held_out"] == "queries" else f"{best['n_queries']} leave-one-out queries"
    verdict = (f"the fastest at recall@10 >= {target}" if good
               else f"no candidate reached recall {target}: the highest recall")
    reason = (f"chose {best['label']}: {verdict}, {_qps(best)} vs {others} "
              f"(measured on {len(rows_x):,} of {n:,} vectors, {src})")
    cfg = dataclasses.replace(best["config"], T=best["T"], ef_search=best["ef_search"])
    return Choice(cfg, reason, table)


def _qps(t: dict) -> str:
    return (f"{t['qps']:,.0f} QPS ({t['qps_min']:,.0f}-{t['qps_max']:,.0f}) at T={t['T']} ef_search={t['ef_search']}, "
            f"recall {t['recall']:.3f}" + ("" if t["met"] else " (target not reached)"))
