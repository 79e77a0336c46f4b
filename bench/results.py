"""Result rows to ``results.json`` / ``results.csv`` and the Pareto summary (``pareto.md``).

QPS and latency keys hold the median over the timed repeats (``_min`` / ``_max`` beside them),
so the frontier and every "best" below rank settings by their medians.
"""
from __future__ import annotations

import csv
import json
import logging
import os

log = logging.getLogger(__name__)

FIELDS = ("dataset", "algorithm", "build_params", "query_params", "recall", "qps_batch", "qps_batch_min",
          "qps_batch_max", "qps_single", "qps_single_min", "qps_single_max", "p50_ms", "p50_ms_min",
          "p50_ms_max", "p99_ms", "p99_ms_min", "p99_ms_max", "single_n", "repeats", "build_s",
          "memory_bytes", "build_peak_bytes", "index_bytes", "n", "dim", "k", "queries", "cpus")
THRESHOLDS = (0.90, 0.95, 0.99)


def write_json(rows: list[dict], path: str) -> None:
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)


def read_json(path: str) -> list[dict]:
    """Rows of a ``results.json`` (or of the ``results.json`` inside a directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path) as f:
        data = json.load(f)
    return data["rows"] if isinstance(data, dict) else data


def write_csv(rows: list[dict], path: str) -> None:
    extra = sorted({k for r in rows for k in r} - set(FIELDS))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS) + extra)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                        for k, v in r.items()})


def params_str(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "-"


def best(rows: list[dict], key: str) -> dict | None:
    """The row with the largest ``key`` (rows without it ignored), or None."""
    rows = [r for r in rows if r.get(key) is not None]
    return max(rows, key=lambda r: r[key]) if rows else None


def settings_count(rows: list[dict], dataset: str, algorithm: str) -> tuple[int, int]:
    """``(query settings, build configurations)`` measured for one algorithm on one dataset."""
    mine = [r for r in rows if r["dataset"] == dataset and r["algorithm"] == algorithm]
    return len(mine), len({json.dumps(r["build_params"], sort_keys=True) for r in mine})


def pareto_table(rows: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Per dataset, algorithm and recall threshold: the best median batch and single-query QPS
    among rows reaching the threshold (with their min / max over repeats), the parameters that
    achieved them, the build time and memory of the batch winner's build, and how many
    settings the algorithm had. Thresholds no row reaches are left out."""
    table = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for algo in dict.fromkeys(r["algorithm"] for r in rows if r["dataset"] == ds):
            mine = [r for r in rows if r["dataset"] == ds and r["algorithm"] == algo]
            settings, builds = settings_count(rows, ds, algo)
            for t in thresholds:
                ok = [r for r in mine if r["recall"] >= t]
                b, s = best(ok, "qps_batch"), best(ok, "qps_single")
                if b is None:
                    continue
                table.append({
                    "dataset": ds, "algorithm": algo, "threshold": t,
                    "qps_batch": b["qps_batch"], "qps_batch_min": b.get("qps_batch_min"),
                    "qps_batch_max": b.get("qps_batch_max"), "recall_batch": b["recall"],
                    "params_batch": f"{params_str(b['build_params'])} / {params_str(b['query_params'])}",
                    "qps_single": s["qps_single"] if s else None,
                    "qps_single_min": s.get("qps_single_min") if s else None,
                    "qps_single_max": s.get("qps_single_max") if s else None,
                    "p99_ms": s.get("p99_ms") if s else None,
                    "params_single": f"{params_str(s['build_params'])} / {params_str(s['query_params'])}" if s else "",
                    "build_s": b["build_s"], "memory_bytes": b["memory_bytes"], "index_bytes": b.get("index_bytes"),
                    "settings": settings, "builds": builds,
                })
    return table


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _mb(v) -> str:
    return "-" if v is None else f"{v / 2**20:.1f}"


def qps_cell(r: dict, key: str) -> str:
    """``median (min–max)`` of a QPS key."""
    if r.get(key) is None:
        return "-"
    lo, hi = r.get(f"{key}_min"), r.get(f"{key}_max")
    spread = f" ({lo:,.0f}–{hi:,.0f})" if lo is not None and hi is not None else ""
    return f"{r[key]:,.0f}{spread}"


def render_markdown(table: list[dict]) -> str:
    """One markdown table per dataset."""
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in table):
        out += [f"### {ds}", "",
                "| algorithm | recall ≥ | batch QPS median (min–max) | recall | params (batch) "
                "| single QPS median (min–max) | p99 ms | params (single) | build s | RSS MB | index MB "
                "| settings (builds) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in table if r["dataset"] == ds):
            out.append(f"| {r['algorithm']} | {r['threshold']:.2f} | {qps_cell(r, 'qps_batch')} | "
                       f"{r['recall_batch']:.4f} | {r['params_batch']} | {qps_cell(r, 'qps_single')} | "
                       f"{_fmt(r.get('p99_ms'), '.2f')} | {r['params_single']} | {r['build_s']:.2f} | "
                       f"{_mb(r['memory_bytes'])} | {_mb(r['index_bytes'])} | "
                       f"{r.get('settings', '-')} ({r.get('builds', '-')}) |")
        out.append("")
    out.append("QPS: median over the timed repeats, (min–max) beside it; the best median among the "
               "settings reaching the recall. Build time and memory are those of the batch-QPS winner's "
               "build. RSS MB is the process's resident-memory growth across the build (approximate); "
               "index MB is the saved index's size on disk (sanny, ngt) or computed from its structures "
               "(faiss, usearch). Settings: query settings measured (build configurations).")
    return "\n".join(out) + "\n"


def pareto_markdown(rows: list[dict], thresholds=THRESHOLDS) -> str:
    return render_markdown(pareto_table(rows, thresholds))


def write_all(rows: list[dict], out_dir: str, thresholds=THRESHOLDS) -> str:
    """results.json, results.csv and pareto.md in ``out_dir``; returns the markdown."""
    os.makedirs(out_dir, exist_ok=True)
    write_json(rows, os.path.join(out_dir, "results.json"))
    write_csv(rows, os.path.join(out_dir, "results.csv"))
    md = pareto_markdown(rows, thresholds)
    with open(os.path.join(out_dir, "pareto.md"), "w") as f:
        f.write(md)
    log.info("wrote %d rows to %s", len(rows), out_dir)
    return md
