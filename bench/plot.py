"""Recall-QPS Pareto plots (``pareto.png``) and, for prefix runs, scaling with n (``scaling.png``).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly: no pyplot, no global backend
switch at import.
"""
from __future__ import annotations

import logging

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

_ORDER = ("sanny", "ngt", "hnsw", "flat")


def _color(algo: str, algos: list[str]) -> str:
    return f"C{algos.index(algo) % 10}"


def _algos(rows: list[dict]) -> list[str]:
    names = list(dict.fromkeys(r["algorithm"] for r in rows))
    return sorted(names, key=lambda a: (_ORDER.index(a) if a in _ORDER else len(_ORDER), a))


def frontier(rows: list[dict], key: str) -> list[dict]:
    """Rows not dominated in (recall, ``key``), by increasing recall."""
    pts = sorted((r for r in rows if r.get(key)), key=lambda r: (-r["recall"], -r[key]))
    out, best = [], 0.0
    for r in pts:
        if r[key] > best:
            out.append(r)
            best = r[key]
    return out[::-1]


def pareto_plot(rows: list[dict], path: str, k: int = 10) -> None:
    """One row of panels per dataset: batch QPS and single-query QPS against recall@k (all
    settings faint, each algorithm's Pareto frontier as a line; x starts just left of the
    lowest frontier point, so dominated low-recall settings may fall off the left edge)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    algos = _algos(rows)
    fronts = [r for ds in datasets for a in algos for key in ("qps_batch", "qps_single")
              for r in frontier([r for r in rows if r["dataset"] == ds and r["algorithm"] == a], key)]
    left = max(0.0, min((r["recall"] for r in fronts), default=0.0) - 0.02)
    fig = Figure(figsize=(12, 4.5 * len(datasets)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for i, ds in enumerate(datasets):
        mine = [r for r in rows if r["dataset"] == ds]
        for j, (key, label) in enumerate((("qps_batch", "batch"), ("qps_single", "single query"))):
            ax = axes[i][j]
            for a in algos:
                pts = [r for r in mine if r["algorithm"] == a and r.get(key)]
                if not pts:
                    continue
                c = _color(a, algos)
                ax.scatter([r["recall"] for r in pts], [r[key] for r in pts], s=10, color=c, alpha=0.25)
                fr = frontier(pts, key)
                ax.plot([r["recall"] for r in fr], [r[key] for r in fr], "o-", color=c, label=a, ms=4)
            ax.set_yscale("log")
            ax.set_xlim(left, 1.005)
            ax.set_xlabel(f"recall@{k}")
            ax.set_ylabel("queries per second")
            ax.set_title(f"{ds}: {label}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="lower left")
    fig.savefig(path, dpi=110)
    log.info("wrote %s", path)


def _at_threshold(rows: list[dict], threshold: float):
    ok = [r for r in rows if r["recall"] >= threshold]
    return max(ok, key=lambda r: r["qps_batch"]) if ok else None


def scaling_plot(rows: list[dict], path: str, threshold: float = 0.9) -> None:
    """Build time and batch QPS at recall >= ``threshold`` against the number of vectors."""
    algos = _algos(rows)
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_b, ax_q = fig.subplots(1, 2)
    for a in algos:
        pts = []
        for n in sorted({r["n"] for r in rows if r["algorithm"] == a}):
            best = _at_threshold([r for r in rows if r["algorithm"] == a and r["n"] == n], threshold)
            if best is not None:
                pts.append((n, best["build_s"], best["qps_batch"]))
        if not pts:
            continue
        c = _color(a, algos)
        ax_b.plot([p[0] for p in pts], [max(p[1], 1e-3) for p in pts], "o-", color=c, label=a)
        ax_q.plot([p[0] for p in pts], [p[2] for p in pts], "o-", color=c, label=a)
    ax_b.set_title(f"build time of the fastest setting with recall ≥ {threshold}")
    ax_b.set_ylabel("seconds")
    ax_q.set_title(f"batch QPS at recall ≥ {threshold}")
    ax_q.set_ylabel("queries per second")
    for ax in (ax_b, ax_q):
        ax.set_xlabel("n (train vectors)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=110)
    log.info("wrote %s", path)
