"""``sanny bench-ingest`` output: ingest.json (the measurements), and from it alone ingest.md
(tables) and ingest.png (ingest rates; latency quiet vs busy)."""
from __future__ import annotations

from . import docfiles

NAMES = ("ingest.json", "ingest.md", "ingest.png")
P90_TARGET = 2.0  # the target: p90 with busy neighbours at most 2x the quiet one


def _s(sp: dict | None, fmt: str) -> str:
    """``median (min-max)`` of a spread."""
    if not sp:
        return "-"
    return f"{format(sp['median'], fmt)} ({format(sp['min'], fmt)}-{format(sp['max'], fmt)})"


def markdown(doc: dict) -> str:
    s = doc["settings"]
    out = [f"# Ingest and latency: {doc['dataset']} (first {doc['n']} of dim {doc['dim']}, {doc['metric']}), "
           f"{doc['cpus']} CPUs", "",
           f"Config S=1, pca_dim={s['pca_dim']}, T={s['T']}, ef_search={s.get('ef_search', 0)} (0: T); batches of {s['batch']} vectors; {s['repeats']} "
           "repeat(s), each into a fresh index; cells are median (min-max). Every write is acknowledged "
           "only once its WAL record is durable. `build s` is the final `Index.build()` after the "
           "embedded inserts (served paths: inserts only).", "",
           "## Ingest", "",
           "| inner | path | vectors/s | insert s | build s |", "|---|---|---:|---:|---:|"]
    for r in doc["ingest"]:
        out.append(f"| {r['inner']} | {r['path']} | {_s(r['rate'], ',.0f')} | {_s(r['insert_s'], '.2f')} | "
                   f"{_s(r.get('build_s'), '.2f')} |")
    skipped = doc.get("skipped") or []
    if skipped:
        out += ["", "Not run: " + "; ".join(skipped)]
    out += ["", "## Single-query latency, quiet vs busy neighbours", "",
            f"`Index.search_ids(q[None], k)` over {s['queries']} test queries, one per call, after the "
            f"embedded build; then again with {s['busy']} busy-loop processes (started and stopped by "
            f"PID by the command). Target: p90 busy / p90 quiet <= {P90_TARGET:g}. The peer row "
            "is faiss HNSW over the same vectors timed the same way: what the machine does to any search.", "",
            "| inner | recall@k | quiet p50 / p90 / p99 ms | busy p50 / p90 / p99 ms | p90 busy/quiet | target |",
            "|---|---:|---:|---:|---:|---|"]
    for r in doc["latency"]:
        q = {p: _median(r, "quiet", p) for p in ("p50_ms", "p90_ms", "p99_ms")}
        b = {p: _median(r, "busy", p) for p in ("p50_ms", "p90_ms", "p99_ms")}
        ok = "met" if r["p90_ratio"]["median"] <= P90_TARGET else "missed"
        out.append(f"| {r['inner']} | {r['recall']:.4f} | {q['p50_ms']:.2f} / {q['p90_ms']:.2f} / {q['p99_ms']:.2f} | "
                   f"{b['p50_ms']:.2f} / {b['p90_ms']:.2f} / {b['p99_ms']:.2f} | {_s(r['p90_ratio'], '.2f')} | {ok} |")
    out += ["", "Latency percentiles are medians over the repeats; the ratio's spread is over the repeats.", ""]
    return "\n".join(out)


def _median(row: dict, phase: str, p: str) -> float:
    vals = sorted(run[phase][p] for run in row["runs"])
    m = len(vals)
    return vals[m // 2] if m % 2 else (vals[m // 2 - 1] + vals[m // 2]) / 2


def _bars(ax, labels, spreads, color):
    med = [sp["median"] for sp in spreads]
    err = [[m - sp["min"] for m, sp in zip(med, spreads)], [sp["max"] - m for m, sp in zip(med, spreads)]]
    ax.bar(range(len(med)), med, yerr=err, capsize=3, color=color)
    ax.set_xticks(range(len(med)), labels, rotation=30, ha="right", fontsize="small")


def plot(doc: dict, path: str) -> None:
    """Left: ingest vectors/s per (inner, path), bars at the median, whiskers min-max. Right:
    single-query p50 / p90 / p99 per inner kind, quiet and busy (medians over the repeats)."""
    from .plot import figure

    fig = figure(figsize=(12, 4.8), layout="constrained")
    ax = fig.add_subplot(1, 2, 1)
    rows = doc["ingest"]
    _bars(ax, [f"{r['inner']}\n{r['path']}" for r in rows], [r["rate"] for r in rows],
          [f"C{i % 10}" for i in range(len(rows))])
    ax.set_ylabel("vectors / s (durable)")
    ax.set_title(f"ingest, batches of {doc['settings']['batch']}")
    ax.grid(axis="y", alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    lat = doc["latency"]
    width = 0.8 / max(1, 2 * len(lat))
    for j, r in enumerate(lat):
        for h, phase in enumerate(("quiet", "busy")):
            i = 2 * j + h
            xs = [x + (i - (2 * len(lat) - 1) / 2) * width for x in range(3)]
            ax.bar(xs, [_median(r, phase, p) for p in ("p50_ms", "p90_ms", "p99_ms")], width,
                   label=f"{r['inner']} {phase}" + (f" ({r['busy']} busy)" if phase == "busy" else ""),
                   color=f"C{j % 10}", alpha=1.0 if phase == "quiet" else 0.5, hatch="//" if h else None)
    ax.set_xticks(range(3), ["p50", "p90", "p99"])
    ax.set_ylabel("ms per single query")
    ax.set_title("single-query latency, quiet vs busy neighbours")
    ax.grid(axis="y", alpha=0.3)
    if lat:
        ax.legend(fontsize="small")
    fig.suptitle(f"{doc['dataset']}: first {doc['n']} vectors, {doc['cpus']} CPUs")
    fig.savefig(path, dpi=110)


def write_json(doc: dict, out_dir: str) -> str:
    return docfiles.write_json(doc, out_dir, NAMES[0])


def render(out_dir: str) -> dict:
    """ingest.md and ingest.png from ingest.json in ``out_dir`` (the only source of their numbers)."""
    return docfiles.render(out_dir, NAMES, markdown, plot)
