"""Recall@k and batch QPS of a built index on an ann-benchmarks file's test queries, with the
index's stored search defaults (what ``sanny build`` with no flags left there), and how far
leave-one-out tuning on stored vectors is from those real queries at the same setting.

    python -m sanny.bench.default_check DATA.hdf5 --index DIR [--repeats 5] [--out check.json]
                                        [--against BENCH_OUT_DIR]
    python -m sanny.bench.default_check --report bench/results/defaults

Recall by the benchmark's rule (``metrics.recall``); QPS: all test queries in one call, one
warm-up (scored) then ``repeats`` timed runs, median with (min-max). ``--report DIR`` renders
``DIR/defaults.md`` from the ``check-*.json`` files there and the ``sanny bench`` runs beside
them (``bench-*/results.json``: the hand-picked Sanny settings and the no-flag build's, marked
``candidates=union``, in one run), so the ratio comes from one run of one file.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import numpy as np

from sanny.engine import Index
from sanny.engine.tune import loo_recall, tune

from . import datasets, metrics
from .results import read_json

MARK = {"candidates": "union"}  # the no-flag setting's row in the same-run grid (S=1: union is the default)


def check(path: str, index_dir: str, k: int = 10, repeats: int = 5) -> dict:
    ds = datasets.load(path)
    with Index.open(index_dir) as ix:
        ids, _ = ix.search_ids(ds.test, k)  # raw queries, checked per call: as the benchmark times them
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ix.search_ids(ds.test, k)
            times.append(time.perf_counter() - t0)
        cfg = ix.config
        setting = {"S": cfg.S, "pca_dim": cfg.pca_dim, "kind": cfg.inner.kind, "T": cfg.T,
                   "ef_search": cfg.ef_search, "epsilon": cfg.epsilon}
        sweep = {"T": cfg.T, "ef_search": cfg.ef_search}
        if cfg.inner.kind == "ngt":
            sweep["epsilon"] = cfg.epsilon
        loo = loo_recall(ix, sweep, k)
        real = tune(ix, 0.95, queries=ds.test, k=k, apply=False, progress=False)
    qps = sorted(len(ds.test) / t for t in times)
    recall = metrics.recall(ds, ids, k)
    return {"dataset": os.path.basename(path), "k": k, "queries": len(ds.test), "recall": recall,
            "qps_batch": float(np.median(qps)), "qps_batch_min": qps[0], "qps_batch_max": qps[-1],
            "repeats": repeats, "setting": setting, "loo_recall": loo, "gap": loo - recall,
            "real_sweep": real.table}


def interleaved(path: str, index_dir: str, bench_dir: str, k: int = 10, rounds: int = 7, at: float = 0.95) -> dict:
    """The no-flag index against the best hand-picked Sanny row of ``bench_dir`` (rebuilt here
    from its build parameters, searched with its query parameters), timed in turns A, B, A, B,
    ... in one process, so that load from elsewhere on the machine hits both alike. Ratio:
    median over the rounds of (no-flag QPS / hand-picked QPS) of the same round."""
    from .algorithms import get

    ds = datasets.load(path)
    hand = _best(read_json(bench_dir), at, False)
    algo = get("sanny")(ds.metric, **hand["build_params"])
    algo.fit(ds.train)
    algo.set_query_arguments(**hand["query_params"])
    try:
        with Index.open(index_dir) as ix:
            runs = {"no-flag": lambda: ix.search_ids(ds.test, k)[0], "hand-picked": lambda: algo.batch_query(ds.test, k)}
            recall = {name: metrics.recall(ds, fn(), k) for name, fn in runs.items()}  # also the warm-up
            qps = {name: [] for name in runs}
            for _ in range(rounds):
                for name, fn in runs.items():
                    t0 = time.perf_counter()
                    fn()
                    qps[name].append(len(ds.test) / (time.perf_counter() - t0))
    finally:
        algo.done()
    ratios = [a / b for a, b in zip(qps["no-flag"], qps["hand-picked"])]
    return {"hand_picked": _params(hand), "recall": recall, "rounds": rounds,
            "qps": {n: {"median": float(np.median(v)), "min": min(v), "max": max(v)} for n, v in qps.items()},
            "ratio_median": float(np.median(ratios)), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def _best(rows: list[dict], at: float, marked: bool) -> dict | None:
    ok = [r for r in rows if r["algorithm"] == "sanny" and r["recall"] >= at
          and (r["query_params"].get("candidates") == MARK["candidates"]) == marked]
    return max(ok, key=lambda r: r["qps_batch"]) if ok else None


def _params(r: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in {**r["build_params"], **r["query_params"]}.items())


def report(folder: str, at: float = 0.95) -> str:
    """``defaults.md``: per file, the no-flag build on the real queries, its leave-one-out gap,
    and its bench row against the best hand-picked Sanny row of the same run."""
    lines = ["# The no-flag build against the best hand-picked setting", "",
             f"Generated by `python -m sanny.bench.default_check --report {folder}`; the steps are in NOTES.md.", "",
             "| dataset | no-flag setting | recall (test queries) | batch QPS median (min-max) | leave-one-out recall | gap |",
             "|---|---|---|---|---|---|"]
    checks = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(folder, "check-*.json")))]
    for c in checks:
        s = c["setting"]
        lines.append(f"| {c['dataset']} | {s['kind']} S={s['S']} pca_dim={s['pca_dim']} T={s['T']} "
                     f"ef_search={s['ef_search']} | {c['recall']:.4f} | {c['qps_batch']:,.0f} "
                     f"({c['qps_batch_min']:,.0f}-{c['qps_batch_max']:,.0f}) | {c['loo_recall']:.4f} | {c['gap']:+.4f} |")
    lines += ["", f"Same `sanny bench` run (`bench-*/`), recall >= {at}:", "",
              "| dataset | best hand-picked Sanny | its batch QPS (min-max) | no-flag setting's batch QPS (min-max) | ratio |",
              "|---|---|---|---|---|"]
    for p in sorted(glob.glob(os.path.join(folder, "bench-*", "results.json"))):
        rows = read_json(p)
        hand, auto = _best(rows, at, False), _best(rows, at, True)
        name = os.path.basename(os.path.dirname(p))[len("bench-"):]
        if hand is None or auto is None:
            lines.append(f"| {name} | {'-' if hand is None else _params(hand)} | - | "
                         f"{'did not reach ' + str(at) if auto is None else '-'} | - |")
            continue
        lines.append(f"| {name} | {_params(hand)} | {hand['qps_batch']:,.0f} ({hand['qps_batch_min']:,.0f}-"
                     f"{hand['qps_batch_max']:,.0f}) | {auto['qps_batch']:,.0f} ({auto['qps_batch_min']:,.0f}-"
                     f"{auto['qps_batch_max']:,.0f}) | {auto['qps_batch'] / hand['qps_batch']:.2f}x |")
    lines += ["", "The same two in one process, timed in turns (`--against`): no-flag / hand-picked batch QPS, "
              "median over the rounds (min-max):", "",
              "| dataset | hand-picked | recall no-flag / hand-picked | QPS no-flag | QPS hand-picked | ratio |",
              "|---|---|---|---|---|---|"]
    for c in checks:
        t = c.get("interleaved")
        if t:
            a, h = t["qps"]["no-flag"], t["qps"]["hand-picked"]
            lines.append(f"| {c['dataset']} | {t['hand_picked']} | {t['recall']['no-flag']:.4f} / "
                         f"{t['recall']['hand-picked']:.4f} | {a['median']:,.0f} ({a['min']:,.0f}-{a['max']:,.0f}) | "
                         f"{h['median']:,.0f} ({h['min']:,.0f}-{h['max']:,.0f}) | {t['ratio_median']:.2f}x "
                         f"({t['ratio_min']:.2f}-{t['ratio_max']:.2f}), {t['rounds']} rounds |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(folder, "defaults.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sanny.bench.default_check", description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?")
    p.add_argument("--index")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="write the result as JSON here too")
    p.add_argument("--report", metavar="DIR", help="render DIR/defaults.md from the results there")
    p.add_argument("--against", metavar="BENCH_DIR", help="also time the index in turns against the best "
                   "hand-picked Sanny row of this sanny bench output (rebuilt in this process)")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.report), end="")
        return 0
    if not (args.data and args.index):
        p.error("DATA and --index are needed (or --report DIR)")
    result = check(args.data, args.index, args.k, args.repeats)
    if args.against:
        result["interleaved"] = interleaved(args.data, args.index, args.against, args.k)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
