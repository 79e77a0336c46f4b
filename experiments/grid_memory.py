"""Memory per process of an R x S grid on namespace hosts vs. one embedded process.

Why: spreading an index over R row shards x S subspace groups is meant to let every host hold
only its 1/(R*S) of the slices. This measures what each ``sanny worker`` really holds next to one
process holding the same index, with recall@10 of both at identical settings.

``python -m experiments.grid_memory FILE --out DIR`` — per variant (inner index x keep_vectors),
the same data and IndexConfig (``shards = R``, S subspaces in S groups, F = 1) are built twice,
in this process (embedded workers) and over R*S ``sanny worker`` processes on 127.0.0.1, and
saved. Each is then served from fresh processes (:mod:`.serve_modes`): ``sanny serve --index``
(embedded), and the ``netns`` topology: every worker in its own namespace host, the coordinator
in another (:class:`.netns.Lab`). All test queries go through each service (recall:
:func:`.metrics.recall`, the project's rule); then VmRSS (steady) and VmHWM (peak) of every
process are read from ``/proc``. Nothing is subtracted from those: the baselines are reported
beside them — an idle worker (listening, nothing loaded: read in the build phase) and
``sanny serve`` of an empty index of the same configuration. Per-worker vector counts and
bytes come from the build-time index's cell stats. Writes ``grid-memory.json`` (rows +
provenance), ``grid-memory.md`` and ``grid-memory.png``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys

import numpy as np
from tqdm import tqdm

from sanny.bench import metrics, provenance, serve_modes
from experiments.grid_memory_report import markdown, write
from sanny.bench.datasets import load
from sanny.bench.netns import unavailable
from sanny.bench.procs import status_bytes

log = logging.getLogger(__name__)

BATCH = 100  # queries per Search request


def _mem(pid: int) -> dict:
    return {k: (b / 2**20 if (b := status_bytes(f, pid)) is not None else None)
            for k, f in (("rss_mb", "VmRSS"), ("hwm_mb", "VmHWM"))}


def _answers(address: str, ds, k: int, search: dict) -> np.ndarray:
    s = serve_modes.ServiceSearcher(address, k, search)
    try:
        return np.concatenate([s.decode(s(ds.test[a: a + BATCH])) for a in range(0, len(ds.test), BATCH)])
    finally:
        s.close()


def _cells(ix, S: int) -> list[dict]:
    """Count and bytes of every cell's replica 0, in the workers' address order (shard-major)."""
    cols = ix.info()["workers"]
    return [{k: cols[g]["cells"][r]["replicas"][0].get(k) for k in ("count", "slice_bytes", "index_bytes")}
            | {"widths": cols[g]["widths"], "shard": r, "group": g}
            for r in range(len(cols[0]["cells"])) for g in range(S)]


def variant(ds, cfg, k: int, search: dict, work: str, step) -> dict:
    """Build, serve and measure one configuration both ways (``step(name)`` reports progress)."""
    from sanny.engine import Index
    from sanny.workers.transports import factory_from_config

    R, S = cfg.shards, cfg.workers
    groups, n_workers = [[g] for g in range(S)], cfg.shards * cfg.workers
    logs = os.path.join(work, "logs")
    row: dict = {}
    step("embedded build")
    ix, row["build_s_embedded"] = serve_modes.build(os.path.join(work, "embedded"), cfg, ds)
    try:  # the whole index's slice and inner-index bytes, for the workers' shares
        row["embedded_bytes"] = {k: sum(c[k] for c in ix.info()["workers"]) for k in ("slice_bytes", "index_bytes")}
    finally:
        ix.close(save=False)
    Index.create(os.path.join(work, "empty"), cfg).close()
    step("embedded serve")
    with serve_modes.serve("embedded", os.path.join(work, "empty"), [], [], os.path.join(logs, "empty")) as top:
        row["embedded_baseline"] = _mem(top.coordinator.pid)
    with serve_modes.serve("embedded", os.path.join(work, "embedded"), [], [], os.path.join(logs, "embedded")) as top:
        loaded = _mem(top.coordinator.pid)["rss_mb"]
        emb = _answers(top.address, ds, k, search)
        row["embedded"] = _mem(top.coordinator.pid) | {"loaded_rss_mb": loaded}
    step("grid build")
    dirs = [os.path.join(work, "workers", f"worker-{i}") for i in range(n_workers)]
    with serve_modes.worker_procs(dirs, logs) as ws:
        idle = [_mem(w.pid) for w in ws]
        table = serve_modes.grpc_table([w.address for w in ws], groups, R)
        ix, row["build_s_grid"] = serve_modes.build(os.path.join(work, "grid"), cfg, ds,
                                                    factory_from_config({"workers": table}))
        try:
            cells = _cells(ix, S)
        finally:
            ix.close(save=False)
    step("grid serve (netns)")
    with serve_modes.serve(f"netns{n_workers}", os.path.join(work, "grid"), dirs, groups, os.path.join(logs, "grid"),
                           R) as top:
        loaded = [_mem(p.pid)["rss_mb"] for p in (top.coordinator, *top.workers)]  # the coordinator loaded them
        grid = _answers(top.address, ds, k, search)
        row["coordinator"] = _mem(top.coordinator.pid) | {"loaded_rss_mb": loaded[0]}
        row["workers"] = [{**_mem(w.pid), "loaded_rss_mb": m, "baseline_rss_mb": b["rss_mb"], "address": w.address,
                           **c} for w, m, b, c in zip(top.workers, loaded[1:], idle, cells)]
    row.update(recall_embedded=metrics.recall(ds, emb, k), recall_grid=metrics.recall(ds, grid, k),
               same_answers=float((emb == grid).all(1).mean()))
    return row | ratios(row)


def ratios(row: dict) -> dict:
    """Largest worker over the embedded process: raw VmRSS after the queries, right after loading
    (before any query), raw VmHWM, and net of the baselines."""
    w = max(row["workers"], key=lambda x: x["rss_mb"])
    emb, base = row["embedded"], row["embedded_baseline"]
    return {"ratio_rss": w["rss_mb"] / emb["rss_mb"],
            "ratio_loaded": max(x["loaded_rss_mb"] for x in row["workers"]) / emb["loaded_rss_mb"],
            "ratio_hwm": max(x["hwm_mb"] for x in row["workers"]) / emb["hwm_mb"],
            "ratio_net": (w["rss_mb"] - w["baseline_rss_mb"]) / (emb["rss_mb"] - base["rss_mb"])}


def run(path: str, out: str, inners=("exact", "hnsw"), keeps=(True, False), R: int = 2, S: int = 2, k: int = 10,
        T: int | None = None, epsilon: float | None = None, prefix: int | None = None, keep_work: bool = False):
    """Every inner x keep_vectors variant; returns the rows, or None (logged) where namespaces cannot be made."""
    from sanny.engine import IndexConfig
    from sanny.workers import InnerParams

    why = unavailable()
    if why:
        log.warning("grid-memory skipped: network namespaces unavailable here: %s", why)
        return None
    ds = load(path, prefix=prefix)
    prov = provenance.collect(path)
    search = {key: v for key, v in (("T", T), ("epsilon", epsilon)) if v is not None}
    os.makedirs(out, exist_ok=True)
    plan = [(i, kv) for i in inners for kv in keeps]
    rows = []
    bar = tqdm(total=4 * len(plan), desc="grid-memory", unit="step", file=sys.stderr)
    try:
        for inner, keep in plan:
            cfg = IndexConfig(dim=ds.dim, S=S, workers=S, shards=R, inner=InnerParams(kind=inner), keep_vectors=keep,
                              metric="cosine" if ds.metric == "angular" else "l2", **search)
            work = os.path.join(out, "work", f"{inner}-{'keep' if keep else 'nokeep'}")

            def step(what):  # four steps a variant: each one started closes the one before
                bar.set_postfix_str(f"{inner} keep_vectors={keep}: {what}")
                bar.update(0 if what == "embedded build" else 1)
            row = {"dataset": ds.name, "n": ds.n, "dim": ds.dim, "queries": len(ds.test), "R": R, "S": S, "F": 1,
                   "inner": inner, "keep_vectors": keep, "k": k, "T": cfg.T, "epsilon": cfg.epsilon}
            rows.append(row | variant(ds, cfg, k, search, work, step))
            bar.update(1)
            write(rows, prov, out)
    finally:
        bar.close()
        if not keep_work:
            shutil.rmtree(os.path.join(out, "work"), ignore_errors=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.grid_memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="ann-benchmarks HDF5 file")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--inner", default="exact,hnsw", help="inner index kinds, comma-separated")
    ap.add_argument("--keep-vectors", choices=("both", "yes", "no"), default="both")
    ap.add_argument("--shards", type=int, default=2, help="R")
    ap.add_argument("--S", type=int, default=2, help="subspaces, one group each")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--T", type=int)
    ap.add_argument("--epsilon", type=float)
    ap.add_argument("--prefix", type=int, help="use train[:N] (ground truth recomputed)")
    ap.add_argument("--keep-work", action="store_true", help="keep indexes, worker dirs and logs under OUT/work")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    keeps = {"both": (True, False), "yes": (True,), "no": (False,)}[a.keep_vectors]
    rows = run(a.file, a.out, a.inner.split(","), keeps, a.shards, a.S, a.k, a.T, a.epsilon, a.prefix, a.keep_work)
    if rows is None:
        print("grid-memory: skipped (network namespaces unavailable here; see the warning above)", file=sys.stderr)
        return 0
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
