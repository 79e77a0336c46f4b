"""Ask for a recall, get the knobs: sweep the search knobs the inner index uses (``T`` and the
beam ``ef_search`` for the graphs, ``T`` and ``epsilon`` for NGT), measure recall@k on held-out
queries against exact ground truth (``groundtruth``: the benchmark's recall) and time each
setting several times.

Without user queries, a sample of stored vectors is used as queries with each one excluded from
its own results and ground truth (otherwise every query finds itself and recall is inflated).
Stored vectors are easier queries than real ones (minilm's test queries: ~0.02 lower recall
at the same setting, bench/results/defaults), so leave-one-out tuning asks for ``LOO_MARGIN`` more; with real queries it
also reports the leave-one-out recall of the chosen setting, i.e. the gap.
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

Z95 = 1.645  # one-sided 95 % normal quantile: the chosen setting's lower bound must reach the target
LOO_MARGIN = 0.025  # leave-one-out over real-query recall on the shared sets: bench/results/defaults
BEAMS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
GRAPHS = ("symqg", "hnsw", "hnsw_sq")


@dataclass
class TuneResult:
    target: float
    T: int
    epsilon: float
    recall: float
    qps: float
    met: bool
    table: list[dict] = field(default_factory=list)
    expected: float = 0.0        # lower bound of the recall on new queries (see tune)
    k: int = 10
    n_queries: int = 0
    held_out: str = "leave-one-out"  # or "queries": the caller's query file
    ef_search: int = 0
    qps_min: float = 0.0
    qps_max: float = 0.0
    loo_recall: float | None = None  # leave-one-out recall of the chosen setting, with real queries

    @property
    def gap(self) -> float | None:
        """Leave-one-out minus real-query recall at the chosen setting (None without both)."""
        return None if self.loo_recall is None or self.held_out != "queries" else self.loo_recall - self.recall


def lower_bound(per_query: np.ndarray) -> float:
    """Mean recall minus 1.645 standard errors: what new queries from the same distribution
    reach with 95 % confidence (the sample mean alone misses the target half of the time)."""
    n = len(per_query)
    se = float(per_query.std(ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    return float(per_query.mean()) - Z95 * se


def plan(kind: str, k: int, n: int, epsilons=(0.0, 0.05, 0.1, 0.2)) -> list[list[dict]]:
    """Stages of settings, cheapest first; tuning stops after the first stage that reaches the
    target. Graphs: beam ``ef_search`` growing, re-ranking ``T = k`` or the whole beam (``T =
    ef``: what a PCA's re-rank needs); NGT: ``T`` growing x ``epsilon``; exact: ``T`` growing."""
    Ts = sorted({t for t in (k, 2 * k, 3 * k, 5 * k, 10 * k, 20 * k, 40 * k, 80 * k) if t <= 100_000})
    if kind in GRAPHS:
        stages = [[{"T": k, "ef_search": ef}] + ([{"T": ef, "ef_search": ef}] if ef > k else [])
                  for ef in sorted({k, *BEAMS}) if ef >= k]
    elif kind == "ngt":
        stages = [[{"T": T, "epsilon": e} for e in epsilons] for T in Ts]
    else:  # exact subspaces: only T (a split or a PCA needs more than k candidates)
        stages = [[{"T": T}] for T in Ts]
    fits = [[s for s in st if s["T"] < n] for st in stages]
    return [st for st in fits if st] or [[{"T": k}]]


def exact_kth(index, q: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Exact k-th user distance of each query over the coordinator's live vectors."""
    X, live = index.stored_vectors()
    return groundtruth.exact_knn(X, q, k, index.config.metric, live=live, exclude=exclude)[1][:, k - 1]


def sample_queries(index, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if len(index) < 2:
        raise InvalidArgument("index", "tuning needs at least 2 stored vectors")
    return index.sample_vectors(n, seed)


class _Probe:
    """Held-out queries with their exact k-th distances; ``measure`` runs one setting."""

    def __init__(self, index, queries, self_ids, k: int):
        self.index, self.self_ids = index, self_ids
        self.q = index.prepare_queries(np.asarray(queries, np.float32))
        self.k = min(k, len(index) - (1 if self_ids is not None else 0))
        self.kth = exact_kth(index, self.q.x, self.k, self_ids)

    def measure(self, setting: dict, repeats: int) -> dict:
        k, ix = self.k, self.index
        kk = k + (self.self_ids is not None)
        kw = {"T": max(setting["T"], kk), "ef_search": setting.get("ef_search", 0)}
        if "epsilon" in setting:
            kw["epsilon"] = setting["epsilon"]
        ids, _ = ix.search_ids(self.q, kk, **kw)  # the scored run, also the warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ix.search_ids(self.q, kk, **kw)
            times.append(time.perf_counter() - t0)
        if self.self_ids is not None:  # drop each query's own id, keep the next k
            ids = np.where(ids != self.self_ids[:, None], ids, -1)
            ids = np.take_along_axis(ids, np.argsort(ids < 0, axis=1, kind="stable"), 1)
        X, _ = ix.stored_vectors()
        found = groundtruth.distances_to(X, self.q.x, ids[:, :k], ix.config.metric)
        per_query = groundtruth.recall_per_query(found, self.kth, k)
        qps = sorted(len(self.q) / t for t in times) or [0.0]  # repeats=0: recall only
        return {**setting, "recall": float(per_query.mean()), "expected": lower_bound(per_query),
                "qps": float(np.median(qps)), "qps_min": qps[0], "qps_max": qps[-1]}


def loo_recall(index, setting: dict, k: int = 10, n_queries: int = 500) -> float:
    """Leave-one-out recall@k of one setting (``T``, ``ef_search``, ``epsilon``) over stored vectors."""
    return _Probe(index, *sample_queries(index, n_queries), k).measure(setting, 0)["recall"]


def tune(index, target_recall: float = 0.95, queries: np.ndarray | None = None, k: int = 10,
         n_queries: int = 500, epsilons=(0.0, 0.05, 0.1, 0.2), apply: bool = True,
         progress: bool = True, repeats: int = 3, margin: float | None = None) -> TuneResult:
    """The fastest setting whose expected recall reaches ``target_recall``. Expected: the
    one-sided 95 % lower bound of the mean, minus ``margin`` (default ``LOO_MARGIN`` for
    leave-one-out, 0 with the caller's queries). QPS: median of ``repeats`` timed runs."""
    if not 0 < target_recall <= 1:
        raise InvalidArgument("target_recall", f"must be in (0, 1], got {target_recall}")
    if not index.config.keep_vectors:
        raise InvalidArgument("index", "tuning needs the coordinator's full vectors (keep_vectors)")
    self_ids = None
    if queries is None:
        queries, self_ids = sample_queries(index, n_queries)
    margin = (LOO_MARGIN if self_ids is not None else 0.0) if margin is None else margin
    probe = _Probe(index, queries, self_ids, k)
    stages = plan(index.config.inner.kind, probe.k, len(index), epsilons)
    rows = []
    bar = tqdm(total=sum(map(len, stages)), desc="tune", disable=not progress, leave=False)
    for stage in stages:  # a wider beam costs time: stop at the first stage reaching the target
        for setting in stage:
            r = probe.measure(setting, repeats)
            r["expected"] -= margin
            rows.append(r)
            bar.update()
        if any(r["expected"] >= target_recall for r in rows):
            break
    bar.close()
    good = [r for r in rows if r["expected"] >= target_recall]
    best = max(good, key=lambda r: (r["qps"], -r["T"])) if good else max(rows, key=lambda r: (r["expected"], r["qps"]))
    if not good:
        log.warning("no setting reached recall %.3f; best was %.3f (%s)", target_recall, best["recall"], _knobs(best))
    loo = None
    if self_ids is None and len(index) > 2:  # real queries: how far would leave-one-out have been off?
        loo = loo_recall(index, best, k, n_queries)
    eps = best.get("epsilon", index.config.epsilon)
    if apply:
        index.set_defaults(T=best["T"], epsilon=eps, ef_search=best.get("ef_search", 0))
    return TuneResult(target_recall, best["T"], eps, best["recall"], best["qps"], bool(good), rows,
                      expected=best["expected"], k=probe.k, n_queries=len(probe.q),
                      held_out="leave-one-out" if self_ids is not None else "queries",
                      ef_search=best.get("ef_search", 0), qps_min=best["qps_min"], qps_max=best["qps_max"],
                      loo_recall=loo)


def _knobs(r: dict) -> str:
    return " ".join(f"{n}={r[n]}" for n in ("T", "ef_search", "epsilon") if n in r)


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
        rows.append({"S": int(S), "T": r.T, "epsilon": r.epsilon, "ef_search": r.ef_search, "recall": r.recall,
                     "qps": r.qps, "met": r.met, "build_s": build_s})
    good = [r for r in rows if r["met"]]
    best = max(good, key=lambda r: r["qps"]) if good else max(rows, key=lambda r: r["recall"])
    return best["S"], rows
