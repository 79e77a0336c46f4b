"""The runbook of ``sanny bench-churn`` (FreshDiskANN / big-ann-benchmarks streaming style).

Per inner kind and mode: load the first N train rows (the rest held back), ``Index.build()``,
measure; then cycles, each deleting ``share`` of the live vectors, inserting as many held-back
rows (deleted rows rejoin the back of the held-back queue, under new keys) and upserting
``share`` of the live keys with their unchanged vectors. Each cycle is measured right after its
writes and again once the index settles (``Index.wait_compaction`` where the engine has it, then
a save, as a server's checkpoint would); every ``fresh_every`` cycles, and at the first and last,
a new index is built over the same live vectors in a child process (:mod:`.churn_fresh`).
Ground truth is exact over the live set, computed here before each cycle's writes.

The burst: a new index over the first N rows takes ``burst`` x N upserts of its own keys with
unchanged vectors (``burst_vectors="swap"``: real changes, every key back on its own vector at
the end), then is measured right away and every ``step`` seconds for ``settle``
seconds, with no maintenance call (its fresh reference is cycle 0's: the same live rows).
Each run (cycles, burst) of each inner kind and mode runs in its own spawned process
(:func:`isolated`).
"""
from __future__ import annotations

import collections
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from tqdm import tqdm

from sanny.engine.groundtruth import exact_knn

from .churn_fresh import run_fresh, train_sample
from .churn_site import load_rows, measure, open_site, recall, settle, state

SEP = "~"  # a re-inserted row's key is ROW~GENERATION


def row_of(key: str) -> int:
    return int(key.split(SEP, 1)[0])


class Plan:
    """Which rows are live under which key; the queue of rows waiting to be inserted."""

    def __init__(self, total: int, n: int, seed: int = 0):
        self.key = {r: str(r) for r in range(n)}  # live row -> key
        self.seen = set(self.key)                 # rows ever inserted (a second time: a new key)
        self.queue = collections.deque(range(n, total))
        self.gen = 0
        self.rng = np.random.default_rng(seed)

    def live_mask(self, total: int) -> np.ndarray:
        m = np.zeros(total, bool)
        m[list(self.key)] = True
        return m

    def cycle(self, share: float) -> dict:
        """This cycle's writes (applied to the plan at once): ``delete`` keys, ``insert``
        (keys, rows), ``upsert`` (keys, rows) of live keys, vectors unchanged."""
        self.gen += 1
        live = np.array(sorted(self.key))
        m = max(1, int(round(share * len(live))))
        gone = self.rng.choice(live, size=min(m, len(live)), replace=False)
        delete = [self.key.pop(int(r)) for r in gone]
        stay = np.array(sorted(self.key))
        ups = sorted(int(r) for r in self.rng.choice(stay, size=min(m, len(stay)), replace=False))
        new = [self.queue.popleft() for _ in range(min(m, len(self.queue)))]
        self.queue.extend(int(r) for r in gone)
        for r in new:
            self.key[r] = f"{r}{SEP}{self.gen}" if r in self.seen else str(r)
            self.seen.add(r)
        return {"delete": delete, "insert": ([self.key[r] for r in new], new),
                "upsert": ([self.key[r] for r in ups], ups)}


def _batches(fn, keys: list, x: np.ndarray | None, batch: int) -> None:
    for a in range(0, len(keys), batch):
        fn(keys[a: a + batch]) if x is None else fn(keys[a: a + batch], x[a: a + batch])


def burst_rows(i: np.ndarray, n: int, total: int, vectors: str = "same") -> np.ndarray:
    """Rows whose vectors the burst's ``i``-th upserts (of key ``i % n``) write: the key's own
    (``same``), or with ``swap`` another row's on even passes over the keys and its own on odd
    ones and in the last N upserts, so every key ends on its own (the ground truth holds after
    the burst) and every write is a change when ``burst`` is an even number."""
    own = i % n
    if vectors == "same":
        return own
    away = ((i // n) % 2 == 0) & (i < total - n)
    return np.where(away, (own + n // 2) % n, own)


class Runner:
    """One dataset's runs; ``opts``: k, search options, repeats, singles, batch, share, ..."""

    def __init__(self, data, opts: dict, work: str):
        self.data, self.o, self.work = data, opts, work
        self.metric = "angular" if data.metric == "angular" else "euclidean"

    def kth(self, live: np.ndarray) -> np.ndarray:
        _ids, d = exact_knn(self.data.train, self.data.test, self.o["k"], self.metric, live=live)
        return d[:, self.o["k"] - 1]

    def _measure(self, site, kth, repeats=None, singles=None) -> dict:
        o, d = self.o, self.data

        def rec(ids):
            return recall(site.ix, ids, row_of, d.train, d.test, kth, o["k"], self.metric)
        return measure(site, d.test, kth, o["k"], o["search"], repeats or o["repeats"],
                       o["singles"] if singles is None else singles, rec)

    def _start(self, site, bar=None) -> float:
        n = self.o["n"]
        if site.ix.config.needs_training:
            site.ix.train(train_sample(self.data.train[:n]))
        t0 = time.perf_counter()
        load_rows(site, [str(r) for r in range(n)], self.data.train[:n], self.o["batch"], bar)
        return time.perf_counter() - t0

    def fresh(self, cfg, mode: str, rows: list[int], kth, tag: str) -> dict:
        o = self.o
        return run_fresh(mode=mode, cfg=cfg, x=self.data.train[np.sort(rows)], test=self.data.test, kth=kth,
                         k=o["k"], metric=self.metric, opts=o["search"], repeats=o["repeats"],
                         singles=o["singles"], batch=o["batch"], settle_timeout=o["settle_timeout"],
                         work=os.path.join(self.work, f"fresh-{tag}"))

    def cycles(self, cfg, kind: str, mode: str, emit) -> None:
        """Cycle 0 (the fresh load) and ``cycles`` churn cycles; ``emit(row)`` for each row."""
        o, total = self.o, self.data.n
        plan = Plan(total, o["n"], o["seed"])
        fresh_at = {0, o["cycles"], *range(0, o["cycles"] + 1, o["fresh_every"])}
        base = {"inner": kind, "mode": mode}
        root = os.path.join(self.work, f"{kind}-{mode}")
        with open_site(mode, root, cfg, os.path.join(self.work, "logs", f"{kind}-{mode}")) as site, \
                tqdm(total=o["cycles"] + 1, desc=f"churn {kind}/{mode}", unit="cycle") as bar:
            build_s = self._start(site)
            for c in range(o["cycles"] + 1):
                w = plan.cycle(o["share"]) if c else None
                kth = self.kth(plan.live_mask(total))
                row = {**base, "cycle": c, "live": len(plan.key)}
                cpu0, t0 = site.cpu(), time.perf_counter()
                if w:
                    ix = site.ix
                    _batches(ix.remove, w["delete"], None, o["batch"])
                    _batches(ix.insert, w["insert"][0], self.data.train[w["insert"][1]], o["batch"])
                    _batches(ix.upsert, w["upsert"][0], self.data.train[w["upsert"][1]], o["batch"])
                    row.update(writes={k: len(w[k]) if k == "delete" else len(w[k][0]) for k in w})
                else:
                    row["build_s"] = build_s
                row.update(write_s=time.perf_counter() - t0, write_cpu_s=site.cpu() - cpu0)
                emit({**row, "phase": "after_writes", **self._measured(site, kth)})
                cpu0 = site.cpu()
                wait = settle(site.ix, o["settle_timeout"])
                row.update(wait, settle_cpu_s=site.cpu() - cpu0)
                t0 = time.perf_counter()
                site.ix.save()
                row["save_s"] = time.perf_counter() - t0
                emit({**row, "phase": "settled", **self._measured(site, kth)})
                if c in fresh_at:
                    bar.set_postfix_str("fresh build")
                    emit({**base, "cycle": c, "live": len(plan.key), "phase": "fresh",
                          **self.fresh(cfg, mode, list(plan.key), kth, f"{kind}-{mode}-{c}")})
                    bar.set_postfix_str("")
                bar.update(1)

    def _measured(self, site, kth, **kw) -> dict:
        cpu0 = site.cpu()
        m = self._measure(site, kth, **kw)
        return {**m, "measure_cpu_s": site.cpu() - cpu0, **state(site)}

    def burst(self, cfg, kind: str, mode: str, emit) -> None:
        """``burst`` x N upserts of the first N keys (unchanged vectors) into a new index, then
        a timeline of measurements every ``step`` s for ``settle`` s; no maintenance call."""
        o, n = self.o, self.o["n"]
        kth = self.kth(Plan(self.data.n, n).live_mask(self.data.n))
        base = {"inner": kind, "mode": mode, "live": n}
        root = os.path.join(self.work, f"{kind}-{mode}-burst")
        total = int(round(o["burst"] * n))
        with open_site(mode, root, cfg, os.path.join(self.work, "logs", f"{kind}-{mode}-burst")) as site:
            self._start(site)
            emit({**base, "phase": "burst_before", "t_s": None, **self._measured(site, kth)})
            cpu0, t0 = site.cpu(), time.perf_counter()
            with tqdm(total=total, desc=f"burst {kind}/{mode}", unit="upsert") as bar:
                for a in range(0, total, o["batch"]):
                    i = np.arange(a, min(a + o["batch"], total))
                    rows = i % n
                    site.ix.upsert([str(r) for r in rows], self.data.train[burst_rows(i, n, total, o.get("burst_vectors", "same"))])
                    bar.update(len(rows))
            write = {"upserts": total, "burst_vectors": o.get("burst_vectors", "same"),
                     "write_s": time.perf_counter() - t0, "write_cpu_s": site.cpu() - cpu0}
            end, cpu_end = time.monotonic(), site.cpu()
            with tqdm(total=o["settle"], desc=f"after burst {kind}/{mode}", unit="s") as bar:
                at, first = 0.0, True
                while at <= o["settle"]:  # a point per step; ticks missed while measuring are skipped
                    delay = end + at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    t = time.monotonic() - end
                    m = self._measured(site, kth, repeats=1, singles=min(o["singles"], 100))
                    emit({**base, "phase": "burst", "t_s": t, "cpu_since_s": site.cpu() - cpu_end,
                          **(write if first else {}), **m})
                    first = False
                    at = (int((time.monotonic() - end) // o["step"]) + 1) * o["step"]
                    bar.update(min(at, o["settle"]) - bar.n)
            wait = settle(site.ix, o["settle_timeout"])
            if wait["waited"]:
                emit({**base, "phase": "burst_settled", "t_s": time.monotonic() - end, **wait,
                      **self._measured(site, kth)})


def _run(method: str, data, opts: dict, work: str, cfg, kind: str, mode: str) -> list[dict]:
    rows: list[dict] = []
    getattr(Runner(data, opts, work), method)(cfg, kind, mode, rows.append)
    return rows


def isolated(method: str, runner: Runner, cfg, kind: str, mode: str) -> list[dict]:
    """``runner.<method>(cfg, kind, mode)``'s rows, run in a new spawned process: the churned
    index's RSS starts from a clean process, as the fresh builds' do, and nothing an earlier run
    left (freed pages, threads) is measured with it."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as ex:
        return ex.submit(_run, method, runner.data, runner.o, runner.work, cfg, kind, mode).result()
