"""Generated ratios for the report: Sanny against the best peer, and its split (S >= 2) against
S = 1, at each recall threshold, batch and single-query, from one result directory's rows
(same run). The spread beside each ratio pairs the worse end of one with the better end of the
other (min/max over the repeats), so a ratio whose range straddles a target says so."""
from __future__ import annotations

from . import results
from .results import params_str

THRESHOLDS = (0.95, 0.99)
SANNY = "sanny"


def best(rows: list[dict], pred, threshold: float, key: str) -> dict | None:
    """The fastest row by ``key`` among those matching ``pred`` that reach ``threshold``."""
    return results.best([r for r in rows if pred(r) and r["recall"] >= threshold], key)


def _ratio(a: dict | None, b: dict | None, key: str) -> str:
    if a is None or b is None or not b.get(key):
        return "-"
    lo = (a.get(f"{key}_min") or a[key]) / (b.get(f"{key}_max") or b[key])
    hi = (a.get(f"{key}_max") or a[key]) / (b.get(f"{key}_min") or b[key])
    return f"{a[key] / b[key]:.2f}× ({lo:.2f}–{hi:.2f})"


def _who(r: dict | None) -> str:
    if r is None:
        return "-"
    return f"{r['algorithm']} {params_str(r['build_params'])} / {params_str(r['query_params'])}"


def comparisons(rows: list[dict], thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: the ratios and the settings behind them (None where a side is missing)."""
    def sanny(r):
        return r["algorithm"] == SANNY

    def peer(r):
        return r["algorithm"] not in (SANNY, "flat")  # the exact scan is no peer

    def split(r):
        return sanny(r) and r["build_params"].get("S", 1) >= 2

    def one(r):
        return sanny(r) and r["build_params"].get("S", 1) == 1

    out = []
    for t in thresholds:
        row = {"threshold": t}
        for key in ("qps_batch", "qps_single"):
            s, p = best(rows, sanny, t, key), best(rows, peer, t, key)
            sp, so = best(rows, split, t, key), best(rows, one, t, key)
            row[key] = {"sanny": s, "peer": p, "vs_peer": _ratio(s, p, key),
                        "split": sp, "one": so, "split_vs_one": _ratio(sp, so, key)}
        out.append(row)
    return out


def split_profile(profile: dict | None) -> str:
    """Where an S>=2 single query's time goes, from a stage profile (``stage_profile``): "" if none."""
    rows = (profile or {}).get("rows", [])
    one = next((r["stages_us"] for r in rows if r["setting"].startswith("S=1")), None)
    split = next((r for r in rows if not r["setting"].startswith("S=1")), None)
    if split is None or one is None:
        return ""
    st = split["stages_us"]
    searches = [v for name, v in st.items() if name.startswith("worker ")]
    out = (f"; the single-query profile below: {split['setting']}'s {len(searches)} subspace searches take "
           f"{sum(searches):.0f} µs of its {st['search_ids (whole call)']:.0f} µs, the union and exact re-rank "
           f"{st.get('union + exact re-rank', 0):.0f} µs, against {one['search_ids (whole call)']:.0f} µs for "
           f"{rows[0]['setting']}")
    if "search_ids, subspaces overlapped" in st and "search_ids, subspaces in turn" in st:
        ov, turn = st["search_ids, subspaces overlapped"], st["search_ids, subspaces in turn"]
        out += (f"; overlapping its searches on the other core takes {ov:.0f} µs against {turn:.0f} µs in turn "
                + ("(the hand-off costs more than a search saves, so the engine runs them in turn)" if ov >= turn
                   else "(the engine overlaps them while that holds)"))
    return out


def markdown(rows: list[dict], thresholds=THRESHOLDS, profile: dict | None = None) -> list[str]:
    """The table and one generated sentence on where the split stands (``profile``: the stage
    profile that follows it, whose figures the sentence cites)."""
    comp = comparisons(rows, thresholds)
    if not any(c["qps_batch"]["sanny"] for c in comp):
        return []
    out = ["### Sanny against the best peer, and the split against S=1", "",
           "| recall ≥ | mode | Sanny / best peer (range) | best peer | best S≥2 / best S=1 (range) | best S≥2 |",
           "|---|---|---|---|---|---|"]
    for c in comp:
        for key, mode in (("qps_batch", "batch"), ("qps_single", "single")):
            x = c[key]
            out.append(f"| {c['threshold']:.2f} | {mode} | {x['vs_peer']} | {_who(x['peer'])} | "
                       f"{x['split_vs_one']} | {_who(x['split'])} |")
    out.append("")
    parts = [f"{c[k]['split_vs_one'].split(' ')[0]} {m} at {c['threshold']:.2f}"
             for c in comp for k, m in (("qps_batch", "batch"), ("qps_single", "single"))
             if c[k]["split"] is not None and c[k]["one"] is not None]
    if parts:
        loses = any(c[k]["split"]["qps_" + m] < c[k]["one"]["qps_" + m] for c in comp
                    for k, m in (("qps_batch", "batch"), ("qps_single", "single"))
                    if c[k]["split"] is not None and c[k]["one"] is not None)
        why = split_profile(profile)
        verdict = ("the split still costs speed on one machine (more graph searches and a wider "
                   f"re-rank than one graph needs{why})" if loses else "the split matches or beats one graph here")
        out += [f"Best S≥2 against S=1 (QPS ratio): {', '.join(parts)}: {verdict}. It earns its place "
                "elsewhere: a worker holds 1/S of the graph memory, `keep_vectors = false` keeps the "
                "full vectors only on the workers, and the R × S grid spreads subspaces over machines.", ""]
    return out
