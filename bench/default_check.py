"""Recall@k and batch QPS of a built index on an ann-benchmarks file's test queries, with the
index's stored search defaults (what ``sanny build`` with no flags left there): the number to
hold against the best hand-picked Sanny row of a ``sanny bench`` run of the same file.

    python -m sanny.bench.default_check DATA.hdf5 --index DIR [--repeats 5] [--out check.json]

Recall by the benchmark's rule (``metrics.recall``); QPS: all test queries in one call, one
warm-up (scored) then ``repeats`` timed runs, median with (min-max).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sanny.engine import Index

from . import datasets, metrics


def check(path: str, index_dir: str, k: int = 10, repeats: int = 5) -> dict:
    ds = datasets.load(path)
    with Index.open(index_dir) as ix:
        q = ix.prepare_queries(ds.test)
        ids, _ = ix.search_ids(q, k)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ix.search_ids(q, k)
            times.append(time.perf_counter() - t0)
        cfg = ix.config
        setting = {"S": cfg.S, "pca_dim": cfg.pca_dim, "kind": cfg.inner.kind, "T": cfg.T,
                   "ef_search": cfg.ef_search, "epsilon": cfg.epsilon}
    qps = sorted(len(ds.test) / t for t in times)
    return {"dataset": path.rsplit("/", 1)[-1], "k": k, "queries": len(ds.test), "recall": metrics.recall(ds, ids, k),
            "qps_batch": float(np.median(qps)), "qps_batch_min": qps[0], "qps_batch_max": qps[-1],
            "repeats": repeats, "setting": setting}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sanny.bench.default_check", description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--index", required=True)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="write the result as JSON here too")
    args = p.parse_args(argv)
    r = check(args.data, args.index, args.k, args.repeats)
    text = json.dumps(r, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
