"""Before / after of two ``sanny bench-churn`` result directories (an older engine and this one,
same machine, same command): each target's worst value side by side, and the last cycle's
absolute numbers. ``sanny bench-churn --compare BEFORE --out AFTER`` writes AFTER/churn-compare.md."""
from __future__ import annotations

import json
import os

from . import churn_report as cr

NAME = "churn-compare.md"
# (summary key, label, format, target text)
TARGETS = (("d_recall", "worst recall - fresh (cycles)", "+.4f", f">= -{cr.RECALL_SLACK}"),
           ("qps_after", "min batch QPS / fresh, after writes", ".2f", f">= {cr.QPS_CYCLE}"),
           ("qps_settled", "min batch QPS / fresh, settled", ".2f", f">= {cr.QPS_CYCLE}"),
           ("rss", "max RSS / fresh", ".2f", f"<= {cr.SIZE_MAX}"),
           ("dir", "max directory / fresh", ".2f", f"<= {cr.SIZE_MAX}"),
           ("burst_t0", "batch QPS / fresh right after the burst", ".2f", f">= {cr.QPS_BURST}"),
           ("burst_window", f"batch QPS / fresh, last point <= {cr.BURST_WINDOW:.0f} s after the burst", ".2f", f">= {cr.QPS_CYCLE}"),
           ("burst_d_recall", "worst recall - fresh after the burst", "+.4f", f">= -{cr.RECALL_SLACK}"),
           ("burst_rss", "max RSS / fresh after the burst", ".2f", f"<= {cr.SIZE_MAX}"),
           ("control", "control: an equal fresh index's batch QPS / fresh", ".2f", "1 (noise)"))
LAST = (("qps_batch", "batch QPS", ",.0f"), ("rss_mb", "RSS MB", ".0f"), ("dir_mb", "directory MB", ".0f"),
        ("stored_ids", "stored ids (live: N)", ",d"), ("write_s", "all cycles: write seconds", ".1f"),
        ("settle_cpu_s", "all cycles: CPU s while settling", ".1f"),
        ("burst_rate", "burst: durable upserts / s", ",.0f"))


def last_cycle(rows: list[dict], inner: str, mode: str) -> dict:
    """The last cycle's settled numbers (batch QPS as its median)."""
    settled = [r for r in rows if r["inner"] == inner and r["mode"] == mode and r["phase"] == "settled"]
    if not settled:
        return {}
    r = max(settled, key=lambda x: x["cycle"])
    w = next((x for x in rows if x["inner"] == inner and x["mode"] == mode and "upserts" in x), None)
    return {"cycle": r["cycle"], "qps_batch": r["qps_batch"]["median"], "rss_mb": r["rss_mb"], "dir_mb": r["dir_mb"],
            "stored_ids": (r.get("info") or {}).get("stored_ids"),
            "burst_rate": w["upserts"] / w["write_s"] if w else None,
            "write_s": sum(x.get("write_s") or 0.0 for x in settled if x["cycle"] > 0),
            "settle_cpu_s": sum(x.get("settle_cpu_s") or 0.0 for x in settled)}


def _load(d: str) -> dict:
    with open(os.path.join(d, cr.NAMES[0])) as f:
        return json.load(f)


def markdown(before: dict, after: dict, names: tuple[str, str]) -> str:
    pb, pa = before.get("provenance", {}), after.get("provenance", {})
    out = [f"# Churn before / after: {after['dataset']}", "",
           f"Before: `{names[0]}`, commit `{pb.get('commit')}`, {pb.get('date')}. After: `{names[1]}`, commit "
           f"`{pa.get('commit')}`, {pa.get('date')}. Same command and settings unless noted; every ratio is to a "
           "fresh build measured in the same run.", ""]
    if before["settings"] != after["settings"]:
        diff = {k: (before["settings"].get(k), v) for k, v in after["settings"].items() if before["settings"].get(k) != v}
        out += [f"Settings differ (before, after): {diff}", ""]
    for inner, mode in cr.runs(after["rows"]):
        if (inner, mode) not in cr.runs(before["rows"]):
            continue
        sb, sa = cr.summary(before["rows"], inner, mode), cr.summary(after["rows"], inner, mode)
        out += [f"## {inner} / {mode} ({sa['cycles']} cycles)", "", "| | before | after | target |", "|---|---:|---:|---|"]
        for key, label, fmt, target in TARGETS:
            out.append(f"| {label} | {cr._f(sb[key], fmt, sb['met'].get(key))} | {cr._f(sa[key], fmt, sa['met'].get(key))} "
                       f"| {target} |")
        lb, la = last_cycle(before["rows"], inner, mode), last_cycle(after["rows"], inner, mode)
        for key, label, fmt in LAST:
            out.append(f"| {'' if label.startswith(('all', 'burst')) else 'last cycle: '}{label} | {cr._f(lb.get(key), fmt)} | {cr._f(la.get(key), fmt)} | |")
        out.append("")
    return "\n".join(out)


def write(before_dir: str, after_dir: str) -> str:
    """AFTER/churn-compare.md from the two churn.json files; returns its text."""
    names = tuple(os.path.basename(os.path.normpath(d)) for d in (before_dir, after_dir))
    md = markdown(_load(before_dir), _load(after_dir), names)
    with open(os.path.join(after_dir, NAME), "w") as f:
        f.write(md)
    return md
