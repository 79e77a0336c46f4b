"""One ``sanny bench`` run: provenance, every prefix, resume, and files written as it goes."""
from __future__ import annotations

import logging
import os

from . import grids, provenance, results, runner
from .datasets import load

log = logging.getLogger(__name__)


def write_outputs(rows: list[dict], out_dir: str, k: int = 10, scaling: bool = False) -> None:
    """results.json / .csv, pareto.md, pareto.png (and scaling.png) from the rows so far."""
    from . import plot  # matplotlib only when plotting

    if not rows:
        return
    results.write_all(rows, out_dir)
    plot.pareto_plot(rows, os.path.join(out_dir, "pareto.png"), k=k)
    if scaling:
        plot.scaling_plot(rows, os.path.join(out_dir, "scaling.png"))


def run_bench(path: str, out_dir: str, grid="default", prefixes=None, algorithms=None,
              single_queries: int = 200, k: int = 10, single_budget_s: float = 1.5, repeats: int = 3,
              budget: int | None = None, resume: bool = False) -> list[dict]:
    """Benchmark ``algorithms`` (default: all in the grid) on the dataset at ``path`` (or on
    each train prefix in ``prefixes``) over ``grid`` (a name of ``grids.NAMES``, a JSON file or
    a dict), ``repeats`` timed runs per setting, at most ``budget`` settings per algorithm.
    Writes results.json, results.csv, pareto.md, pareto.png (and scaling.png for prefixes) to
    ``out_dir`` after every build configuration; with ``resume`` the settings already in
    ``out_dir/rows.jsonl`` are kept and not measured again. Returns the rows."""
    os.makedirs(out_dir, exist_ok=True)
    if not resume:
        for name in (runner.ROWS_LOG, runner.PEERS_FILE):
            if os.path.exists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
    done = runner.read_rows_log(out_dir) if resume else []
    prov = provenance.collect(path)
    sizes = sorted(set(int(p) for p in prefixes)) if prefixes else [None]
    rows: list[dict] = []
    for n in sizes:
        ds = load(path, prefix=n)
        grid_n = grids.resolve(grid, ds.dim, algorithms, n=ds.n)
        before = list(rows)
        rows = before + runner.run(
            ds, grid_n, out_dir, single_queries=single_queries, k=k, single_budget_s=single_budget_s,
            repeats=repeats, budget=budget, done=done, provenance=prov,
            on_progress=lambda new: write_outputs(before + new, out_dir, k, scaling=bool(prefixes)))
        del ds
    if not rows:
        log.warning("no results (empty grid?)")
        return rows
    write_outputs(rows, out_dir, k, scaling=bool(prefixes))
    return rows
