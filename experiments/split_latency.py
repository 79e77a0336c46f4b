"""Does a single query's split pay on this machine? Single-query latency of S=1 against the S=2
split, quiet and beside busy loops, with the subspaces run as shipped (``workers.parallel``
decides), forced in turn and forced overlapped.

For each setting and each ``T`` (a low and a high beam), every round times the test queries one
per call in five phases: quiet as shipped, quiet in turn, quiet overlapped, then with ``--busy``
busy-loop processes (started, confirmed spinning, stopped by PID) as shipped and overlapped.
The figures of merit: p90 busy / p90 quiet as shipped (the target: at most 2x), and what
overlapping bought when quiet (in turn / overlapped). Writes ``split-latency.json``, ``.md`` and
``.png`` to ``--out``.

    python -m experiments.split_latency DATA.hdf5 --n 30000 --out experiments/results/split-latency
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile

import numpy as np
from tqdm import tqdm

from sanny.bench.datasets import load
from sanny.bench.ingest_latency import busy_loops, percentiles, recall, single_queries
from sanny.bench.provenance import git_state, portable
from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers import parallel

PHASES = ("quiet", "quiet, in turn", "quiet, overlapped", "busy", "busy, overlapped")


@contextlib.contextmanager
def forced(overlap: bool | None):
    """``parallel.worth_it`` as shipped (None), or always ``overlap``."""
    real = parallel.worth_it
    if overlap is not None:
        parallel.worth_it = lambda n: overlap and n >= 2
    try:
        yield
    finally:
        parallel.worth_it = real


def build(X: np.ndarray, metric: str, S: int) -> Index:
    cfg = IndexConfig(dim=X.shape[1], metric=metric, S=S, inner=InnerParams(kind="symqg"))
    ix = Index.create(tempfile.mkdtemp(prefix="sanny-split-"), cfg, overwrite=True)
    for a in range(0, len(X), 5000):
        ix.insert([str(i) for i in range(a, min(len(X), a + 5000))], X[a:a + 5000])
    ix.build(optimize=True)
    return ix


def measure(ix, ds, T: int, rounds: int, busy: int, bar) -> dict:
    opts = {"T": T, "ef_search": T}
    ms = {p: [] for p in PHASES}
    ids = None
    for _ in range(rounds):
        for phase, overlap in zip(PHASES[:3], (None, False, True)):
            with forced(overlap):
                t, ids = single_queries(ix, ds.test, 10, opts, bar)
            ms[phase].append(percentiles(t))
        with busy_loops(busy):
            for phase, overlap in zip(PHASES[3:], (None, True)):
                with forced(overlap):
                    t, _ = single_queries(ix, ds.test, 10, opts, bar)
                ms[phase].append(percentiles(t))
    med = {p: {k: float(np.median([r[k] for r in ms[p]])) for k in ("p50_ms", "p90_ms")} for p in PHASES}
    return {"T": T, "recall": recall(ds.train, ds.test, ids, 10, ds.metric), "runs": ms, "median": med,
            "p90_busy_over_quiet": [b["p90_ms"] / q["p90_ms"] for q, b in zip(ms["quiet"], ms["busy"])]}


def report(doc: dict, out: str) -> None:
    lines = [f"# Single-query latency of the split ({doc['dataset']}, n={doc['n']}, {doc['cpus']} CPUs)", "",
             f"`{doc['command']}`", "",
             f"Median over {doc['rounds']} rounds of {doc['queries']} single queries (k=10, ef_search = T); "
             f"busy = {doc['busy']} busy-loop processes. p50 / p90 in ms.", "",
             "| setting | T | recall@10 | " + " | ".join(PHASES) + " | p90 busy / quiet (rounds) |",
             "|---|---:|---:|" + "---|" * len(PHASES) + "---|"]
    for r in doc["rows"]:
        cells = [f"{r['median'][p]['p50_ms']:.3f} / {r['median'][p]['p90_ms']:.3f}" for p in PHASES]
        ratio = ", ".join(f"{v:.2f}" for v in r["p90_busy_over_quiet"])
        lines.append(f"| {r['setting']} | {r['T']} | {r['recall']:.4f} | " + " | ".join(cells) + f" | {ratio} |")
    with open(os.path.join(out, "split-latency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    w = 0.8 / len(PHASES)
    for j, p in enumerate(PHASES):
        ax.bar(np.arange(len(doc["rows"])) + j * w, [r["median"][p]["p90_ms"] for r in doc["rows"]], w, label=p)
    ax.set_xticks(np.arange(len(doc["rows"])) + 0.4 - w / 2, [f"{r['setting']}\nT={r['T']}" for r in doc["rows"]])
    ax.set_ylabel("p90 ms per single query")
    ax.set_title(f"{doc['dataset']}: the split's single query, quiet and busy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "split-latency.png"), dpi=110)
    print("\n".join(lines))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--n", type=int, default=30000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--busy", type=int, default=2)
    p.add_argument("--T", default="24,96", help="comma list of T (= ef_search) per setting")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    ds = load(a.data, a.n)
    ds.test = ds.test[: a.queries]
    metric = "cosine" if ds.metric == "angular" else "l2"
    Ts = [int(t) for t in a.T.split(",")]
    rows = []
    with tqdm(total=2 * len(Ts) * a.rounds * len(PHASES) * len(ds.test), desc="split latency",
              unit="query") as bar:
        for S in (1, 2):
            ix = build(ds.train, metric, S)
            try:
                rows += [{"setting": f"S={S} symqg", **measure(ix, ds, T, a.rounds, a.busy, bar)} for T in Ts]
            finally:
                ix.close(save=False)
    doc = {"dataset": ds.name, "n": ds.n, "queries": len(ds.test), "rounds": a.rounds, "busy": a.busy,
           "cpus": parallel.cores(), "rows": rows, "provenance": {**git_state(), "argv": portable(sys.argv[1:])},
           "command": f"python -m experiments.split_latency DATA.hdf5 --n {a.n} --queries {a.queries} "
                      f"--rounds {a.rounds} --busy {a.busy} --T {a.T}"}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "split-latency.json"), "w") as f:
        json.dump(doc, f, indent=1)
    report(doc, a.out)


if __name__ == "__main__":
    main()
