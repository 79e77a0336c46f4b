"""Where a ``sanny bench-churn`` index lives, and how one measurement of it is taken.

- ``embedded``: the :class:`~sanny.engine.Index` and its workers in this process;
- ``grpcN``: the coordinator in this process over N ``sanny worker`` processes on 127.0.0.1, one
  per row shard (``shards = N``, ``S = 1``: the benchmark's shape, spread over N hosts' memory).

The same :func:`open_site` serves the churned index and the fresh baselines (run in a spawned
child by :mod:`.churn_fresh`), so both are measured the same way: RSS is the index's share (this
process's growth since the index was made, empty, plus every worker process whole), the
directory is the index's plus the workers' data directories, CPU is every process's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from sanny.engine.groundtruth import distances_to, recall_per_query

from . import procs, serve_modes
from .algorithms.base import dir_bytes

MODE_RE = re.compile(r"embedded|grpc[1-9][0-9]*")
MB = float(1 << 20)
UPKEEP = ("segments", "growing", "compaction", "merges", "merge_seconds", "deleted_share")  # where reported


def worker_count(mode: str) -> int:
    if not MODE_RE.fullmatch(mode):
        raise ValueError(f"unknown mode {mode!r}: use embedded or grpcN")
    return 0 if mode == "embedded" else int(mode[4:])


@dataclass
class Site:
    """An open index and the processes and directories that hold it."""

    ix: object
    root: str
    worker_dirs: list[str] = field(default_factory=list)
    workers: list = field(default_factory=list)  # procs.Proc of the gRPC workers
    base_rss_mb: float = 0.0                      # this process with the index still empty

    def rss(self) -> dict:
        """``rss_mb``: the index's memory (this process's growth + every worker process)."""
        me = procs.rss_mb(os.getpid()) or 0.0
        ws = [procs.rss_mb(w.pid) or 0.0 for w in self.workers]
        return {"rss_mb": me - self.base_rss_mb + sum(ws), "rss_process_mb": me, "rss_workers_mb": ws}

    def cpu(self) -> float:
        """CPU seconds used so far by this process and every worker process."""
        return sum(procs.cpu_seconds(p) or 0.0 for p in [os.getpid(), *(w.pid for w in self.workers)])

    def dir_mb(self) -> float:
        return sum(dir_bytes(d) for d in [self.root, *self.worker_dirs]) / MB


@contextlib.contextmanager
def open_site(mode: str, root: str, cfg, logdir: str):
    """A new empty index for ``mode`` at ``root`` (workers' data under ``root``-workers); closed
    without saving, then its worker processes stopped (by PID), on exit."""
    from sanny.engine import Index
    from sanny.workers.transports import factory_from_config

    n = worker_count(mode)
    with contextlib.ExitStack() as stack:
        factory, dirs, ws = None, [], []
        if n:
            os.makedirs(logdir, exist_ok=True)
            dirs = [os.path.join(f"{root}-workers", f"worker-{i}") for i in range(n)]
            ws = stack.enter_context(serve_modes.worker_procs(dirs, logdir))
            table = serve_modes.grpc_table([w.address for w in ws], [[0]], shards=n)
            factory = factory_from_config({"workers": table})
            cfg = dataclasses.replace(cfg, workers=1, shards=n)
        ix = Index.create(root, cfg, overwrite=True, worker_factory=factory)
        stack.callback(ix.close, save=False)  # before the workers stop (LIFO)
        base = procs.rss_mb(os.getpid()) or 0.0  # with the libraries an empty index loads
        yield Site(ix, root, dirs, ws, base)


def load_rows(site: Site, keys: list[str], x: np.ndarray, batch: int, bar=None) -> None:
    """Insert ``x`` under ``keys`` in batches, then ``Index.build()``."""
    for a in range(0, len(keys), batch):
        site.ix.insert(keys[a: a + batch], x[a: a + batch])
        if bar is not None:
            bar.update(min(batch, len(keys) - a))
    site.ix.build()


def info_extra(ix) -> dict:
    """What the index reports about its own upkeep, where it does: segments, deleted share,
    compaction (coordinator and per worker), plus stored ids vs live count."""
    info = ix.info()
    out = {"count": info.get("count")}
    for name in UPKEEP:
        if name in info:
            out[name] = info[name]
    ws = [w for w in info.get("workers") or [] if isinstance(w, dict)]
    out["worker_index_mb"] = sum(w.get("index_bytes", 0) for w in ws) / MB
    out["worker_slice_mb"] = sum(w.get("slice_bytes", 0) for w in ws) / MB
    extra = [{k: w[k] for k in UPKEEP if k in w} for w in ws]
    if any(extra):
        out["workers"] = extra
    store = getattr(ix, "store", None)
    if store is not None and hasattr(store, "size"):
        out["stored_ids"] = int(store.size)
    return out


def recall(ix, ids: np.ndarray, row_of, data: np.ndarray, test: np.ndarray, kth: np.ndarray, k: int,
           metric: str) -> float:
    """Mean recall@k (ann-benchmarks' rule) of internal ``ids``; ``row_of(key)``: the key's row of ``data``."""
    keys = ix.keys_of(ids)
    rows = np.array([[row_of(x) if x is not None else -1 for x in r] for r in keys], np.int64).reshape(ids.shape)
    return float(recall_per_query(distances_to(data, test, rows, metric), kth, k).mean())


def measure(site: Site, test: np.ndarray, kth: np.ndarray, k: int, opts: dict, repeats: int, singles: int,
            recall_of) -> dict:
    """Recall@k, batch QPS (all ``test`` in one call, ``repeats`` times after one untimed) and single-query QPS
    (the first ``singles`` queries one per call, ``repeats`` passes): each with median, min, max."""
    ix = site.ix
    q = ix.prepare_queries(test)
    ix.search_ids(q, k, **opts)  # warm-up, untimed: thread pools, pages, caches
    batch, single, ids = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids, _d = ix.search_ids(q, k, **opts)
        batch.append(len(test) / (time.perf_counter() - t0))
    one = q[: min(singles, len(test))]
    for _ in range(repeats if singles else 0):
        t0 = time.perf_counter()
        for i in range(len(one)):
            ix.search_ids(one[i: i + 1], k, **opts)
        single.append(len(one) / (time.perf_counter() - t0))
    out = {"recall": recall_of(ids), "qps_batch": _spread(batch)}
    if single:
        out["qps_single"] = _spread(single)
    return out


def settle(ix, timeout: float) -> dict:
    """Wait for background upkeep where the engine offers it (``Index.wait_compaction``)."""
    wait = getattr(ix, "wait_compaction", None)
    if wait is None:
        return {"settle_s": None, "waited": False}
    t0 = time.perf_counter()
    res = wait(timeout)
    return {"settle_s": time.perf_counter() - t0, "waited": True,
            "settle_result": res if isinstance(res, (bool, int, float, str, dict, type(None))) else str(res)}


def state(site: Site) -> dict:
    """Memory, directory size, the index's own upkeep report and the machine's load average, now."""
    return {**site.rss(), "dir_mb": site.dir_mb(), "info": info_extra(site.ix), "load1": os.getloadavg()[0]}


def _spread(vals: list[float]) -> dict:
    v = sorted(vals)
    return {"median": float(np.median(v)), "min": v[0], "max": v[-1]}
