"""Single-query latency of a built index, quiet and with busy neighbours (``sanny bench-ingest``).

Each repeat measures ``Index.search_ids(q[None], k)`` over the test queries, one at a time,
first with nothing else started by us, then with N busy-loop child processes (pure-Python
``while True: pass``) that are started, confirmed spinning, and always stopped by PID
afterwards. The figure of merit is p90 busy / p90 quiet (the target: at most 2x).
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import numpy as np

from .ingest import spread

WARMUP = 20          # untimed queries before each phase
STOP_TIMEOUT = 10.0  # s for a busy loop to go after SIGTERM before SIGKILL
_BUSY = "import sys\nsys.stdout.write('spinning\\n')\nsys.stdout.flush()\nwhile True:\n    pass\n"


@contextlib.contextmanager
def busy_loops(n: int):
    """Start ``n`` busy-loop processes; yields their PIDs once each has said it spins. Always
    stops them by PID (SIGTERM, then SIGKILL) and reaps them."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _BUSY], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, text=True))
        for p in procs:
            if p.stdout.readline().strip() != "spinning":
                raise RuntimeError(f"busy loop {p.pid} exited with {p.wait()} before spinning")
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()


class PeerSearcher:
    """A benchmark peer (``bench.algorithms``) behind the one method ``single_queries`` calls:
    the reference the p90 target is judged against (its ratio shows what the machine does to
    any in-process search with busy neighbours)."""

    def __init__(self, algo, name: str):
        self.algo, self.name = algo, name

    def search_ids(self, q: np.ndarray, k: int, **_):
        return self.algo.query(q[0], k)[None], None


def faiss_hnsw_peer(train: np.ndarray, metric: str, ef: int) -> PeerSearcher:
    """The bench's ``hnsw`` peer (M=16, efConstruction=200, as in the default grid) over ``train``."""
    from .algorithms import get

    algo = get("hnsw")(metric, M=16, efConstruction=200)
    algo.fit(train)
    algo.set_query_arguments(efSearch=int(ef))
    return PeerSearcher(algo, f"faiss HNSW efSearch={ef} (peer)")


def percentiles(ms: np.ndarray) -> dict:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "mean_ms": float(ms.mean()),
            "queries": int(len(ms))}


def single_queries(ix, queries: np.ndarray, k: int, opts: dict, bar=None) -> tuple[np.ndarray, np.ndarray]:
    """``(milliseconds[m], ids[m, k])`` of one query per call."""
    for q in queries[:WARMUP]:
        ix.search_ids(q[None], k, **opts)
    ms = np.empty(len(queries))
    ids = np.full((len(queries), k), -1, np.int64)
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        found, _ = ix.search_ids(q[None], k, **opts)
        ms[i] = (time.perf_counter() - t0) * 1e3
        ids[i] = found[0]
        if bar is not None:
            bar.update(1)
    return ms, ids


def recall(train: np.ndarray, queries: np.ndarray, ids: np.ndarray, k: int, metric: str) -> float:
    """ann-benchmarks recall@k of ``ids`` (rows of ``train``) against exact search."""
    from sanny.engine.groundtruth import distances_to, exact_knn, recall_per_query

    _, true_d = exact_knn(train, queries, k, metric)
    found = distances_to(train, queries, ids, metric)
    return float(recall_per_query(found, true_d[:, k - 1], k).mean())


def quiet_vs_busy(ix, data, k: int, opts: dict, busy: int, repeats: int, bar=None) -> dict:
    """Per repeat: quiet then busy percentiles; spreads of p90 (quiet, busy) and of their ratio.
    ``busy_pids``: every busy-loop PID started (all stopped and reaped on return)."""
    runs, pids, ids = [], [], None
    for _ in range(repeats):
        quiet_ms, ids = single_queries(ix, data.test, k, opts, bar)
        with busy_loops(busy) as started:
            pids += started
            busy_ms, _ = single_queries(ix, data.test, k, opts, bar)
        q, b = percentiles(quiet_ms), percentiles(busy_ms)
        runs.append({"quiet": q, "busy": b, "p90_ratio": b["p90_ms"] / q["p90_ms"]})
    return {"runs": runs, "busy": busy, "busy_pids": pids, "k": k,
            "recall": recall(data.train, data.test, ids, k, data.metric),
            "quiet_p90_ms": spread(r["quiet"]["p90_ms"] for r in runs),
            "busy_p90_ms": spread(r["busy"]["p90_ms"] for r in runs),
            "p90_ratio": spread(r["p90_ratio"] for r in runs)}
