"""``SymqgInner`` (``kind="symqg"``): a SymphonyQG graph (rabitqlib) over one subspace, plus an
exact *tail* of the vectors added since the graph was built.

SymphonyQG keeps RaBitQ codes of each node's neighbours beside the edge list and scans them
with SIMD fast-scan, then re-ranks with the stored float vectors: its partial distances are
exact. Measured on the shared sets it is the fastest graph here (docs/TUNING.md: ~3x faiss HNSW
batch at recall 0.95 on minilm). Its graph is static (no insert after build), so:

- ``add`` only appends to the tail (a contiguous copy of the new slices): ingest costs a copy,
  and a new vector is searchable at once (the tail is scanned exactly, by BLAS);
- ``build(optimize=True)`` rebuilds the graph over every live vector (``Index.build()``,
  ``sanny build``, bulk loads);
- a *search* that finds the tail longer than ``max(TAIL_MIN, graph size * TAIL_RATIO)`` starts
  a rebuild in a background thread (the library releases the GIL) and goes on with the old
  graph + tail; the new graph is swapped in when done, with the vectors added meanwhile left in
  the tail. Bulk inserts with no searches between them therefore build nothing until ``build``.
"""
from __future__ import annotations

import os
import threading

import numpy as np

from .arrays import grown
from .base import InnerParams, SearchParams
from .kernels import SMALL_BATCH, partial, scan, topk_rows

TAIL_MIN = 4096      # tail rows scanned exactly before a background rebuild is started
TAIL_RATIO = 0.25    # ... or this fraction of the graph, whichever is larger
GRAPH_MIN = 256      # below this many live vectors everything stays in the exact tail


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    """Zero columns up to ``width`` (the RaBitQ rotator needs a multiple of 64); L2 and inner
    products are unchanged."""
    x = np.ascontiguousarray(x, np.float32)
    if x.shape[1] == width:
        return x
    out = np.zeros((len(x), width), np.float32)
    out[:, : x.shape[1]] = x
    return out


class _Graph:
    """One built SymphonyQG index and the internal id of each of its rows (immutable)."""

    def __init__(self, index, gid_of: np.ndarray):
        self.index, self.gid_of = index, gid_of


class SymqgInner:
    def __init__(self, width: int, params: InnerParams, metric: str, store, s: int):
        import rabitqlib  # heavy import kept local: other inner kinds run without it

        self._lib = rabitqlib
        self.width, self.p, self.metric, self.store, self.s = width, params, metric, store, s
        self.padded = -(-width // 64) * 64
        self.graph: _Graph | None = None
        self.tail_ids = np.zeros(1024, np.int64)
        self.tail_x = np.zeros((1024, width), np.float32)
        self.tail_n = 0
        self.masked = 0  # removed since the graph was built (still in it; filtered by liveness)
        self._lock = threading.Lock()  # guards graph / tail / mask against the builder thread
        self._build_lock = threading.Lock()  # one build at a time (background or ``build``)
        self._builder: threading.Thread | None = None
        self.builds = 0  # graphs built (for stats and tests)

    @property
    def degree(self) -> int:
        """HNSW's level-0 degree ``2 * hnsw_M``, rounded up to the fast-scan block of 32."""
        return -(-2 * self.p.hnsw_M // 32) * 32

    @property
    def threads(self) -> int:
        return self.p.threads or os.cpu_count() or 1

    # -- writes --------------------------------------------------------------------------
    def add(self, ids, x) -> None:
        if len(ids) == 0:
            return
        with self._lock:
            n = self.tail_n
            self.tail_ids = grown(self.tail_ids, n + len(ids), n)
            self.tail_x = grown(self.tail_x, n + len(ids), n)
            self.tail_ids[n: n + len(ids)] = ids
            self.tail_x[n: n + len(ids)] = x
            self.tail_n = n + len(ids)

    def remove(self, ids) -> None:
        with self._lock:
            self.masked += len(ids)

    def build(self, optimize: bool = False) -> None:
        """``optimize`` (``Index.build()``, ``sanny build``): rebuild the graph over every live
        vector now (after a background build in flight). Without it — the call after every
        write — nothing: the tail already makes new vectors searchable."""
        if not optimize:
            return
        self.wait()
        if self.tail_n or self.masked:
            self._rebuild()

    def wait(self) -> None:
        """Block until a background rebuild, if any, has been swapped in."""
        t = self._builder
        if t is not None:
            t.join()

    def _rebuild(self, upto: int | None = None, generation: int | None = None) -> None:
        """Build a graph over the live vectors of the graph and the first ``upto`` tail rows
        (default: all); swap it in, keeping in the tail whatever came after them. Builds run
        one at a time; a background one whose ``generation`` (``builds`` when it was asked
        for) is stale does nothing: the build before it took the tail it was meant for."""
        with self._build_lock:
            with self._lock:
                if generation is not None and generation != self.builds:
                    return
                upto = self.tail_n if upto is None else upto
                old, masked = self.graph, self.masked
            live = self.store.live
            parts = [old.gid_of] if old is not None else []
            parts.append(self.tail_ids[:upto])
            gid = np.concatenate(parts)
            gid = np.unique(gid[live[gid]])  # drops removed and replayed (duplicate) ids
            index = self._make_graph(gid) if len(gid) >= max(GRAPH_MIN, self.degree + 1) else None
            with self._lock:
                if index is None:  # too few vectors for a graph: all of them stay in the exact tail
                    return
                rest = self.tail_n - upto
                self.graph = _Graph(index, gid)
                # new arrays, not a shift in place: a search may still be reading the old ones
                self.tail_ids = grown(self.tail_ids[upto: upto + rest].copy(), 1024, rest)
                self.tail_x = grown(self.tail_x[upto: upto + rest].copy(), 1024, rest)
                self.tail_n = rest
                self.masked -= masked  # removals during the build may be in the new graph: kept
                self.builds += 1

    def _make_graph(self, gid: np.ndarray):
        """The library's graph over the slices of ``gid`` (GIL released while it builds)."""
        index = self._lib.SymqgIndex(self.padded, self.degree, "ip" if self.metric == "ip" else "l2")
        index.build(_pad(self.store.arrays[self.s][gid], self.padded), self.p.hnsw_ef_construction,
                    num_threads=self.threads)
        return index

    def _maybe_rebuild_in_background(self) -> None:
        """Called by searches (under the lock): start a rebuild when the tail is too long."""
        graph_n = len(self.graph.gid_of) if self.graph is not None else 0
        if self.tail_n <= max(TAIL_MIN, TAIL_RATIO * graph_n):
            return
        if self._builder is not None and self._builder.is_alive():
            return
        self._builder = threading.Thread(target=self._rebuild, args=(self.tail_n, self.builds),
                                         name="sanny-symqg-build", daemon=True)
        self._builder.start()

    # -- reads ---------------------------------------------------------------------------
    def search(self, q, T: int, params: SearchParams):
        m = len(q)
        q = np.ascontiguousarray(q, np.float32)
        with self._lock:
            graph, n = self.graph, self.tail_n
            tids, tx = self.tail_ids, self.tail_x  # replaced, never shifted, by add and rebuild
            self._maybe_rebuild_in_background()
        found = []
        if graph is not None:
            size = min(T + min(self.masked, T), len(graph.gid_of))
            ef = max(params.ef_search or T, size)
            threads = 1 if m <= SMALL_BATCH else self.threads
            rows, d = graph.index.search_batch(_pad(q, self.padded), size, ef, num_threads=threads)
            rows = np.asarray(rows, np.int64)
            gid = np.where(rows >= 0, graph.gid_of[np.clip(rows, 0, len(graph.gid_of) - 1)], -1)
            d = (partial(self.metric, q, self.store.arrays[self.s][np.maximum(gid, 0)]).astype(np.float32)
                 if self.metric == "ip" else np.asarray(d, np.float32))
            d[gid < 0] = np.inf
            found.append((gid, d))
        if n:
            X = tx[:n]
            rows, d = scan(q, X, min(T + min(self.masked, T), n), self.metric)
            if self.metric != "ip":  # the chosen rows again from differences: no cancellation
                d = np.where(rows >= 0, partial(self.metric, q, X[np.maximum(rows, 0)]), np.inf).astype(np.float32)
            found.append((np.where(rows >= 0, tids[np.maximum(rows, 0)], -1), d))
        if not found:
            return np.full((m, T), -1, np.int64), np.full((m, T), np.inf, np.float32)
        if len(found) == 1 and graph is not None and self.masked == 0 and found[0][0].shape[1] == T:
            return found[0]  # the graph alone, nothing removed: its sorted rows are the answer
        return self._merge(found, m, T)

    def _merge(self, found, m: int, T: int):
        """Live, distinct ids of the graph and tail lists; the best ``T`` per row."""
        gid = np.concatenate([g for g, _ in found], axis=1)
        d = np.concatenate([x for _, x in found], axis=1).astype(np.float32)
        ok = self.store.is_live(gid)
        d = np.where(ok, d, np.inf)
        if len(found) > 1:  # a replayed insert can be in both: keep one copy
            order = np.argsort(gid, axis=1, kind="stable")
            sg = np.take_along_axis(gid, order, 1)
            dup = np.zeros_like(ok)
            dup[:, 1:] = (sg[:, 1:] == sg[:, :-1]) & (sg[:, 1:] >= 0)
            np.put_along_axis(d, order, np.where(dup, np.inf, np.take_along_axis(d, order, 1)), 1)
        cols, out = topk_rows(d, T)
        ids = np.where(cols >= 0, np.take_along_axis(gid, np.maximum(cols, 0), 1), -1)
        return ids, out

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str) -> None:
        with self._lock:
            graph, n = self.graph, self.tail_n
            tail = self.tail_ids[:n].copy()
        if graph is not None:
            graph.index.save(os.path.join(path, "symqg.idx"))
        np.savez(os.path.join(path, "symqgmap.npz"), tail=tail, masked=np.array([self.masked]),
                 gid_of=graph.gid_of if graph is not None else np.zeros(0, np.int64))

    def load(self, path: str) -> None:
        with np.load(os.path.join(path, "symqgmap.npz")) as z:
            gid_of, tail, self.masked = z["gid_of"].copy(), z["tail"].copy(), int(z["masked"][0])
        self.graph = (_Graph(self._lib.SymqgIndex.load(os.path.join(path, "symqg.idx")), gid_of)
                      if len(gid_of) else None)
        self.tail_n = 0
        self.add(tail, self.store.arrays[self.s][tail])

    def nbytes(self) -> int:
        g = len(self.graph.gid_of) if self.graph is not None else 0
        per = self.padded * 4 + self.degree * (self.padded // 8 + 12)  # vector + coded edges
        return int(g * per + self.tail_x.nbytes + self.tail_ids.nbytes)

    def close(self) -> None:
        self.wait()
