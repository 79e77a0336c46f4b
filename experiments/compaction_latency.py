"""Single-query latency while a background merge runs, against the same index quiet.

Loads the first N rows of an ann-benchmarks file into an embedded index (background compaction
off), builds it and times one query per call (``fresh``). Then it upserts a share of the keys
with slightly moved vectors (real writes: an unchanged vector is not written) and times the same
queries on that state, growing rows and dead rows, with no compaction running (``before``).
Then it turns the worker's compactor on (``compact_threads``, 1 by default, at its own nice
value; ``seal_rows`` out of reach so the one step is the merge of everything) and times the
queries only while that merge runs (``during``): the same index state as ``before`` until the
swap, so ``during / before`` is what running a compaction costs a search (the stall), and
``during / fresh`` adds what the unmerged state costs. Repeated; p50/p90 per phase.

    python -m experiments.compaction_latency DATA.hdf5 --n 30000 --inner symqg --out experiments/results/compaction-latency
"""
from __future__ import annotations

import argparse
import dataclasses
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
    rng = np.random.default_rng(0)
    p = InnerParams(kind=inner, compact=False, seal_rows=10 ** 9)
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="sanny-complat-") as d:
            ix = Index.create(os.path.join(d, "ix"), IndexConfig(dim=x.shape[1], S=1, metric=metric, inner=p))
            keys = [f"k{i}" for i in range(n)]
            for a in range(0, n, 5000):
                ix.insert(keys[a: a + 5000], x[a: a + 5000])
            ix.build()
            fresh = [t for t, _ in _times(ix, q)]
            sel = rng.choice(n, int(share * n), replace=False)
            moved = x[sel] + 1e-3 * float(x.std()) * rng.standard_normal(x[sel].shape).astype(np.float32)
            ix.upsert([keys[i] for i in sel], moved)
            before = [t for t, _ in _times(ix, q)]
            state = lambda: (ix.segments() or {}).get("compaction", "idle")  # noqa: E731
            worker = ix.workers[0]
            worker.compactor.p = dataclasses.replace(p, compact=True)  # the background thread, as served
            worker.compactor.note_write()
            t0 = time.monotonic()
            while state() in ("idle", "pending") and time.monotonic() - t0 < 10:  # the compactor starts
                time.sleep(0.001)
            during = [t for t, _ in _times(ix, q, state=state)]
            ix.wait_compaction(600)
            after = [t for t, _ in _times(ix, q)]
            rows.append({"repeat": r, **{f"{name}_p{pc}_ms": _pct(v, pc) for name, v in
                                         (("fresh", fresh), ("before", before), ("during", during), ("after", after))
                                         for pc in (50, 90)}, "during_queries": len(during)})
            print(rows[-1], flush=True)
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
    stall = [r["during_p90_ms"] / r["before_p90_ms"] for r in rows if r["during_p90_ms"]]
    total = [r["during_p90_ms"] / r["fresh_p90_ms"] for r in rows if r["during_p90_ms"]]
    cmd = "python -m experiments.compaction_latency DATA.hdf5 " + " ".join(
        f"--{k} {v}" for k, v in vars(a).items() if k not in ("data", "out"))
    spread = lambda v: {"median": float(np.median(v)), "min": min(v), "max": max(v)} if v else None  # noqa: E731
    res = {"command": cmd, "dataset": os.path.basename(a.data), "rows": rows,
           "p90_during_over_before": spread(stall), "p90_during_over_fresh": spread(total)}
    with open(os.path.join(a.out, f"compaction-latency-{a.inner}.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = [f"# Single-query latency during a background merge ({res['dataset']}, {a.inner}, n={a.n})", "",
             f"`{cmd}`", "", "`fresh`: one built graph; `before`: after the upserts (growing and dead rows), no "
             "compaction running; `during`: the same state while the background merge runs; `after`: merged.", "",
             "| repeat | fresh p50 / p90 ms | before p50 / p90 ms | during p50 / p90 ms | queries during | after p50 / p90 ms |",
             "|---|---|---|---|---|---|"]
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        lines.append(" | ".join([f"| {r['repeat']}", *(f"{f(r[k + '_p50_ms'])} / {f(r[k + '_p90_ms'])}" for k in
                                                      ("fresh", "before", "during")),
                                 str(r["during_queries"]), f"{f(r['after_p50_ms'])} / {f(r['after_p90_ms'])} |"]))
    for name, v in (("during / before (the merge's own cost)", res["p90_during_over_before"]),
                    ("during / fresh", res["p90_during_over_fresh"])):
        if v:
            lines += ["", f"p90 {name}: median {v['median']:.2f} (min {v['min']:.2f}, max {v['max']:.2f})."]
    with open(os.path.join(a.out, f"compaction-latency-{a.inner}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
