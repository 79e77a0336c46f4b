"""Result rows to ``results.json`` / ``results.csv`` and the Pareto summary (``pareto.md``)."""
from __future__ import annotations

import csv
import json
import logging
import os

log = logging.getLogger(__name__)

FIELDS = ("dataset", "algorithm", "build_params", "query_params", "recall", "qps_batch",
          "qps_single", "p50_ms", "p99_ms", "single_n", "build_s", "memory_bytes", "build_peak_bytes",
          "index_bytes", "n", "dim", "k", "queries", "cpus")
THRESHOLDS = (0.90, 0.95, 0.99)


def write_json(rows: list[dict], path: str) -> None:
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)


def read_json(path: str) -> list[dict]:
    with open(path) as f:
        return json.load(f)


def write_csv(rows: list[dict], path: str) -> None:
    extra = sorted({k for r in rows for k in r} - set(FIELDS))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS) + extra)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in r.items()})


def params_str(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "-"


def _best(rows: list[dict], key: str) -> dict | None:
    rows = [r for r in rows if r.get(key) is not None]
    return max(rows, key=lambda r: r[key]) if rows else None


def pareto_table(rows: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Per dataset, algorithm and recall threshold: the best batch and single-query QPS among
    rows reaching the threshold, the parameters that achieved them, and the build time and
    memory of the batch winner's build. Thresholds no row reaches are left out."""
    table = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        for algo in dict.fromkeys(r["algorithm"] for r in rows if r["dataset"] == ds):
            mine = [r for r in rows if r["dataset"] == ds and r["algorithm"] == algo]
            for t in thresholds:
                ok = [r for r in mine if r["recall"] >= t]
                b, s = _best(ok, "qps_batch"), _best(ok, "qps_single")
                if b is None:
                    continue
                table.append({
                    "dataset": ds, "algorithm": algo, "threshold": t,
                    "qps_batch": b["qps_batch"], "recall_batch": b["recall"],
                    "params_batch": f"{params_str(b['build_params'])} / {params_str(b['query_params'])}",
                    "qps_single": s["qps_single"] if s else None,
                    "params_single": f"{params_str(s['build_params'])} / {params_str(s['query_params'])}" if s else "",
                    "build_s": b["build_s"], "memory_bytes": b["memory_bytes"], "index_bytes": b.get("index_bytes"),
                })
    return table


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _mb(v) -> str:
    return "-" if v is None else f"{v / 2**20:.1f}"


def render_markdown(table: list[dict]) -> str:
    """One markdown table per dataset."""
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in table):
        out += [f"### {ds}", "",
                "| algorithm | recall ≥ | batch QPS | recall | params (batch) | single QPS | params (single) "
                "| build s | RSS MB | index MB |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in table if r["dataset"] == ds):
            out.append(f"| {r['algorithm']} | {r['threshold']:.2f} | {_fmt(r['qps_batch'], ',.0f')} | "
                       f"{r['recall_batch']:.4f} | {r['params_batch']} | {_fmt(r['qps_single'], ',.0f')} | "
                       f"{r['params_single']} | {r['build_s']:.2f} | {_mb(r['memory_bytes'])} | "
                       f"{_mb(r['index_bytes'])} |")
        out.append("")
    out.append("Build time and memory are those of the batch-QPS winner's build. RSS MB is the process's "
               "resident-memory growth across the build (approximate); index MB is the saved index's size "
               "on disk (sanny, ngt) or computed from its structures (faiss).")
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
