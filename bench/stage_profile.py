"""Where a single query's time goes: ``python -m sanny.bench.stage_profile DATA.hdf5 --out DIR``.

For Sanny's S=1 settings (SymphonyQG on the raw vectors, faiss HNSW over the PCA head) and the
S=2 SymphonyQG split, each stage of ``Index.search_ids`` is timed on its own over the same
single queries (µs per query, the best of ``--rounds`` interleaved rounds: the machine is
shared), beside the whole call and the bare library's search at the same beam. The split is
timed as shipped (the whole call: ``workers.parallel`` decides), with its subspaces forced in
turn and forced overlapped. A single query on the default shape (S=1 symqg on the raw vectors)
takes the lone-query lane (``engine.lane``), timed on its own too; the pipeline's stages then
show what the lane skips. With one SymphonyQG graph, one batch of every test query is timed
too, against the bare library's batch call. Writes ``DIR/profile.json``; ``sanny bench-report``
renders it under the dataset.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
from tqdm import tqdm

from sanny.engine import Index, IndexConfig, InnerParams, pipeline, rerank
from sanny.engine.config import auto_pca_dim
from sanny.workers import parallel

from .datasets import load
from .provenance import git_state, portable

FILE = "profile.json"


def _build(X, metric, S, kind, pca_dim=0):
    cfg = IndexConfig(dim=X.shape[1], metric=metric, S=S, pca_dim=pca_dim,
                      inner=InnerParams(kind=kind, hnsw_ef_construction=200))
    ix = Index.create(tempfile.mkdtemp(prefix="sanny-profile-"), cfg, overwrite=True)
    if cfg.needs_training:
        ix.train(X[:20000])
    for a in range(0, len(X), 5000):
        ix.insert([str(i) for i in range(a, min(len(X), a + 5000))], X[a:a + 5000])
    ix.build(optimize=True)
    return ix


def _timed(stages: dict, Q, rounds: int) -> dict:
    """µs per query of each ``stages[name](i)`` over the query indices, best of ``rounds``."""
    best = {}
    for _ in range(rounds):
        for name, fn in stages.items():
            t = time.perf_counter_ns()
            for i in range(len(Q)):
                fn(i)
            best[name] = min(best.get(name, np.inf), (time.perf_counter_ns() - t) / len(Q) / 1e3)
    return {k: round(v, 1) for k, v in best.items()}


def _timed_batch(calls: dict, m: int, rounds: int) -> dict:
    """µs per query of each ``calls[name]()`` (one batch of ``m`` queries), best of ``rounds``
    interleaved rounds of 5 calls."""
    best = {}
    for _ in range(rounds):
        for name, fn in calls.items():
            t = time.perf_counter_ns()
            for _ in range(5):
                fn()
            best[name] = min(best.get(name, np.inf), (time.perf_counter_ns() - t) / 5 / m / 1e3)
    return {k: round(v, 2) for k, v in best.items()}


def profile_setting(ix, Q, opts: dict, rounds: int, B: np.ndarray | None = None) -> dict:
    """Stages of single queries ``Q``; with one SymphonyQG graph, also one batch of ``B`` (default ``Q``)."""
    cfg = ix.config
    k, T, ef = 10, opts["T"], opts.get("ef_search", 0)
    params = ix._search_params(cfg.epsilon, ef)
    qs = [Q[i:i + 1] for i in range(len(Q))]
    prep = [ix.prepare_queries(q).x for q in qs]
    proj = [ix.pca.transform_head(p, cfg.space_dim) if ix.pca is not None else p for p in prep]
    blocks = [[np.ascontiguousarray(y[:, c]) for c in ix.columns] for y in proj]
    found = [[w.search(b[j], T, params) for j, w in enumerate(ix.workers)] for b in blocks]
    stages = {"search_ids (whole call)": lambda i: ix.search_ids(qs[i], k, **opts)}
    if ix._lane.search(qs[0], k, T, ef, False) is not None:  # the default shape: the stages below are skipped
        stages["of which the lone-query lane (engine.lane)"] = lambda i: ix._lane.search(qs[i], k, T, ef, False)
    stages["pipeline: validate + normalise"] = lambda i: ix.prepare_queries(qs[i])
    if ix.pca is not None:
        stages["PCA projection"] = lambda i: ix.pca.transform_head(prep[i], cfg.space_dim)
    for j, w in enumerate(ix.workers):
        stages[f"worker {j} search"] = lambda i, j=j, w=w: w.search(blocks[i][j], T, params)
    if len(ix.workers) == 1:
        stages["liveness"] = lambda i: ix.store.is_live(found[i][0][0][0])
        if pipeline._direct(ix, "union"):
            stages["top-k (no re-rank: exact inner distances)"] = lambda i: pipeline._direct_top_k(
                ix, found[i][0][0][0], found[i][0][1][0], k, False)
        else:
            stages["exact re-rank"] = lambda i: rerank.rerank(prep[i], found[i][0][0][0], None, k,
                                                              ix.store.vectors, cfg.metric, False, True)
    else:
        def union_rerank(i):
            ids = np.concatenate([f[0] for f in found[i]])
            d = np.concatenate([f[1] for f in found[i]])
            cand, lb, _, _ = rerank.union(ids, d)
            return rerank.rerank(prep[i], cand, lb, k, ix.store.vectors, cfg.metric, False)
        stages["union + exact re-rank"] = union_rerank
    out = {"stages_us": _timed(stages, Q, rounds)}
    if len(ix.workers) > 1 and parallel.cores() >= 2:
        for name, overlap in (("overlapped", True), ("in turn", False)):
            real, gain = parallel.worth_it, parallel._gain
            parallel.worth_it = lambda n, o=overlap: o  # as if the other cores were idle (or busy)
            parallel._gain = parallel._Gain()
            parallel._gain.pays = lambda: True          # and the hand-off paid
            try:
                out["stages_us"][f"search_ids, subspaces {name}"] = _timed(
                    {"x": lambda i: ix.search_ids(qs[i], k, **opts)}, Q, rounds)["x"]
            finally:
                parallel.worth_it, parallel._gain = real, gain
    inner = ix.workers[0].inners[0]
    graphs = [s.graph for s in getattr(inner, "sealed", {}).values()]  # segments: the sealed graphs
    if len(graphs) == 1 and hasattr(graphs[0], "padded") and len(ix.workers) == 1:  # one SymphonyQG graph
        g = graphs[0]
        pad = [np.pad(b[0], ((0, 0), (0, g.padded - b[0].shape[1]))) for b in blocks]
        out["stages_us"]["bare SymphonyQG search_batch (same ef)"] = _timed(
            {"x": lambda i: g.index.search_batch(pad[i], k, max(ef, k), num_threads=1)}, Q, rounds)["x"]
        out["stages_us"]["bare SymphonyQG search (its one-query call)"] = _timed(
            {"x": lambda i: g.index.search(pad[i], k, max(ef, k))}, Q, rounds)["x"]
        B = Q if B is None else B
        whole = np.pad(B, ((0, 0), (0, g.padded - B.shape[1])))
        out["stages_us"].update(_timed_batch({
            "batch of all: search_ids, per query": lambda: ix.search_ids(B, k, **opts),
            "batch of all: bare SymphonyQG search_batch, per query":
                lambda: g.index.search_batch(whole, k, max(ef, k), num_threads=parallel.cores())}, len(B), rounds))
    return out


def run(path: str, out_dir: str, n: int = 0, queries: int = 200, rounds: int = 9) -> dict:
    ds = load(path, n or None)
    X = ds.train
    Q = np.ascontiguousarray(ds.test[:queries], np.float32)
    B = np.ascontiguousarray(ds.test, np.float32)  # the batch rows: every test query in one call
    metric = "cosine" if ds.metric == "angular" else "l2"
    pca = auto_pca_dim(X.shape[1]) or 0
    settings = [("S=1 symqg (raw vectors)", dict(S=1, kind="symqg"), {"T": 10, "ef_search": 32}),
                (f"S=1 hnsw over PCA {pca}", dict(S=1, kind="hnsw", pca_dim=pca), {"T": 16}),
                ("S=2 symqg union", dict(S=2, kind="symqg"), {"T": 24})]
    rows = []
    for name, build, opts in tqdm(settings, desc="profile", unit="setting"):
        ix = _build(X, metric, **build)
        try:
            rows.append({"setting": name, "query": opts, **profile_setting(ix, Q, opts, rounds, B)})
        finally:
            ix.close(save=False)
    doc = {"dataset": os.path.splitext(os.path.basename(path))[0], "n": len(X), "dim": int(X.shape[1]),
           "queries": len(Q), "batch": len(B), "rounds": rounds, "rows": rows,
           "provenance": {**git_state(), "argv": portable(sys.argv[1:]), "cpus": parallel.cores()}}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, FILE), "w") as f:
        json.dump(doc, f, indent=1)
    return doc


def markdown(doc: dict) -> list[str]:
    """The profile as one table per setting (stage, µs per query)."""
    out = ["### Single-query profile (µs per query)", "",
           f"{doc['queries']} single queries, each stage timed on its own, best of {doc['rounds']} "
           "interleaved rounds" + (f"; the `batch of all` rows time one call with all {doc['batch']} test "
                                  "queries (5 calls per round), per query" if doc.get("batch") else "")
           + "; produced by:", "", "```bash",
           "python -m sanny.bench.stage_profile " + " ".join(doc["provenance"].get("argv", [])), "```", ""]
    names = list(dict.fromkeys(s for r in doc["rows"] for s in r["stages_us"]))
    out += ["| stage | " + " | ".join(r["setting"] for r in doc["rows"]) + " |",
            "|---|" + "---|" * len(doc["rows"])]
    for s in names:
        out.append(f"| {s} | " + " | ".join(f"{r['stages_us'][s]:.1f}" if s in r["stages_us"] else "-"
                                            for r in doc["rows"]) + " |")
    return out + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sanny.bench.stage_profile", description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=0, help="first N train vectors (0: all)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args(argv)
    doc = run(a.dataset, a.out, a.n, a.queries, a.rounds)
    print("\n".join(markdown(doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
