"""``sanny bench-compare A B``: per dataset, algorithm and recall threshold, the ratio B / A of
the best median batch and single-query QPS (frontier points), so a change is judged by one
command. A ratio above 1 means B is faster."""
from __future__ import annotations

from .results import THRESHOLDS, pareto_table


def ratios(rows_a: list[dict], rows_b: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Rows ``{dataset, algorithm, threshold, qps_batch_a, qps_batch_b, batch_ratio, ...}`` for
    every (dataset, algorithm, threshold) both runs reach; a side that does not reach it is None."""
    a = {(r["dataset"], r["algorithm"], r["threshold"]): r for r in pareto_table(rows_a, thresholds)}
    b = {(r["dataset"], r["algorithm"], r["threshold"]): r for r in pareto_table(rows_b, thresholds)}
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        ra, rb = a.get(key), b.get(key)
        row = dict(zip(("dataset", "algorithm", "threshold"), key))
        for m in ("qps_batch", "qps_single"):
            va, vb = (ra or {}).get(m), (rb or {}).get(m)
            row[f"{m}_a"], row[f"{m}_b"] = va, vb
            row[f"{m}_ratio"] = vb / va if va and vb else None
        out.append(row)
    return out


def render(table: list[dict], label_a: str = "A", label_b: str = "B") -> str:
    def f(v, spec):
        return "-" if v is None else format(v, spec)
    lines = [f"A = {label_a}", f"B = {label_b}", "",
             "| dataset | algorithm | recall ≥ | batch QPS A | batch QPS B | B/A | single QPS A | single QPS B | B/A |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['dataset']} | {r['algorithm']} | {r['threshold']:.2f} | {f(r['qps_batch_a'], ',.0f')} | "
                     f"{f(r['qps_batch_b'], ',.0f')} | {f(r['qps_batch_ratio'], '.2f')} | "
                     f"{f(r['qps_single_a'], ',.0f')} | {f(r['qps_single_b'], ',.0f')} | "
                     f"{f(r['qps_single_ratio'], '.2f')} |")
    return "\n".join(lines) + "\n"
