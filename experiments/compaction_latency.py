"""Single-query latency while a background merge runs, against the same index quiet.

Loads the first N rows of an ann-benchmarks file into an embedded index, builds it, times one
query per call (quiet); then upserts a share of the keys with unchanged vectors, which makes the
worker's compactor merge in the background (on ``compact_threads``, 1 by default), and times
the same queries only while that merge runs. Repeated; p50/p90 per phase and the p90 ratio.

    python -m experiments.compaction_latency DATA.hdf5 --n 30000 --inner symqg --out experiments/results/compaction-latency
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from sanny.bench.datasets import file_metric, normalize
from sanny.engine import Index, IndexConfig, InnerParams


def _load(path: str, n: int):
    import h5py

    with h5py.File(path, "r") as f:
        x, q = np.asarray(f["train"][:n], np.float32), np.asarray(f["test"][:], np.float32)
        metric = file_metric(f, path)
    if metric == "angular":
        x, q = normalize(x), normalize(q)
    return x, q, "cosine" if metric == "angular" else "l2"


def _times(ix, q, state=None, limit: int = 100000) -> list[tuple]:
    """(seconds, compaction step running) per single query; with ``state``, while it names a step."""
    out = []
    for i in range(limit):
        now = state() if state is not None else "quiet"
        if now in ("idle", "pending"):
            break
        t0 = time.perf_counter()
        ix.search(q[i % len(q)][None], 10)
        out.append((time.perf_counter() - t0, now))
        if state is None and i + 1 >= len(q):
            break
    return out


def _pct(t: list, p: float) -> float | None:
    return 1e3 * float(np.percentile(t, p)) if len(t) else None


def measure(path: str, n: int, inner: str, repeats: int, share: float) -> list[dict]:
    x, q, metric = _load(path, n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sanny-complat-") as d:
        ix = Index.create(os.path.join(d, "ix"), IndexConfig(dim=x.shape[1], S=1, metric=metric,
                                                               inner=InnerParams(kind=inner)))
        keys = [f"k{i}" for i in range(n)]
        for a in range(0, n, 5000):
            ix.insert(keys[a: a + 5000], x[a: a + 5000])
        ix.build()
        rng = np.random.default_rng(0)
        state = lambda: (ix.segments() or {}).get("compaction", "idle")  # noqa: E731
        for r in range(repeats):
            quiet = [t for t, _ in _times(ix, q)]
            sel = rng.choice(n, int(share * n), replace=False)
            ix.upsert([keys[i] for i in sel], x[sel])
            t0 = time.monotonic()
            while state() in ("idle", "pending") and time.monotonic() - t0 < 10:  # the compactor starts
                time.sleep(0.01)
            timed = _times(ix, q, state=state)
            ix.wait_compaction(600)
            seal = [t for t, s in timed if s == "seal"]
            merge = [t for t, s in timed if s != "seal"]
            rows.append({"repeat": r, "quiet_p50_ms": _pct(quiet, 50), "quiet_p90_ms": _pct(quiet, 90),
                         "seal_p50_ms": _pct(seal, 50), "seal_p90_ms": _pct(seal, 90), "seal_queries": len(seal),
                         "during_p50_ms": _pct(merge, 50), "during_p90_ms": _pct(merge, 90),
                         "during_queries": len(merge)})
            r_ = rows[-1]
            print(r_, flush=True)
        ix.close(save=False)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--n", type=int, default=30000)
    p.add_argument("--inner", default="symqg")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--share", type=float, default=0.3, help="share of the keys upserted to start a merge")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    rows = measure(a.data, a.n, a.inner, a.repeats, a.share)
    os.makedirs(a.out, exist_ok=True)
    ratios = [r["during_p90_ms"] / r["quiet_p90_ms"] for r in rows if r["during_p90_ms"]]
    cmd = "python -m experiments.compaction_latency DATA.hdf5 " + " ".join(
        f"--{k} {v}" for k, v in vars(a).items() if k not in ("data", "out"))
    res = {"command": cmd, "dataset": os.path.basename(a.data), "rows": rows,
           "p90_ratio_median": float(np.median(ratios)) if ratios else None,
           "p90_ratio_min": min(ratios, default=None), "p90_ratio_max": max(ratios, default=None)}
    with open(os.path.join(a.out, f"compaction-latency-{a.inner}.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = [f"# Single-query latency during a background merge ({res['dataset']}, {a.inner}, n={a.n})", "",
             f"`{cmd}`", "", "The upserted rows first wait in the growing segment (scanned exactly) until the compactor seals "
             "them into a small graph (`seal` columns), then everything is merged into one graph (`merge`).", "",
             "| repeat | quiet p50 ms | quiet p90 ms | seal p50 ms | seal p90 ms | queries | merge p50 ms | merge p90 ms | queries |",
             "|---|---|---|---|---|---|---|---|---|"]
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['repeat']} | {f(r['quiet_p50_ms'])} | {f(r['quiet_p90_ms'])} | {f(r['seal_p50_ms'])} | "
                     f"{f(r['seal_p90_ms'])} | {r['seal_queries']} | {f(r['during_p50_ms'])} | "
                     f"{f(r['during_p90_ms'])} | {r['during_queries']} |")
    if ratios:
        lines += ["", f"merge p90 / quiet p90: median {res['p90_ratio_median']:.2f} "
                      f"(min {res['p90_ratio_min']:.2f}, max {res['p90_ratio_max']:.2f}); target <= 2."]
    with open(os.path.join(a.out, f"compaction-latency-{a.inner}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
