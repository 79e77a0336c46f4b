"""``sanny bench-churn`` output: churn.json (every measured row), and from it alone churn.md
(per cycle and per burst point as ratios to a fresh build of the same live vectors, against the
targets) and churn.png."""
from __future__ import annotations

import numpy as np

from . import docfiles

NAMES = ("churn.json", "churn.md", "churn.png")
RECALL_SLACK = 0.01   # recall@10 within 0.01 of a fresh build
QPS_CYCLE = 0.9       # batch QPS at every cycle boundary, and within 60 s of the burst
QPS_BURST = 0.5       # batch QPS right after the burst
SIZE_MAX = 1.3        # RSS and directory size
BURST_WINDOW = 60.0   # s


def _med(sp):
    return sp["median"] if isinstance(sp, dict) else sp


def _ratio(a, b):
    return a / b if a is not None and b else None


def upkeep(info: dict | None) -> dict:
    """Segments, deleted share and compaction CPU as the index reports them (its ``segments``
    summary, else summed over the workers that report segments); empty for an engine without."""
    info = info or {}
    s = info.get("segments")
    if isinstance(s, dict):
        return {"segments": s.get("segments"), "deleted_share": s.get("deleted_share"),
                "compaction_cpu_s": s.get("compaction_cpu_seconds"), "merges": s.get("merges")}
    ws = [w for w in info.get("workers") or [] if "segments" in w]
    if not ws:
        return {}
    segs = [x for w in ws for x in w["segments"]]
    rows = sum(x["rows"] for x in segs)
    return {"segments": sum(len(w["segments"]) for w in ws),
            "deleted_share": sum(x["deleted"] for x in segs) / rows if rows else 0.0,
            "compaction_cpu_s": sum((w.get("compaction") or {}).get("cpu_seconds", 0.0) for w in ws),
            "merges": sum(w.get("merges", 0) for w in ws)}


def runs(rows: list[dict]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["inner"], r["mode"]) for r in rows))


def _fresh_for(fresh: list[dict], cycle: int) -> dict | None:
    """The fresh build nearest ``cycle`` (the earlier one on a tie)."""
    return min(fresh, key=lambda f: (abs(f["cycle"] - cycle), f["cycle"])) if fresh else None


def _vs(row: dict, ref: dict, prefix: str) -> dict:
    out = {f"{prefix}recall": row["recall"], f"{prefix}d_recall": row["recall"] - ref["recall"],
           f"{prefix}qps_batch": _med(row["qps_batch"]),
           f"{prefix}qps_ratio": _ratio(_med(row["qps_batch"]), _med(ref["qps_batch"])),
           f"{prefix}rss_ratio": _ratio(row["rss_mb"], ref["rss_mb"]),
           f"{prefix}dir_ratio": _ratio(row["dir_mb"], ref["dir_mb"])}
    if "qps_single" in row and "qps_single" in ref:
        out[f"{prefix}single_ratio"] = _ratio(_med(row["qps_single"]), _med(ref["qps_single"]))
    return out


def cycle_table(rows: list[dict], inner: str, mode: str) -> list[dict]:
    """Per cycle: the after-writes and settled measurements as ratios to the nearest fresh build."""
    mine = [r for r in rows if r["inner"] == inner and r["mode"] == mode]
    fresh = [r for r in mine if r["phase"] == "fresh"]
    out = []
    for c in sorted({r["cycle"] for r in mine if r["phase"] == "settled"}):
        after = next(r for r in mine if r["phase"] == "after_writes" and r["cycle"] == c)
        settled = next(r for r in mine if r["phase"] == "settled" and r["cycle"] == c)
        ref = _fresh_for(fresh, c)
        if ref is None:
            continue
        info = settled.get("info") or {}
        out.append({"cycle": c, "fresh_cycle": ref["cycle"], "fresh_recall": ref["recall"],
                    "fresh_qps_batch": _med(ref["qps_batch"]), "fresh_rss_mb": ref["rss_mb"],
                    "fresh_dir_mb": ref["dir_mb"], "rss_mb": settled["rss_mb"], "dir_mb": settled["dir_mb"],
                    "settle_s": settled.get("settle_s"), "settle_cpu_s": settled.get("settle_cpu_s"),
                    "write_s": settled.get("write_s"), "stored_ids": info.get("stored_ids"),
                    "upkeep": upkeep(info),
                    **_vs(after, ref, "after_"), **_vs(settled, ref, "")})
    return out


def burst_table(rows: list[dict], inner: str, mode: str) -> list[dict]:
    """Burst points as ratios to the fresh build of cycle 0 (the same live rows)."""
    mine = [r for r in rows if r["inner"] == inner and r["mode"] == mode]
    ref = next((r for r in mine if r["phase"] == "fresh" and r["cycle"] == 0), None)
    pts = [r for r in mine if r["phase"] in ("burst_before", "burst", "burst_settled")]
    if ref is None:
        return []
    return [{"phase": r["phase"], "t_s": r.get("t_s"), "rss_mb": r["rss_mb"], "dir_mb": r["dir_mb"],
             "cpu_since_s": r.get("cpu_since_s"), **_vs(r, ref, "")} for r in pts]


def _worst(vals, fn=min):
    vals = [v for v in vals if v is not None]
    return fn(vals) if vals else None


def _median(vals):
    """The typical value beside the worst: one slow measurement on a shared machine sets the worst."""
    vals = [v for v in vals if v is not None]
    return float(np.median(vals)) if vals else None


def summary(rows: list[dict], inner: str, mode: str) -> dict:
    cyc, bur = cycle_table(rows, inner, mode), burst_table(rows, inner, mode)
    b = [p for p in bur if p["phase"] == "burst"]
    window = [p for p in b if p["t_s"] <= BURST_WINDOW]
    s = {"inner": inner, "mode": mode, "cycles": max((c["cycle"] for c in cyc), default=0),
         "d_recall": _worst([c[k] for c in cyc for k in ("d_recall", "after_d_recall")]),
         "qps_after": _worst([c["after_qps_ratio"] for c in cyc]), "qps_settled": _worst([c["qps_ratio"] for c in cyc]),
         "qps_settled_median": _median([c["qps_ratio"] for c in cyc]),
         "rss": _worst([c["rss_ratio"] for c in cyc], max), "dir": _worst([c["dir_ratio"] for c in cyc], max),
         "burst_t0": b[0]["qps_ratio"] if b else None,
         "burst_window": window[-1]["qps_ratio"] if window else None,
         "burst_window_t": window[-1]["t_s"] if window else None,
         "burst_window_median": _median([p["qps_ratio"] for p in window]),
         "burst_d_recall": _worst([p["d_recall"] for p in b]),
         "burst_rss": _worst([p["rss_ratio"] for p in b], max),
         "control": next((p["qps_ratio"] for p in bur if p["phase"] == "burst_before"), None)}
    checks = {"d_recall": lambda v: v >= -RECALL_SLACK, "burst_d_recall": lambda v: v >= -RECALL_SLACK,
              "qps_after": lambda v: v >= QPS_CYCLE, "qps_settled": lambda v: v >= QPS_CYCLE,
              "rss": lambda v: v <= SIZE_MAX, "dir": lambda v: v <= SIZE_MAX, "burst_rss": lambda v: v <= SIZE_MAX,
              "burst_t0": lambda v: v >= QPS_BURST, "burst_window": lambda v: v >= QPS_CYCLE}
    s["met"] = {k: (None if s[k] is None else bool(f(s[k]))) for k, f in checks.items()}
    return s


def _f(v, fmt: str, mark: bool | None = None) -> str:
    if v is None:
        return "-"
    return format(v, fmt) + ("" if mark is None else (" ✓" if mark else " ✗"))


def _upkeep_cells(u: dict) -> str:
    if not u:
        return "- | -"
    return f"{_f(u['segments'], 'd')} ({_f(u['deleted_share'], '.1%')}) | {_f(u['compaction_cpu_s'], '.1f')}"


def markdown(doc: dict) -> str:
    s, rows = doc["settings"], doc["rows"]
    p = doc.get("provenance", {})
    out = [f"# Churn: {doc['dataset']} ({s['n']} live of dim {doc['dim']}, {doc['metric']}), {doc['cpus']} CPUs", "",
           f"Each cycle deletes {s['share']:.0%} of the live vectors, inserts as many held-back rows and upserts "
           f"{s['share']:.0%} of the live keys with unchanged vectors (batches of {s['batch']}). Recall@{s['k']} on "
           f"{s['queries']} test queries against exact search over the live set; batch QPS: all of them in one "
           f"call, {s['repeats']} repeat(s) after an untimed one, median; single QPS: the first {s['singles']} one per call. `after` is "
           "measured right after the cycle's writes; `settled` after `wait_compaction` (where the engine has it) "
           "and a save. Every run (cycles, burst) has its own process; RSS is the index's share (that process's "
           "growth since the index was made, empty, plus every worker process), the directory the index's plus the workers'. `settle CPU` is every process's CPU while waiting "
           "to settle; `compaction CPU` the workers' own count so far, where they report segments. Ratios are to a fresh build of the same live "
           f"vectors in a child process, settled the same way and checkpointed twice, so its directory holds the two snapshots "
           "every checkpointed index keeps (the newest and recovery's fallback) as the churned one does "
           f"(every {s['fresh_every']} cycles; each cycle uses the nearest). Targets: "
           f"recall within {RECALL_SLACK} of fresh, batch QPS >= {QPS_CYCLE}x at every cycle and within "
           f"{BURST_WINDOW:.0f} s of the burst, >= {QPS_BURST}x right after it, RSS and directory <= {SIZE_MAX}x "
           "(✓ met, ✗ missed).", "",
           f"Commit `{p.get('commit')}`{' (dirty)' if p.get('dirty') else ''}, dataset `{p.get('dataset_file')}` "
           f"sha256 `{p.get('dataset_sha256')}`, {p.get('cpu', {}).get('model')}, {p.get('date')}.", "",
           "## Summary (worst over the cycles, and the median)", "",
           "`control`: batch QPS of the burst's index before the burst (the same rows as cycle 0, freshly built in "
           "its own process) over cycle 0's fresh build: how far two measurements of equal indexes differ on this "
           "machine at that moment.", "",
           "| inner | mode | cycles | Δrecall | QPS after | QPS settled | RSS | dir | burst QPS t=0 | burst QPS by 60 s | "
           "burst Δrecall | burst RSS | control |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for inner, mode in runs(rows):
        m = summary(rows, inner, mode)
        ok = m["met"]
        win = f" (t={m['burst_window_t']:.0f} s)" if m["burst_window_t"] is not None else ""
        out.append(f"| {inner} | {mode} | {m['cycles']} | {_f(m['d_recall'], '+.4f', ok['d_recall'])} | "
                   f"{_f(m['qps_after'], '.2f', ok['qps_after'])} | {_f(m['qps_settled'], '.2f', ok['qps_settled'])}"
                   f" (median {_f(m['qps_settled_median'], '.2f')}) | "
                   f"{_f(m['rss'], '.2f', ok['rss'])} | {_f(m['dir'], '.2f', ok['dir'])} | "
                   f"{_f(m['burst_t0'], '.2f', ok['burst_t0'])} | {_f(m['burst_window'], '.2f', ok['burst_window'])}{win}"
                   f" (median {_f(m['burst_window_median'], '.2f')}) | "
                   f"{_f(m['burst_d_recall'], '+.4f', ok['burst_d_recall'])} | {_f(m['burst_rss'], '.2f', ok['burst_rss'])} | "
                   f"{_f(m['control'], '.2f')} |")
    for inner, mode in runs(rows):
        out += ["", f"## {inner} / {mode}: cycles", "",
                "| cycle | fresh @ | recall fresh | recall after / settled | batch QPS fresh | QPS ratio after / settled | "
                "single ratio after / settled | RSS MB (ratio) | dir MB (ratio) | write s | settle s | settle CPU s | stored ids | "
                "segments (deleted share of sealed rows) | compaction CPU s |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in cycle_table(rows, inner, mode):
            out.append(f"| {c['cycle']} | {c['fresh_cycle']} | {c['fresh_recall']:.4f} | {c['after_recall']:.4f} / "
                       f"{c['recall']:.4f} | {c['fresh_qps_batch']:,.0f} | {_f(c['after_qps_ratio'], '.2f')} / "
                       f"{_f(c['qps_ratio'], '.2f')} | {_f(c.get('after_single_ratio'), '.2f')} / "
                       f"{_f(c.get('single_ratio'), '.2f')} | {c['rss_mb']:.0f} ({_f(c['rss_ratio'], '.2f')}) | "
                       f"{c['dir_mb']:.0f} ({_f(c['dir_ratio'], '.2f')}) | {_f(c['write_s'], '.2f')} | "
                       f"{_f(c['settle_s'], '.2f')} | {_f(c['settle_cpu_s'], '.2f')} | {_f(c['stored_ids'], 'd')} | "
                       f"{_upkeep_cells(c['upkeep'])} |")
        bur = burst_table(rows, inner, mode)
        if bur:
            what = ("each a real change: another row's vector, then its own again"
                    if s.get("burst_vectors") == "swap" else "unchanged vectors")
            out += ["", f"### {inner} / {mode}: burst of {s['burst']:g} x {s['n']} upserts ({what})", "",
                    f"A point every {s['step']:g} s for {s['settle']:g} s after the last upsert (`t`: when it started; "
                    "ticks missed while measuring are skipped), each an untimed batch, one timed batch and up to 100 "
                    "single queries; no maintenance call. `burst_settled`: after `wait_compaction`, where the engine "
                    "has it. Directory sizes here are unsaved (WAL included).", "",
                    "| point | t s | recall (Δ vs fresh) | batch QPS (ratio) | single ratio | RSS MB (ratio) | dir MB (ratio) |",
                    "|---|---:|---:|---:|---:|---:|---:|"]
            w = next((r for r in rows if r["inner"] == inner and r["mode"] == mode and "upserts" in r), None)
            if w:
                out[-2:-2] = [f"The burst's {w['upserts']:,} upserts took {w['write_s']:.1f} s "
                              f"({w['upserts'] / w['write_s']:,.0f} durable upserts/s, batches of {s['batch']}).", ""]
            for b in bur:
                out.append(f"| {b['phase']} | {_f(b['t_s'], '.1f')} | {b['recall']:.4f} ({b['d_recall']:+.4f}) | "
                           f"{b['qps_batch']:,.0f} ({_f(b['qps_ratio'], '.2f')}) | {_f(b.get('single_ratio'), '.2f')} | "
                           f"{b['rss_mb']:.0f} ({_f(b['rss_ratio'], '.2f')}) | {b['dir_mb']:.0f} ({_f(b['dir_ratio'], '.2f')}) |")
    if doc.get("notes"):
        out += ["", "Notes: " + "; ".join(doc["notes"])]
    argv = p.get("argv")
    if argv:
        out += ["", "```bash", "sanny " + " ".join(argv), "```"]
    return "\n".join(out) + "\n"


def plot(doc: dict, path: str) -> None:
    """Recall, batch QPS ratio, RSS and directory per cycle (fresh builds as markers), and the
    burst timeline's batch QPS ratio."""
    from .plot import figure

    rows = doc["rows"]
    fig = figure(figsize=(15, 8), layout="constrained")
    ax = fig.subplots(2, 3).ravel()
    for i, (inner, mode) in enumerate(runs(rows)):
        c, lab = f"C{i % 10}", f"{inner}/{mode}"
        cyc = cycle_table(rows, inner, mode)
        x = [r["cycle"] for r in cyc]
        fresh = [r for r in rows if r["inner"] == inner and r["mode"] == mode and r["phase"] == "fresh"]
        fx = [r["cycle"] for r in fresh]
        ax[0].plot(x, [r["recall"] for r in cyc], "o-", color=c, ms=3, label=lab)
        ax[0].plot(x, [r["after_recall"] for r in cyc], ":", color=c)
        ax[0].plot(fx, [r["recall"] for r in fresh], "s", color=c, mfc="none")
        ax[1].plot(x, [r["qps_ratio"] for r in cyc], "o-", color=c, ms=3, label=lab)
        ax[1].plot(x, [r["after_qps_ratio"] for r in cyc], ":", color=c)
        ax[2].plot(x, [r.get("single_ratio") for r in cyc], "o-", color=c, ms=3, label=lab)
        ax[3].plot(x, [r["rss_mb"] for r in cyc], "o-", color=c, ms=3, label=lab)
        ax[3].plot(fx, [r["rss_mb"] for r in fresh], "s", color=c, mfc="none")
        ax[4].plot(x, [r["dir_mb"] for r in cyc], "o-", color=c, ms=3, label=lab)
        ax[4].plot(fx, [r["dir_mb"] for r in fresh], "s", color=c, mfc="none")
        b = [p for p in burst_table(rows, inner, mode) if p["phase"] == "burst"]
        ax[5].plot([p["t_s"] for p in b], [p["qps_ratio"] for p in b], "o-", color=c, ms=3, label=lab)
    titles = ("recall@k (solid: settled, dotted: after writes, □ fresh)", "batch QPS / fresh (dotted: after writes)",
              "single-query QPS / fresh (settled)", "RSS MB, index share (□ fresh)", "directory MB (□ fresh)",
              "burst: batch QPS / fresh vs seconds after it")
    for a, t in zip(ax, titles):
        a.set_title(t, fontsize="medium")
        a.grid(alpha=0.3)
        a.set_xlabel("seconds after the burst" if a is ax[5] else "cycle")
    for a, y in ((ax[1], QPS_CYCLE), (ax[2], QPS_CYCLE), (ax[5], QPS_CYCLE), (ax[5], QPS_BURST)):
        a.axhline(y, color="grey", ls="--", lw=0.8)
    if rows:
        ax[0].legend(fontsize="small")
    s = doc["settings"]
    fig.suptitle(f"{doc['dataset']}: {s['n']} live, {s['share']:.0%} delete / insert / upsert per cycle, {doc['cpus']} CPUs")
    fig.savefig(path, dpi=100)


def write_json(doc: dict, out_dir: str) -> str:
    return docfiles.write_json(doc, out_dir, NAMES[0])


def render(out_dir: str) -> dict:
    """churn.md and churn.png from churn.json in ``out_dir`` (the only source of their numbers)."""
    return docfiles.render(out_dir, NAMES, markdown, plot)
