"""Ask for a recall, get the knobs: pick ``T``/``epsilon`` (and optionally ``S``) from held-out
sample queries measured against exact ground truth (``groundtruth``: the benchmark's recall).

Without user queries, a sample of stored vectors is used as queries with each one excluded from
its own results and ground truth (otherwise every query finds itself and recall is inflated).
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from . import groundtruth
from sanny.workers.errors import InvalidArgument

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    target: float
    T: int
    epsilon: float
    recall: float
    qps: float
    met: bool
    table: list[dict] = field(default_factory=list)
    expected: float = 0.0        # one-sided 95 % lower bound of the recall on new queries
    k: int = 10
    n_queries: int = 0
    held_out: str = "leave-one-out"  # or "queries": the caller's query file


Z95 = 1.645  # one-sided 95 % normal quantile: the chosen setting's lower bound must reach the target


def lower_bound(per_query: np.ndarray) -> float:
    """Mean recall minus 1.645 standard errors: what new queries from the same distribution
    reach with 95 % confidence (the sample mean alone misses the target half of the time)."""
    n = len(per_query)
    se = float(per_query.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    return float(per_query.mean()) - Z95 * se


def auto_pca_dim(x: np.ndarray, metric: str, keep: float = 0.80, sample: int = 20_000) -> int:
    """The smallest multiple of 32 (at least 64) whose PCA keeps ``keep`` of the variance of a
    sample; 0 (no PCA) when that is over 3/4 of the dimension (little to gain). Measured on the
    shared sets: 128 of 384 on minilm (81 %), 64 of 2048 on resnet (99 %), the benchmark's best
    settings (the exact re-rank on the full vectors recovers what the PCA drops)."""
    dim = x.shape[1]
    if dim < 128:
        return 0
    s = np.asarray(x[np.random.default_rng(0).permutation(len(x))[:sample]], np.float64)
    if metric == "cosine":
        s /= np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-30)
    s -= s.mean(0)
    ev = np.linalg.svd(s, compute_uv=False) ** 2 if dim > len(s) else np.linalg.eigvalsh(s.T @ s)[::-1]
    frac = np.cumsum(ev) / max(ev.sum(), 1e-30)
    d = int(np.searchsorted(frac, keep) + 1)
    d = max(64, -(-d // 32) * 32)
    return 0 if d > 0.75 * dim else min(d, dim)


def exact_kth(index, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Exact k-th user distance of each query over the coordinator's live vectors."""
    X, live = index.stored_vectors()
    return groundtruth.exact_knn(X, q, k, index.config.metric, live=live, exclude=exclude)[1][:, k - 1]


def sample_queries(index, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if len(index) < 2:
        raise InvalidArgument("index", "tuning needs at least 2 stored vectors")
    return index.sample_vectors(n, seed)


def tune(index, target_recall: float = 0.95, queries: np.ndarray | None = None, k: int = 10,
         n_queries: int = 500, Ts=None, epsilons=(0.0, 0.05, 0.1, 0.2), apply: bool = True,
         progress: bool = True) -> TuneResult:
    if not 0 < target_recall <= 1:
        raise InvalidArgument("target_recall", f"must be in (0, 1], got {target_recall}")
    if not index.config.keep_vectors:
        raise InvalidArgument("index", "tuning needs the coordinator's full vectors (keep_vectors)")
    self_ids = None
    if queries is None:
        queries, self_ids = sample_queries(index, n_queries)
    q = index.prepare_queries(np.asarray(queries, np.float32))
    k = min(k, len(index) - (1 if self_ids is not None else 0))
    kth = exact_kth(index, q.x, k, self_ids)
    X, _ = index.stored_vectors()
    Ts = Ts or sorted({t for t in (k, 2 * k, 3 * k, 5 * k, 10 * k, 20 * k, 40 * k, 80 * k) if t <= 100_000})
    Ts = [t for t in Ts if t < len(index)] or [min(Ts)]
    rows = []
    kk = k + (self_ids is not None)
    bar = tqdm(total=len(Ts) * len(epsilons), desc="tune", disable=not progress, leave=False)
    for T in Ts:  # growing T costs time: stop at the first T where a setting reaches the target
        for eps in epsilons:
            t0 = time.perf_counter()
            ids, _ = index.search_ids(q, kk, T=max(T, kk), epsilon=eps)
            dt = time.perf_counter() - t0
            if self_ids is not None:  # drop each query's own id, keep the next k
                ids = np.where(ids != self_ids[:, None], ids, -1)
                ids = np.take_along_axis(ids, np.argsort(ids < 0, axis=1, kind="stable"), 1)
            found = groundtruth.distances_to(X, q.x, ids[:, :k], index.config.metric)
            per_query = groundtruth.recall_per_query(found, kth, k)
            rows.append({"T": int(T), "epsilon": float(eps), "recall": float(per_query.mean()),
                         "expected": lower_bound(per_query), "qps": len(q) / dt})
            bar.update()
        if any(r["expected"] >= target_recall for r in rows):
            break
    bar.close()
    good = [r for r in rows if r["expected"] >= target_recall]
    best = max(good, key=lambda r: (r["qps"], -r["T"])) if good else max(rows, key=lambda r: (r["expected"], r["qps"]))
    if not good:
        log.warning("no setting reached recall %.3f; best was %.3f (T=%d, epsilon=%g)",
                    target_recall, best["recall"], best["T"], best["epsilon"])
    if apply:
        index.set_defaults(T=best["T"], epsilon=best["epsilon"])
    return TuneResult(target_recall, best["T"], best["epsilon"], best["recall"], best["qps"], bool(good), rows,
                      expected=best["expected"], k=k, n_queries=len(q),
                      held_out="leave-one-out" if self_ids is not None else "queries")


def choose_S(vectors: np.ndarray, config, S_values, target_recall: float = 0.95,
             sample: int = 20_000, progress: bool = True) -> tuple[int, list[dict]]:
    """Build a throw-away index per ``S`` on a sample, tune each, return the ``S`` with the best
    QPS at the target recall (the highest recall if none reaches it) and the table."""
    from .index import Index

    x = vectors[np.random.default_rng(0).permutation(len(vectors))[:sample]]
    rows = []
    for S in tqdm(list(S_values), desc="choose S", disable=not progress):
        cfg = dataclasses.replace(config, S=int(S))
        with tempfile.TemporaryDirectory(prefix="sanny-tuneS-") as tmp:
            ix = Index.create(tmp, cfg, overwrite=True)
            try:
                if cfg.needs_training:
                    ix.train(x)
                t0 = time.perf_counter()
                ix.insert([str(i) for i in range(len(x))], x)
                ix.build()
                build_s = time.perf_counter() - t0
                r = tune(ix, target_recall, apply=False, progress=False)
            finally:
                ix.close(save=False)
        rows.append({"S": int(S), "T": r.T, "epsilon": r.epsilon, "recall": r.recall,
                     "qps": r.qps, "met": r.met, "build_s": build_s})
    good = [r for r in rows if r["met"]]
    best = max(good, key=lambda r: r["qps"]) if good else max(rows, key=lambda r: r["recall"])
    return best["S"], rows
