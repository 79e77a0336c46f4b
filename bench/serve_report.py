"""``sanny bench-serve`` output: serve.json (rows), serve.md (table) and serve.png (QPS bars)."""
from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)


def add_ratios(rows: list[dict]) -> None:
    """``ratio``: QPS over the in-process engine's (local re-rank) with the same clients and request size."""
    base = {(r["clients"], r["request"]): r["qps"] for r in rows if (r["mode"], r["rerank"]) == ("inproc", "local")}
    for r in rows:
        b = base.get((r["clients"], r["request"]))
        r["ratio"] = r["qps"] / b if b and r["qps"] is not None else None


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def markdown(rows: list[dict]) -> str:
    r0 = rows[0]
    params = ", ".join(f"{k}={r0[k]}" for k in ("S", "T", "epsilon", "pca_dim", "k") if k in r0)
    builds = dict.fromkeys((r["rerank"], r["built"], r["build_s"]) for r in rows if r.get("build_s"))
    out = [f"# Service load: {r0['dataset']} (n={r0['n']}, dim={r0['dim']}), {params}, {r0['cpus']} CPUs", "",
           "QPS counts queries (a request of 100 queries counts 100); latency is per request. "
           "`x in-process` divides by the in-process engine (Index.search_ids from as many threads, "
           "no gRPC; local re-rank) with the same clients and request size. Recall is over the test "
           "queries answered in the phase (how many, when not all). RSS (VmRSS) is read after each "
           "phase; `other` is the rest of the coordinator's process tree (Ray's own processes).", "",
           "| mode | re-rank | clients | request | QPS | x in-process | p50 ms | p99 ms | recall | "
           "coordinator RSS MB | worker RSS MB | other RSS MB | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        recall = _f(r["recall"], ".4f") + (f" ({r['answered']}/{r['test_queries']})"
                                           if r["answered"] < r.get("test_queries", 0) else "")
        workers = " / ".join(_f(w, ".0f") for w in r.get("rss_workers_mb") or []) or "-"
        out.append(f"| {r['mode']} | {r['rerank']} | {r['clients']} | {r['request']} | {_f(r['qps'], '.1f')} | "
                   f"{_f(r.get('ratio'), '.2f')} | {_f(r['p50_ms'], '.2f')} | {_f(r['p99_ms'], '.2f')} | "
                   f"{recall} | {_f(r.get('rss_coordinator_mb'), '.0f')} | {workers} | "
                   f"{_f(r.get('rss_other_mb'), '.0f')} | {r['errors']} |")
    out += ["", "Index builds: " + "; ".join(f"{rr} re-rank, {what}: {s:.1f} s" for rr, what, s in builds), ""]
    return "\n".join(out)


def plot(rows: list[dict], path: str) -> None:
    """One panel per request size; groups of bars by clients, one bar per mode and re-rank."""
    from .plot import figure

    sizes = sorted({r["request"] for r in rows})
    series = list(dict.fromkeys((r["mode"], r["rerank"]) for r in rows))
    clients = sorted({r["clients"] for r in rows})
    modes = list(dict.fromkeys(m for m, _ in series))
    fig = figure(figsize=(6 * len(sizes), 4.5), layout="constrained")
    width = 0.8 / max(1, len(series))
    for p, size in enumerate(sizes):
        ax = fig.add_subplot(1, len(sizes), p + 1)
        for i, (mode, rerank) in enumerate(series):
            qps = {r["clients"]: r["qps"] or 0 for r in rows
                   if (r["mode"], r["rerank"], r["request"]) == (mode, rerank, size)}
            xs = [c_i + (i - (len(series) - 1) / 2) * width for c_i in range(len(clients))]
            ax.bar(xs, [qps.get(c, 0) for c in clients], width, label=f"{mode} ({rerank} re-rank)",
                   color=f"C{modes.index(mode) % 10}", hatch="//" if rerank == "distributed" else None)
        ax.set_xticks(range(len(clients)), [f"{c} client{'s' * (c > 1)}" for c in clients])
        ax.set_ylabel("queries / s")
        ax.set_title(f"requests of {size} quer{'y' if size == 1 else 'ies'}")
        ax.grid(axis="y", alpha=0.3)
    fig.axes[-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"{rows[0]['dataset']}: service QPS by topology")
    fig.savefig(path, dpi=110)


def write_all(rows: list[dict], out_dir: str) -> None:
    with open(os.path.join(out_dir, "serve.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(out_dir, "serve.md"), "w") as f:
        f.write(markdown(rows))
    plot(rows, os.path.join(out_dir, "serve.png"))
    log.info("wrote serve.json, serve.md, serve.png to %s", out_dir)
