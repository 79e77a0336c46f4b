"""RSS of one worker through churn cycles, without and with giving freed heap back to the OS.

Builds a worker over the first N rows of an ann-benchmarks file, then runs cycles that each
remove 10 % of the rows and insert as many new ones under the freed ids, waits for its
compaction to settle, saves it, and reads the process RSS after each step: once with
``heap.give_back`` disabled (glibc keeps freed pages in its arenas), once as shipped.

    python -m experiments.trim_rss DATA.hdf5 --n 15000 --out experiments/results/trim-rss
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from sanny.workers import InnerParams, LocalWorker, WorkerSpec, heap


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def run(x: np.ndarray, n: int, cycles: int, trim: bool) -> list[dict]:
    real = heap._trim
    heap._trim = real if trim else None
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="sanny-trim-") as d:
            w = LocalWorker(WorkerSpec([0], [x.shape[1]], "l2", InnerParams(kind="symqg")), os.path.join(d, "w"))
            w.insert(np.arange(n), x[:n])
            w.build(True)
            w.settle(600)
            rows.append({"trim": trim, "cycle": 0, "step": "built", "rss_mb": _rss_mb()})
            rng = np.random.default_rng(0)
            for c in range(1, cycles + 1):
                gone = rng.choice(n, n // 10, replace=False)
                w.remove(gone)
                w.insert(gone, x[n: n + len(gone)] + c)  # new vectors under the freed ids
                w.settle(600)
                rows.append({"trim": trim, "cycle": c, "step": "settled", "rss_mb": _rss_mb()})
                w.save(os.path.join(d, f"save-{c}"))
                rows.append({"trim": trim, "cycle": c, "step": "saved", "rss_mb": _rss_mb()})
            w.close()
    finally:
        heap._trim = real
    return rows


def main(argv=None) -> None:
    import h5py

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--n", type=int, default=15000)
    p.add_argument("--cycles", type=int, default=4)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    with h5py.File(a.data, "r") as f:
        x = np.asarray(f["train"][: a.n + a.n // 10], np.float32)
    rows = run(x, a.n, a.cycles, False) + run(x, a.n, a.cycles, True)
    cmd = f"python -m experiments.trim_rss DATA.hdf5 --n {a.n} --cycles {a.cycles}"
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "trim-rss.json"), "w") as f:
        json.dump({"command": cmd, "dataset": os.path.basename(a.data), "rows": rows}, f, indent=1)
    lines = [f"# Worker RSS through churn cycles, without and with give_back ({os.path.basename(a.data)}, n={a.n})",
             "", f"`{cmd}`", "", "| give_back | cycle | step | RSS MB |", "|---|---|---|---|"]
    lines += [f"| {'on' if r['trim'] else 'off'} | {r['cycle']} | {r['step']} | {r['rss_mb']:.0f} |" for r in rows]
    with open(os.path.join(a.out, "trim-rss.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
