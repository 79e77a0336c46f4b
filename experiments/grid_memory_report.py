"""``python -m experiments.grid_memory`` output: grid-memory.json (rows + provenance),
grid-memory.md (table) and grid-memory.png (VmRSS per process, a line at 0.35x embedded)."""
from __future__ import annotations

import json
import os


def markdown(rows: list[dict]) -> str:
    r0 = rows[0]
    out = [f"# Grid memory: {r0['dataset']} (n={r0['n']}, dim={r0['dim']}), R={r0['R']} x S={r0['S']} x F=1, "
           f"k={r0['k']}, T={r0['T']}, epsilon={r0['epsilon']}", "",
           "MB are MiB of VmRSS after every test query was answered (VmHWM, the peak, in brackets). "
           "`embedded`: one `sanny serve --index` process; `worker`: each `sanny worker` in its own "
           "namespace host; baselines: an idle worker / `sanny serve` of an empty index. Ratios: the "
           "largest worker over the embedded process (raw RSS; raw RSS right after loading, before any "
           "query; raw HWM; RSS net of both baselines).", "",
           "| inner | keep_vectors | recall embedded | recall grid | same answers | embedded MB (baseline) "
           "| coordinator MB | worker MB | worker baseline MB | rows / worker | ratio RSS "
           "| ratio loaded | ratio HWM | ratio net |",
           "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        e, c, ws = r["embedded"], r["coordinator"], r["workers"]
        out.append(f"| {r['inner']} | {r['keep_vectors']} | {r['recall_embedded']:.4f} | {r['recall_grid']:.4f} | "
                   f"{r['same_answers']:.3f} | {e['rss_mb']:.0f} [{e['hwm_mb']:.0f}] "
                   f"({r['embedded_baseline']['rss_mb']:.0f}) | {c['rss_mb']:.0f} [{c['hwm_mb']:.0f}] | "
                   + " / ".join(f"{w['rss_mb']:.0f} [{w['hwm_mb']:.0f}]" for w in ws) + " | "
                   f"{max(w['baseline_rss_mb'] for w in ws):.0f} | {'/'.join(str(w['count']) for w in ws)} | "
                   f"{r['ratio_rss']:.3f} | {r['ratio_loaded']:.3f} | {r['ratio_hwm']:.3f} | {r['ratio_net']:.3f} |")
    return "\n".join(out) + "\n"


def plot(rows: list[dict], path: str) -> None:
    """One group of bars per variant: embedded, grid coordinator, each worker; a line at 0.35x embedded."""
    from sanny.bench.plot import figure

    fig = figure(figsize=(2.2 + 2.2 * len(rows), 4.5), layout="constrained")
    ax = fig.add_subplot()
    nw = len(rows[0]["workers"])
    names = ["embedded", "coordinator"] + [f"worker {i}" for i in range(nw)]
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        vals = [(r["embedded"] if j == 0 else r["coordinator"] if j == 1 else r["workers"][j - 2])["rss_mb"]
                for r in rows]
        ax.bar([i + (j - (len(names) - 1) / 2) * width for i in range(len(rows))], vals, width, label=name,
               color=f"C{min(j, 2)}", alpha=1.0 if j < 3 else 0.75)
    for i, r in enumerate(rows):
        ax.hlines(0.35 * r["embedded"]["rss_mb"], i - 0.4, i + 0.4, colors="k", linestyles="dashed",
                  label="0.35 x embedded" if i == 0 else None)
    ax.set_xticks(range(len(rows)), [f"{r['inner']}\nkeep_vectors={r['keep_vectors']}" for r in rows])
    ax.set_ylabel("VmRSS (MiB)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"{rows[0]['dataset']}: memory per process, R={rows[0]['R']} x S={rows[0]['S']} grid vs embedded")
    fig.savefig(path, dpi=110)


def write(rows: list[dict], prov: dict, out: str) -> None:
    with open(os.path.join(out, "grid-memory.json"), "w") as f:
        json.dump({"provenance": prov, "rows": rows}, f, indent=1)
    with open(os.path.join(out, "grid-memory.md"), "w") as f:
        f.write(markdown(rows))
    plot(rows, os.path.join(out, "grid-memory.png"))


