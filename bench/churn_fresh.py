"""The fresh-build baseline of ``sanny bench-churn``: a new index built from scratch over the
churned index's live vectors, measured the same way (:mod:`.churn_site`).

It runs in a spawned child process, so its memory is its own (measuring it here would leave
freed pages and allocator fragments in the churned index's process) and its RSS is measured
exactly as the churned index's: the child's growth from just before the index was made.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import time

import numpy as np

TRAIN_SAMPLE = 20000  # vectors used to fit PCA (untimed), as bench-ingest


def train_sample(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The seeded sample both the churned and the fresh index train PCA on."""
    return x[np.sort(np.random.default_rng(seed).permutation(len(x))[:TRAIN_SAMPLE])]


def fresh_baseline(mode: str, cfg, x: np.ndarray, test: np.ndarray, kth: np.ndarray, k: int, metric: str,
                   opts: dict, repeats: int, singles: int, batch: int, settle_timeout: float, work: str) -> dict:
    """Build ``x`` (keys ``str(row)``) into a new index at ``work``, let it settle (as the
    churned index's ``settled`` phase), measure it, checkpoint it twice, and return recall, QPS,
    build seconds, RSS and the directory's size. Twice: a checkpointed index keeps its newest
    snapshot and the one before (recovery's fallback, ``engine.snapshot``), as does the churned
    index from its second checkpoint on; one save would compare two snapshots with one."""
    from .churn_site import load_rows, measure, open_site, recall, settle, state

    root = os.path.join(work, "index")
    try:
        with open_site(mode, root, cfg, os.path.join(work, "logs")) as site:
            if cfg.needs_training:
                site.ix.train(train_sample(x))
            t0 = time.perf_counter()
            load_rows(site, [str(i) for i in range(len(x))], x, batch)
            build_s = time.perf_counter() - t0
            waited = settle(site.ix, settle_timeout)
            m = measure(site, test, kth, k, opts, repeats, singles,
                        lambda ids: recall(site.ix, ids, int, x, test, kth, k, metric))
            site.ix.save()
            site.ix.save()
            return {**m, **state(site), **waited, "build_s": build_s, "live": len(site.ix)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_fresh(**kw) -> dict:
    """:func:`fresh_baseline` in a new spawned process (keyword arguments as there)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fresh_baseline, kwds=kw)
