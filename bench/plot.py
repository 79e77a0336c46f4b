"""Recall-QPS Pareto plots (``pareto.png``) and, for prefix runs, scaling with n (``scaling.png``).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly: no pyplot, no global backend
switch at import. matplotlib is the ``plot`` extra: :func:`figure` says so when it is missing.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class PlotUnavailable(RuntimeError):
    """matplotlib (the ``plot`` extra) is not installed."""


def require() -> None:
    """Fail before a long run, not at its first plot, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise PlotUnavailable("plots need matplotlib: pip install 'sanny[plot]'") from e


def figure(**kw):
    """A ``matplotlib.figure.Figure`` on the Agg canvas (``kw``: Figure's arguments)."""
    require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


_ORDER = ("sanny", "ngt", "hnsw", "hnsw_sq", "ivfpq_fs", "usearch", "scann", "symqg", "flat")


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
    settings faint, each algorithm's Pareto frontier of medians as a line with min–max error
    bars over the timed repeats; x starts just left of the lowest frontier point, so
    dominated low-recall settings may fall off the left edge)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    algos = _algos(rows)
    fronts = [r for ds in datasets for a in algos for key in ("qps_batch", "qps_single")
              for r in frontier([r for r in rows if r["dataset"] == ds and r["algorithm"] == a], key)]
    left = max(0.0, min((r["recall"] for r in fronts), default=0.0) - 0.02)
    fig = figure(figsize=(12, 4.5 * len(datasets)), layout="constrained")
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
                if all(r.get(f"{key}_min") is not None for r in fr):
                    y = [r[key] for r in fr]
                    err = [[v - r[f"{key}_min"] for v, r in zip(y, fr)], [r[f"{key}_max"] - v for v, r in zip(y, fr)]]
                    ax.errorbar([r["recall"] for r in fr], y, yerr=err, fmt="none", ecolor=c, capsize=2, lw=0.8)
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


def scaling_points(rows: list[dict], algo: str, threshold: float = 0.95) -> list[dict]:
    """Per n, the batch-QPS-best setting of ``algo`` reaching ``threshold``: its n, build time,
    ingest rate (vectors per build second), memory (RSS growth, else index size) and QPS."""
    pts = []
    for n in sorted({r["n"] for r in rows if r["algorithm"] == algo}):
        best = _at_threshold([r for r in rows if r["algorithm"] == algo and r["n"] == n], threshold)
        if best is not None:
            mem = best.get("memory_bytes") if best.get("memory_bytes") else best.get("index_bytes")
            pts.append({"n": n, "build_s": best["build_s"], "ingest": n / max(best["build_s"], 1e-9),
                        "memory_mb": mem / 2**20 if mem else None, "qps": best["qps_batch"],
                        "qps_min": best.get("qps_batch_min"), "qps_max": best.get("qps_batch_max")})
    return pts


def scaling_plot(rows: list[dict], path: str, threshold: float = 0.95) -> None:
    """Build time, ingest rate, memory and batch QPS at recall >= ``threshold`` against n
    (for each algorithm, the fastest setting reaching the threshold at that n)."""
    algos = _algos(rows)
    fig = figure(figsize=(12, 8.5), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    panels = (("build_s", "build time (s)"), ("ingest", "ingest rate (vectors / build second)"),
              ("memory_mb", "memory (MB: RSS growth, else index size)"), ("qps", f"batch QPS at recall ≥ {threshold}"))
    for a in algos:
        pts = scaling_points(rows, a, threshold)
        if not pts:
            continue
        c = _color(a, algos)
        for ax, (key, _) in zip(axes, panels):
            xy = [(p["n"], p[key]) for p in pts if p[key]]
            ax.plot([x for x, _ in xy], [y for _, y in xy], "o-", color=c, label=a)
        if all(p["qps_min"] is not None for p in pts):
            axes[3].fill_between([p["n"] for p in pts], [p["qps_min"] for p in pts], [p["qps_max"] for p in pts],
                                 color=c, alpha=0.15)
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("n (train vectors)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    log.info("wrote %s", path)
