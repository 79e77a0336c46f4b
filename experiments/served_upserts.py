"""Memory and disk of a served index under sustained upserts of the same keys.

`sanny serve --create` (one process, 127.0.0.1) over a fresh directory; a client upserts KEYS
keys again and again (random vectors, batches of BATCH) until UPSERTS are done, sampling the
server's RSS, the index directory's size, the segments (IndexInfo) and the write rate at every
step. With ids reused and segments compacted in the background, RSS and disk settle and stay
flat: `settled` is the largest value after the first step divided by the first step's.

    python -m experiments.served_upserts --upserts 1000000 --keys 5000 --dim 128 --out experiments/results/served-upserts
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
from tqdm import tqdm

from sanny.bench.procs import Proc, rss_mb
from sanny.engine.api.client import Client


def dir_mb(path: str) -> float:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except FileNotFoundError:  # a checkpoint replaced it meanwhile
                pass
    return total / 2**20


def run(upserts: int, keys: int, dim: int, batch: int, steps: int, inner: str, work: str) -> list[dict]:
    root = os.path.join(work, "ix")
    server = Proc("serve", ["serve", "--index", root, "--create", "--dim", str(dim), "--S", "1",
                            "--inner", inner, "--listen", "127.0.0.1:0"],  # the interpreter's own sanny (an older one too)
                  os.path.join(work, "serve.log"), r"\(port (\d+)")
    rows = []
    try:
        server.wait_ready(120)
        rng = np.random.default_rng(0)
        names = [f"key-{i}" for i in range(keys)]
        with Client(server.address) as c:
            c.wait_ready(timeout=60)
            every = max(batch, upserts // steps)
            done, t0, last = 0, time.perf_counter(), 0
            with tqdm(total=upserts, desc="upserts", unit="vec") as bar:
                while done < upserts:
                    first = done % keys
                    b = min(batch, keys - first, upserts - done)
                    c.upsert(names[first: first + b], rng.standard_normal((b, dim)).astype(np.float32))
                    done += b
                    bar.update(b)
                    if done - last >= every or done == upserts:
                        last = done
                        info = c.info()
                        w = info["workers"][0]
                        rows.append({"upserts": done, "seconds": round(time.perf_counter() - t0, 2),
                                     "rss_mb": rss_mb(server.pid), "dir_mb": round(dir_mb(root), 2),
                                     "count": info["count"], "segments": w.get("segments", 0),
                                     "sealed_rows": w.get("sealed_rows", 0), "deleted_rows": w.get("deleted_rows", 0),
                                     "growing_rows": w.get("growing_rows", 0), "compaction": w.get("compaction", "-"),
                                     "compaction_cpu_seconds": w.get("compaction_cpu_seconds", 0.0)})
    finally:
        server.stop()
    return rows


def table(rows: list[dict]) -> str:
    head = "| upserts | s | RSS MB | dir MB | count | segments | sealed rows | deleted | growing | compaction |"
    out = [head, "|" + "---|" * 10]
    for r in rows:
        out.append(f"| {r['upserts']:,} | {r['seconds']:.0f} | {r['rss_mb']:.0f} | {r['dir_mb']:.1f} | {r['count']:,} "
                   f"| {r['segments']} | {r['sealed_rows']:,} | {r['deleted_rows']:,} | {r['growing_rows']:,} "
                   f"| {r['compaction']} |")
    half = len(rows) // 2
    a, b = rows[:half], rows[half:]
    out.append("")
    for name, key in (("RSS", "rss_mb"), ("directory", "dir_mb")):
        ma, mb = max(r[key] for r in a), max(r[key] for r in b)
        out.append(f"{name}: largest {ma:.0f} MB over the first half of the upserts, {mb:.0f} MB over the second "
                   f"({mb / ma:.2f}x): flat means bounded (the directory cycles with the WAL between checkpoints).")
    return "\n".join(out)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["upserts"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x, [r["rss_mb"] for r in rows], marker="o", label="server RSS MB")
    ax.plot(x, [r["dir_mb"] for r in rows], marker="s", label="index directory MB")
    ax.set_xlabel("upserts of the same keys")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("served index under sustained upserts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upserts", type=int, default=1_000_000)
    p.add_argument("--keys", type=int, default=5000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--inner", default="symqg")
    p.add_argument("--out", required=True)
    p.add_argument("--report", action="store_true", help="only rewrite the .md from OUT's json")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    if a.report:
        with open(os.path.join(a.out, "served-upserts.json")) as f:
            res = json.load(f)
        with open(os.path.join(a.out, "served-upserts.md"), "w") as f:
            f.write(f"# Served index under sustained upserts\n\n`{res['command']}`\n\n{table(res['rows'])}\n")
        return
    with tempfile.TemporaryDirectory(prefix="sanny-upserts-") as work:
        rows = run(a.upserts, a.keys, a.dim, a.batch, a.steps, a.inner, work)
    cmd = "python -m experiments.served_upserts " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    with open(os.path.join(a.out, "served-upserts.json"), "w") as f:
        json.dump({"command": cmd, "args": {k: v for k, v in vars(a).items() if k != "out"}, "rows": rows}, f, indent=1)
    with open(os.path.join(a.out, "served-upserts.md"), "w") as f:
        f.write(f"# Served index under sustained upserts\n\n`{cmd}`\n\n{table(rows)}\n")
    plot(rows, os.path.join(a.out, "served-upserts.png"))
    print(table(rows))


if __name__ == "__main__":
    main()
