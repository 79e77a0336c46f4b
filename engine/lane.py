"""The lone-query lane: one query against the shape most indexes have — one subspace, no PCA, a
graph whose distances are exact (``symqg``, ``hnsw``), in this process, one clean segment (no
removed rows, nothing growing) — answered in the fewest steps: check and normalise the row,
search the graph under the state lock, map its rows to ids (and keys).

The pipeline does the same work through general stages (every option's check, the coalescer, the
fan-out, the direct top-k); around a 10–30 µs graph search they cost more than the search
itself. Anything the lane does not cover returns None and takes the pipeline, which gives the
same answer (``tests/test_lane.py``): a batch; an option beyond ``T`` and ``ef_search``; a row the
pipeline must check or reject itself (it names the error); removed or growing rows; several
segments; a remote worker; the state lock held by another thread (the pipeline queues the query
in the coalescer's next batch).
"""
from __future__ import annotations

import math

import numpy as np

from sanny.workers import LocalWorker
from sanny.workers.inner import exact_partials
from sanny.workers.segments import SegmentedInner

from .validate import MAX_K, MAX_NORM, MAX_T, UNIT, Queries

F32 = np.dtype(np.float32)
HALF = np.float32(0.5)  # cosine's user distance, d / 2 (a float32 scalar: no promotion step)
MAX_SQ = MAX_NORM * MAX_NORM  # the pipeline's norm bound, squared (l2: larger rows are its errors)


class Lane:
    def __init__(self, ix):
        self.ix = ix
        cfg = ix.config
        self.row, self.flat = (1, cfg.dim), (cfg.dim,)
        self.cfg, self.l2 = cfg, cfg.metric == "l2"  # T and ef_search may change (``set_defaults``)
        self._seen = None   # the workers list the verdict below is about (and its length)
        self._n = -1
        self.inner: SegmentedInner | None = None  # its one inner when the index has the lane's shape

    def _shape(self) -> SegmentedInner | None:
        """The one segmented inner when the index has the lane's shape (kept until the workers change)."""
        ix = self.ix
        ws = ix.workers
        if ws is self._seen and len(ws) == self._n:
            return self.inner
        cfg, inner = ix.config, None
        if (len(ws) == 1 and isinstance(ws[0], LocalWorker) and len(ws[0].inners) == 1 and ix.pca is None
                and cfg.S == 1 and cfg.metric in ("l2", "cosine") and exact_partials(cfg.inner.kind)
                and isinstance(ws[0].inners[0], SegmentedInner)):
            inner = ws[0].inners[0]
        self._seen, self._n, self.inner = ws, len(ws), inner
        return inner

    def search(self, q, k, T, ef, with_keys: bool):
        """``(ids[1, k], user distances[1, k], keys or None)``, or None: take the pipeline."""
        if type(q) is Queries:  # ``Index.prepare_queries`` rows: checked again, cheaply
            q = q.x
        if type(q) is not np.ndarray or q.dtype != F32 or type(k) is not int:
            return None
        if q.shape != self.row:
            if q.shape != self.flat:
                return None
            q = q[None]
        ix = self.ix
        inner = self._shape() if ix.pca is None else None
        if inner is None:
            return None
        if T is None:
            T = max(self.cfg.T, k)
        if ef is None:
            ef = self.cfg.ef_search
        if type(T) is not int or type(ef) is not int or not 1 <= k <= T <= MAX_T or k > MAX_K \
                or not 0 <= ef <= MAX_T:
            return None
        s = float(np.vdot(q, q))  # finite iff every entry is (an overflow: the pipeline decides)
        if self.l2:
            if not 0.0 <= s < MAX_SQ:
                return None
        elif not 0.0 < s < math.inf:
            return None
        elif abs(s - 1.0) > UNIT:  # a unit row (most embedding models') is searched as it is
            q = q * (1.0 / math.sqrt(s))
        lock = ix._lock
        if not lock.acquire(False):
            return None
        try:
            seg = inner.lone if ix.layout is not None else None
            if seg is None or len(seg.gid_of) < T:
                return None
            try:
                rows, d = seg.graph.one(q, T, ef if ef > T else T)
            except RuntimeError:  # a list too long for the graph to fill: the pipeline scans it
                return None
            if rows[0, -1] < 0:  # (a signed graph's padding)
                return None
            if T > k:
                rows, d = rows[:, :k], d[:, :k]
            ids = rows.astype(np.int64) if seg.identity else seg.gid_of.take(rows)
            ix.last_stats = {"queries": 1, "T": T, "union": T, "scored": 0}
            keys = ix.store.keys_of(ids) if with_keys else None
        finally:
            lock.release()
        return ids, (np.sqrt(d) if self.l2 else d * HALF), keys
