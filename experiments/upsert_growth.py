"""Memory of an embedded index under sustained upserts of the same keys: how the live count,
the coordinator's and a worker's id ranges, the first subspace graph's node count and the
process's RSS move with the number of upserts, and after ``Index.build()``.

Internal ids are dense and never reused (the id is the row of every store), so an upsert
(a new id for the key, the old one masked) grows every store by one row even when the live
count stays the same. This tool measures that growth, so a fix has a before and after.

    python -m experiments.upsert_growth --n 5000 --dim 128 --upserts 100000 --out experiments/results/upsert-growth
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np
from tqdm import tqdm

from sanny.engine import Index, IndexConfig

from sanny.bench import procs, provenance
from sanny.bench.synthetic import clustered

BATCH = 50  # keys per upsert call


def measure(n: int, dim: int, S: int, upserts: int, keys: int, points: int = 4, seed: int = 0) -> list[dict]:
    """One row per measuring point: ``upserts`` done so far and the sizes then (the last row:
    after ``Index.build()``)."""
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        ix = Index.create(os.path.join(d, "idx"), IndexConfig(dim=dim, S=S))
        ix.insert([str(i) for i in range(n)], clustered(n, dim, seed=seed))
        ix.build()

        def row(done: int, when: str) -> dict:
            w = ix.workers[0]
            st = w.stats()  # segmented kinds: rows of every segment (dead ones included) + growing
            nodes = sum(x["rows"] for x in st["segments"]) + st["growing"]["rows"] if "segments" in st else None
            return {"upserts": done, "when": when, "live": len(ix), "coordinator_ids": int(ix.store.size),
                    "worker_ids": int(w.store.size), "graph_nodes": nodes,
                    "rss_mb": procs.rss_mb(os.getpid())}

        rows.append(row(0, "start"))
        step = max(1, upserts // points)
        done = 0
        with tqdm(total=upserts, desc="upserts", unit="key") as bar:
            while done < upserts:
                b = min(BATCH, keys, upserts - done)  # no key twice in one call
                first = done % keys
                ix.upsert([f"w{(first + j) % keys}" for j in range(b)], rng.normal(size=(b, dim)).astype(np.float32))
                done += b
                bar.update(b)
                if done // step > (done - b) // step or done == upserts:
                    rows.append(row(done, "upserts"))
        ix.build()
        rows.append(row(done, "after build()"))
        ix.close(save=False)
    return rows


def table(rows: list[dict]) -> str:
    out = [f"{'upserts':>8} {'when':14} {'live':>7} {'coordinator ids':>15} {'worker ids':>10} {'graph nodes':>11} {'RSS MB':>7}"]
    for r in rows:
        out.append(f"{r['upserts']:8d} {r['when']:14} {r['live']:7d} {r['coordinator_ids']:15d} {r['worker_ids']:10d} "
                   f"{r['graph_nodes'] if r['graph_nodes'] is not None else '-':>11} {r['rss_mb']:7.0f}")
    return "\n".join(out)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grow = [r for r in rows if r["when"] != "after build()"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["upserts"] for r in grow], [r["rss_mb"] for r in grow], "o-", label="RSS")
    last = rows[-1]
    ax.plot([last["upserts"]], [last["rss_mb"]], "s", label="after Index.build()")
    ax.set_xlabel("upserts of the same keys")
    ax.set_ylabel("RSS (MB)")
    ax.set_title(f"live vectors stay at {rows[-1]['live']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--upserts", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=500, help="distinct keys the upserts cycle through")
    ap.add_argument("--out", help="directory for upsert-growth.json, .md and .png")
    args = ap.parse_args(argv)
    rows = measure(args.n, args.dim, args.S, args.upserts, args.keys)
    text = table(rows)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        prov = provenance.collect()
        with open(os.path.join(args.out, "upsert-growth.json"), "w") as f:
            json.dump({"args": vars(args), "provenance": prov, "rows": rows}, f, indent=1)
        with open(os.path.join(args.out, "upsert-growth.md"), "w") as f:
            f.write(f"```\n{text}\n```\n\ncommit {prov.get('commit', '?')}, "
                    f"`python -m experiments.upsert_growth {' '.join(prov['argv'])}`\n")
        plot(rows, os.path.join(args.out, "upsert-growth.png"))


if __name__ == "__main__":
    main()
