"""Does the split earn its place? Best S >= 2 vs best S = 1 Sanny setting at each recall
threshold, batch and single-query, from one results directory (``rows.jsonl``).

``python -m experiments.split_check bench/results/minilm`` prints a Markdown table."""
from __future__ import annotations

import json
import os
import sys

from sanny.bench import results


def best(rows: list[dict], pred, threshold: float, key: str) -> dict | None:
    """The fastest row by ``key`` among those matching ``pred`` that reach ``threshold``."""
    return results.best([r for r in rows if pred(r) and r["recall"] >= threshold], key)


def table(path: str, thresholds=(0.90, 0.95, 0.99)) -> str:
    with open(os.path.join(path, "rows.jsonl")) as f:
        rows = [r for r in map(json.loads, f) if r["algorithm"] == "sanny"]
    out = ["| recall >= | mode | best S=1 QPS (setting) | best S>=2 QPS (setting) | ratio |", "|---|---|---|---|---|"]
    for t in thresholds:
        for key in ("qps_batch", "qps_single"):
            one = best(rows, lambda r: r["build_params"].get("S", 1) == 1, t, key)
            many = best(rows, lambda r: r["build_params"].get("S", 1) >= 2, t, key)
            cell = lambda r: f"{r[key]:,.0f} ({r['build_params']} {r['query_params']})" if r else "-"  # noqa: E731
            ratio = f"{many[key] / one[key]:.2f}x" if one and many else "-"
            out.append(f"| {t:.2f} | {key[4:]} | {cell(one)} | {cell(many)} | {ratio} |")
    return "\n".join(out)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(f"\n{p}\n\n{table(p)}")
