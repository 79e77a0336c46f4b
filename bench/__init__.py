"""Benchmark harness: recall@10 / QPS / latency / build time / memory of Sanny and baselines
(plain NGT, faiss HNSW, faiss flat) on ann-benchmarks HDF5 datasets, with plots.

``run_bench(path, out_dir)`` does everything; the pieces (``datasets``, ``algorithms``,
``runner``, ``results``, ``plot``, ``grids``) compose on their own too.
"""
from __future__ import annotations

import logging
import os

from . import datasets, grids, results, runner
from .datasets import Dataset, exact_ground_truth, load

log = logging.getLogger(__name__)


def run_bench(path: str, out_dir: str, grid="full", prefixes=None, algorithms=None,
              single_queries: int = 200, k: int = 10, single_budget_s: float = 2.0) -> list[dict]:
    """Benchmark ``algorithms`` (default: all in the grid) on the dataset at ``path`` (or on
    each train prefix in ``prefixes``) over ``grid`` (``'quick'``, ``'full'``, a JSON file or
    a dict). Writes results.json, results.csv, pareto.md, pareto.png (and scaling.png for
    prefixes) to ``out_dir``; returns the rows."""
    from . import plot  # matplotlib only when plotting

    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, runner.ROWS_LOG)
    if os.path.exists(log_path):
        os.remove(log_path)
    sizes = sorted(set(int(p) for p in prefixes)) if prefixes else [None]
    rows: list[dict] = []
    for n in sizes:
        ds = load(path, prefix=n)
        grid_n = grids.resolve(grid, ds.dim, algorithms, n=ds.n)
        rows += runner.run(ds, grid_n, out_dir, single_queries=single_queries, k=k,
                           single_budget_s=single_budget_s)
        del ds
    if not rows:
        log.warning("no results (empty grid?)")
        return rows
    results.write_all(rows, out_dir)
    plot.pareto_plot(rows, os.path.join(out_dir, "pareto.png"), k=k)
    if prefixes:
        plot.scaling_plot(rows, os.path.join(out_dir, "scaling.png"))
    return rows


__all__ = ["Dataset", "datasets", "exact_ground_truth", "grids", "load", "results", "run_bench", "runner"]
