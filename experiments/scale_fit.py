"""The scale model's terms, each measured on its own (micro-measurements; never the end-to-end
validation runs of ``experiments/scale_model.py``), and the least-squares fits that turn them into
functions of the configuration.

- ``sub``: one subspace search of one query on a ``LocalWorker`` with the default inner index
  (faiss HNSW, beam ``T``) over ``n`` rows of width ``w``, ``s`` subspace indexes searched in
  turn by the process: ``a + a' w + log2(n) * (b + c w + e log2 s)``, fitted over a grid;
- ``coord``: the coordinator's whole part of one ``Index.search`` call — checks, the search
  batcher (``engine/coalesce.py``), the fan-out, the R-shard merge of each grid column
  (``engine/grid.py``), the union of the S lists and the exact re-rank — measured on real
  indexes whose workers are stubs answering instantly with T distinct ids per subspace, over a
  grid of (S, groups, R, d): ``c0 + c1 G + c2 S + c3 S T d + [R > 1] G (c4 + c5 R)``;
- ``hop``: the round trips to ``k`` remote workers called in parallel (``sanny worker``
  processes on loopback), ``h1 + (k - 1) h_extra``: a tiny exact index served by 1 worker, by
  2 groups and by 2 row shards, less the same index in process;
- ``graph_bytes_per_vector``: faiss' serialised HNSW less its copy of the vectors, per vector.

Each ``*_setup(stack, fns)`` builds its indexes (closed by ``stack``), registers its timed
calls in ``fns`` and returns ``done(times)``; :func:`interleaved` times every registered call
together with the validation runs (``scale_model.run``).
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time

import numpy as np

from sanny.workers import Worker

from sanny.bench.synthetic import clustered

T, K = 40, 10
CALLS = 50  # timed single queries per key and round (many short rounds: the noise is bursty)


def interleaved(fns: dict, calls: int, rounds: int = 5) -> dict:
    """Per key, the median seconds of ``fns[key](i)`` for ``i < calls``: one warm-up pass of
    each, then ``rounds`` rounds that time every key's calls in turn (a load that comes and goes
    on this shared machine then weighs on every key alike). ``{key: {median, min, max}}`` of
    the per-round medians."""
    for fn in fns.values():
        for i in range(calls):
            fn(i)
    meds: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            ts = []
            for i in range(calls):
                t0 = time.perf_counter()
                fn(i)
                ts.append(time.perf_counter() - t0)
            meds[k].append(float(np.median(ts)))
    return {k: {"median": float(np.median(v)), "min": min(v), "max": max(v)} for k, v in meds.items()}


# -- fits (pure arithmetic) ---------------------------------------------------------------
def _lstsq(rows: list[list[float]], y: list[float]) -> list[float]:
    return np.linalg.lstsq(np.array(rows, float), np.array(y, float), rcond=None)[0].tolist()


def sub_features(n: float, w: float, s: int = 1) -> list[float]:
    """One subspace search: fixed + per dimension (the query's own work) + per visited node
    (``log2 n``; its distance ``x w``; its cache misses when ``s`` subspace indexes share the
    process, searched in turn)."""
    L = math.log2(max(n, 2))
    return [1.0, w, L, L * w, L * math.log2(max(s, 1))]


def coord_features(S: int, G: int, R: int, d: int) -> list[float]:
    """The coordinator: fixed + per worker call + union (S > 1: fixed, per listed id) + re-rank
    (per candidate dimension, at most S T d) + per grid column (R > 1) and per cell in it."""
    shard = 1.0 if R > 1 else 0.0
    return [1.0, G, float(S > 1), S * T, S * T * d, shard * G, shard * G * R]


def hop_features(k: int) -> list[float]:
    """``k`` remote calls at once: one round trip, and each further call's share."""
    return [1.0, k - 1]


def fit(points: list[dict], features) -> list[float]:
    """Least squares of ``point['s']`` on ``features(**point['x'])``."""
    return _lstsq([features(**p["x"]) for p in points], [p["s"] for p in points])


def term(coef: list[float], features, **x) -> float:
    """A fitted term at ``x`` (never below zero)."""
    return max(float(np.dot(coef, features(**x))), 0.0)


def residuals(coef: list[float], points: list[dict], features) -> dict:
    """How well a fit reproduces its own micro-measurements: relative errors' median and worst."""
    err = [term(coef, features, **p["x"]) / p["s"] - 1 for p in points if p["s"] > 0]
    worst = max(err, key=abs) if err else 0.0
    return {"median_abs": float(np.median(np.abs(err))) if err else 0.0, "worst": float(worst)}


# -- sub: one subspace search ---------------------------------------------------------------
def _local(n: int, w: int, s: int, seed: int = 0):
    """A worker holding ``s`` subspaces of width ``w`` over ``n`` rows (default inner index)."""
    from sanny.workers import InnerParams, LocalWorker, WorkerSpec

    lw = LocalWorker(WorkerSpec(list(range(s)), [w] * s, "l2", InnerParams(threads=1, compact=False)))
    lw.insert(np.arange(n), clustered(n, w * s, seed, n_clusters=32))
    lw.build(True)  # every row into one sealed graph per subspace
    return lw


SUB_GRID = [(n, w, s) for n in (4000, 16000, 64000) for w, s in ((8, 1), (24, 1), (64, 1), (128, 1), (8, 4), (24, 4))]


def sub_setup(stack, fns: dict, grid=SUB_GRID, calls: int = CALLS):
    """Registers in ``fns`` one query searching every subspace of each grid worker; returns
    ``done(times) -> (points, graph bytes per vector)``: per subspace, and the HNSW link bytes
    (faiss' serialised index less its vectors) per vector."""
    import faiss

    from sanny.workers import SearchParams

    p, graph = SearchParams(), []
    for n, w, s in grid:
        lw = _local(n, w, s)
        stack.callback(lw.close)
        q = clustered(calls, w * s, 1, n_clusters=32)
        fns[("sub", n, w, s)] = lambda i, lw=lw, q=q: lw.search(q[i: i + 1], T, p)
        index = next(iter(lw.inners[0].sealed.values())).graph.index  # the one faiss HNSW
        graph.append((len(faiss.serialize_index(index)) - 4 * w * index.ntotal) / index.ntotal)

    def done(times: dict):
        points = []
        for n, w, s in grid:
            t = {k: v / s for k, v in times[("sub", n, w, s)].items()}
            points.append({"x": {"n": n, "w": w, "s": s}, "s": t["median"], "spread": t})
        return points, float(np.median(graph))
    return done


# -- coord: the coordinator with stub workers -------------------------------------------------
class StubWorker(Worker):
    """Answers every single-query search at once from a pool of canned answers (``T`` distinct
    random ids per subspace, sorted distances, drawn when it is made), so a search's time is
    the coordinator's own. Runs in process."""

    in_process = True

    def __init__(self, spec, rows: int, seed: int, pool: int = 16):
        rng, g = np.random.default_rng(seed), len(spec.widths)
        self.spec, self.rows, self._next = spec, rows, 0
        self._pool = [(np.stack([rng.choice(rows, T, replace=False)[None] for _ in range(g)]).astype(np.int64),
                       np.sort(rng.random((g, 1, T)).astype(np.float32), axis=2)) for _ in range(pool)]

    def insert(self, ids, slices) -> None:
        pass

    def remove(self, ids) -> None:
        pass

    def build(self, optimize: bool = False) -> None:
        pass

    def search(self, queries, T_, params=None):
        self._next = (self._next + 1) % len(self._pool)
        return self._pool[self._next]

    def partial_distances(self, queries, candidate_ids):
        return np.zeros(np.shape(candidate_ids), np.float32)

    def save(self, path: str) -> None:
        pass

    def load(self, path: str) -> None:
        pass

    def stats(self) -> dict:
        return {"count": self.rows, "index_bytes": 0, "slice_bytes": 0}


@contextlib.contextmanager
def stub_index(tmp: str, S: int, G: int, R: int, d: int, n: int = 4000):
    """A real index over ``n`` rows whose workers are :class:`StubWorker`\\ s."""
    from sanny.engine import Index, IndexConfig

    ix = Index.create(f"{tmp}/ix", IndexConfig(dim=d, S=S, workers=G, shards=R, T=T),
                      worker_factory=lambda spec, site: StubWorker(spec, n // R, 97 * site.rank + site.shard))
    try:
        ix.insert([str(i) for i in range(n)], clustered(n, d, 0, n_clusters=32))
        yield ix
    finally:
        ix.close(save=False)


COORD_GRID = [(S, G, R, d) for d in (32, 256, 2048) for S in (1, 2, 4, 8, 16) for G in sorted({1, S})
              for R in (1, 2, 4)]


def coord_setup(stack, fns: dict, grid=COORD_GRID, calls: int = CALLS):
    """Registers single-query ``Index.search`` calls over stub workers; ``done(times) -> points``."""
    qs = {d: clustered(calls, d, 1, n_clusters=32) for d in {g[3] for g in grid}}
    for S, G, R, d in grid:
        ix = stack.enter_context(stub_index(stack.enter_context(tempfile.TemporaryDirectory()), S, G, R, d))
        fns[("coord", S, G, R, d)] = lambda i, ix=ix, q=qs[d]: ix.search(q[i: i + 1], K)

    def done(times: dict):
        return [{"x": {"S": S, "G": G, "R": R, "d": d}, "s": times[("coord", S, G, R, d)]["median"],
                 "spread": times[("coord", S, G, R, d)]} for S, G, R, d in grid]
    return done


# -- hop: remote round trips ---------------------------------------------------------------
@contextlib.contextmanager
def remote_index(tmp: str, x, S: int, G: int, R: int, workers: int, kind: str = "hnsw"):
    """An index over ``x``: in process (``workers == 0``), or on ``workers`` ``sanny worker``
    processes (``R x G`` of them) on loopback."""
    from sanny.engine import Index, IndexConfig, InnerParams

    from sanny.bench.serve_modes import worker_procs
    from sanny.workers.transports import factory_from_config

    with contextlib.ExitStack() as stack:
        factory = None
        if workers:
            dirs = [os.path.join(tmp, f"w{i}") for i in range(workers)]
            procs = stack.enter_context(worker_procs(dirs, tmp))
            factory = factory_from_config({"workers": {"transport": "grpc", "shards": R,
                                                       "addresses": [p.address for p in procs]}})
        ix = Index.create(f"{tmp}/ix", IndexConfig(dim=x.shape[1], S=S, workers=G, shards=R, T=T,
                                                   inner=InnerParams(kind=kind, threads=1)), worker_factory=factory)
        try:
            ix.insert([str(i) for i in range(len(x))], x)
            ix.build()
            yield ix, (procs if workers else [])
        finally:
            ix.close(save=False)


HOP_GRID = ((1, 1, 1), (2, 2, 1), (1, 1, 2))  # (S, G, R): one worker; two groups; two row shards


def hop_setup(stack, fns: dict, grid=HOP_GRID, calls: int = CALLS):
    """Registers a tiny exact index on ``k = G x R`` worker processes and the same in process;
    ``done(times) -> points``: remote less in-process latency."""
    x, q = clustered(256, 8, 0), clustered(calls, 8, 1)
    for S, G, R in grid:
        for workers in (0, G * R):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            ix, _ = stack.enter_context(remote_index(tmp, x, S, G, R, workers, "exact"))
            fns[("hop", S, G, R, workers)] = lambda i, ix=ix: ix.search(q[i: i + 1], K)

    def done(times: dict):
        t = {key[1:]: v["median"] for key, v in times.items() if key[0] == "hop"}
        return [{"x": {"k": G * R}, "s": max(t[S, G, R, G * R] - t[S, G, R, 0], 0.0), "S": S, "G": G, "R": R,
                 "remote": t[S, G, R, G * R], "local": t[S, G, R, 0]} for S, G, R in grid]
    return done


def setup(stack, fns: dict, calls: int = CALLS):
    """Every micro-measurement registered in ``fns``; ``done(times) -> model``."""
    sub, coord, hop = (f(stack, fns, calls=calls) for f in (sub_setup, coord_setup, hop_setup))

    def done(times: dict) -> dict:
        return model(*sub(times), coord(times), hop(times))
    return done


def model(sub: list[dict], graph: float, coord: list[dict], hop: list[dict]) -> dict:
    """The fitted terms, their points and how well each fit reproduces its points."""
    m = {"T": T, "k": K, "graph_bytes_per_vector": graph}
    for name, points, features in (("sub", sub, sub_features), ("coord", coord, coord_features),
                                   ("hop", hop, hop_features)):
        m[name] = fit(points, features)
        m[name + "_points"] = points
        m[name + "_fit"] = residuals(m[name], points, features)
    return m
