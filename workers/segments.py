"""``SegmentedInner``: one subspace's index as segments, so it keeps its speed, recall and size
under upserts and removes (the shape of Lucene, Milvus and Qdrant).

- The **growing** segment takes every insert: a contiguous copy of the new slices, scanned
  exactly (BLAS), searchable at once; an insert costs a copy, not a graph insertion.
- **Sealed** segments hold immutable static graphs (``graphs``: faiss HNSW, SymphonyQG, or an
  exact copy when tiny), each with a delete bitmap by row.
- ``where`` maps every live internal id to its one (segment, row); ids are reused by the
  coordinator, so liveness is by row, never by id: a removed row stays dead even when its id
  comes back in a newer segment.
- **Compaction** (``merge_policy.plan`` / ``run``; a worker's ``Compactor`` runs it in the background, ``build``
  in the foreground) rewrites segments without their dead rows: it copies the sources' live rows
  under the lock, builds the new graph outside it (searches go on with the old segments), then
  swaps it in, marking dead whatever was removed meanwhile. Nothing of it is durable until the
  worker's next ``save``, so a crash at any point of a compaction loses nothing.

Search: every segment's top-``T`` (over-fetching its dead count), merged into one top-``T``.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from . import segment_files
from .arrays import grown
from .base import InnerParams, SearchParams
from .graphs import scan_rows
from .kernels import SMALL_BATCH, topk_rows
from .merge_policy import Step, plan
from .segment_files import Segment

CPUS = os.cpu_count() or 1
GROWING = 0  # the growing segment's serial; sealed segments count from 1


class SegmentedInner:
    """Growing + sealed segments over one subspace; ``make_graph(x, threads)`` builds a sealed
    segment's graph from its rows, ``load_graph(path, n)`` reads one back."""

    def __init__(self, make_graph, load_graph, width: int, params: InnerParams, metric: str, store, s: int,
                 load_legacy=None):
        self.make_graph, self.load_graph, self._load_legacy = make_graph, load_graph, load_legacy
        self.width, self.p, self.metric, self.store, self.s = width, params, metric, store, s
        self._lock = threading.Lock()        # structure: segments, growing arrays, where
        self._done = threading.Condition(self._lock)  # a compaction ended (``close`` waits on it)
        self._fg_lock = threading.Lock()     # one foreground build at a time
        self._fg = 0           # foreground builds in flight: the background plans nothing meanwhile
        self._epoch = 0        # bumped by every swap, load and foreground build: older copies are stale
        self._active: dict = {}     # compactions in flight: token -> reason
        self._recorders: list = []  # each in-flight compaction's ids removed while it builds
        self.sealed: dict[int, Segment] = {}
        self._serial = GROWING
        self.g_ids = np.zeros(1024, np.int64)
        self.g_x = np.zeros((1024, width), np.float32)
        self.g_dead = np.zeros(1024, bool)
        self.g_xx = np.zeros(1024, np.float32)  # squared row norms: the exact scan's |x|^2 term
        self.g_n = self.g_ndead = 0
        self.where_seg = np.full(1024, -1, np.int32)
        self.where_row = np.zeros(1024, np.int32)
        self.lone: Segment | None = None  # the one sealed segment while nothing else holds a row (``_relone``)
        self.merges = 0
        self.merge_seconds = 0.0

    @property
    def merging(self) -> str:
        """The reason of a compaction in progress (background or build), "" when none."""
        running = list(self._active.values())  # one C call: a compaction may end meanwhile
        return running[0] if running else ""

    @property
    def threads(self) -> int:
        return self.p.threads or CPUS

    # -- writes --------------------------------------------------------------------------
    def _place(self, ids: np.ndarray, serial: int, rows: np.ndarray) -> None:
        if len(ids) == 0:
            return
        need = int(ids.max()) + 1
        self.where_seg = grown(self.where_seg, need, fill=-1)
        self.where_row = grown(self.where_row, need)
        self.where_seg[ids], self.where_row[ids] = serial, rows

    def add(self, ids, x) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, np.int64)
        with self._lock:
            n = self.g_n
            if n + len(ids) > len(self.g_ids):  # new arrays, never shifted: searches read the old
                self.g_ids, self.g_x = grown(self.g_ids, n + len(ids), n), grown(self.g_x, n + len(ids), n)
                self.g_dead, self.g_xx = grown(self.g_dead, n + len(ids), n), grown(self.g_xx, n + len(ids), n)
            self.g_ids[n: n + len(ids)] = ids
            self.g_x[n: n + len(ids)] = x
            self.g_xx[n: n + len(ids)] = np.einsum("ij,ij->i", self.g_x[n: n + len(ids)], self.g_x[n: n + len(ids)])
            self.g_dead[n: n + len(ids)] = False
            self.g_n = n + len(ids)
            self._place(ids, GROWING, np.arange(n, n + len(ids)))
            self.lone = None

    def remove(self, ids) -> None:
        ids = np.asarray(ids, np.int64)
        with self._lock:
            ids = ids[(ids >= 0) & (ids < len(self.where_seg))]
            serial = self.where_seg[ids]
            ids, serial = ids[serial >= 0], serial[serial >= 0]
            rows = self.where_row[ids]
            for sv in np.unique(serial):
                r = rows[serial == sv]
                if sv == GROWING:
                    self.g_dead[r] = True
                    self.g_ndead += len(r)
                else:
                    seg = self.sealed[int(sv)]
                    seg.dead[r] = True
                    seg.n_dead += len(r)
            self.where_seg[ids] = -1
            self._relone()
            for rec in self._recorders:
                rec.append(ids)

    # -- compaction ----------------------------------------------------------------------
    def plan(self, idle: bool = False) -> Step | None:
        with self._lock:
            if self._fg:  # a foreground build rewrites everything: nothing to plan beside it
                return None
            return plan({k: s.live for k, s in self.sealed.items()}, {k: s.n_dead for k, s in self.sealed.items()},
                        self.g_n - self.g_ndead, self.g_n, self.p, idle)

    def run(self, step: Step, threads: int, foreground: bool = False) -> bool:
        """One compaction: build a graph over the sources' live rows, swap it in. False when the
        segments changed under the plan and nothing was done: another compaction swapped first, a
        load came, or (``foreground``: ``build``) a foreground build started, which makes an
        in-flight background merge stale at once instead of waiting for it."""
        t0 = time.perf_counter()
        with self._lock:
            if (not foreground and self._fg) or any(s not in self.sealed for s in step.sources) \
                    or step.upto > self.g_n:
                return False
            parts = [self.sealed[s].gid_of[~self.sealed[s].dead] for s in step.sources]
            parts.append(self.g_ids[: step.upto][~self.g_dead[: step.upto]])
            gid = np.concatenate(parts)
            x = self.store.arrays[self.s][gid]  # copied now: a reused id may overwrite its row later
            if foreground:
                self._epoch += 1
            epoch, removed, token = self._epoch, [], object()
            self._recorders.append(removed)
            self._active[token] = step.reason or "merge"
        try:
            graph = self.make_graph(x, threads) if len(gid) else None
        except BaseException:
            with self._lock:
                self._end(token, removed)
            raise
        with self._lock:  # one locked step: no removal may fall between the recorder and the swap
            self._end(token, removed)
            if self._epoch != epoch:
                return False
            self._epoch += 1
            gone = np.concatenate(removed) if removed else np.zeros(0, np.int64)
            for s in step.sources:
                del self.sealed[s]
            self._drop_growing_prefix(step.upto)
            if graph is not None:
                self._serial += 1
                seg = Segment(self._serial, graph, gid, np.isin(gid, gone))
                self.sealed[seg.serial] = seg
                keep = ~seg.dead
                self._place(gid[keep], seg.serial, np.nonzero(keep)[0])
            self.merges += 1
            self.merge_seconds += time.perf_counter() - t0
            self._relone()
        return True

    def _relone(self) -> None:
        """(Under the lock, after every change.) ``lone``: the one sealed segment when it has no
        dead row and no growing row is live, so its graph alone answers a search exactly as
        ``search`` would (the index's lone-query lane reads it, ``engine.lane``); else None."""
        seg = next(iter(self.sealed.values())) if len(self.sealed) == 1 else None
        self.lone = seg if seg is not None and not seg.n_dead and self.g_n == self.g_ndead else None

    def _end(self, token, removed: list) -> None:
        """A compaction leaves (under the lock): its recorder and its reason go."""
        self._recorders = [r for r in self._recorders if r is not removed]
        del self._active[token]
        self._done.notify_all()

    def _drop_growing_prefix(self, upto: int) -> None:
        """The live growing rows after ``upto`` become its rows from 0 (new arrays: searches may
        hold the old ones); their ``where`` rows move with them."""
        alive = ~self.g_dead[upto: self.g_n]  # dead rows go too: nothing refers to them
        ids, x, xx = (a[upto: self.g_n][alive] for a in (self.g_ids, self.g_x, self.g_xx))
        rest, cap = len(ids), max(1024, len(ids))
        self.g_ids, self.g_x, self.g_xx = grown(ids, cap, rest), grown(x, cap, rest), grown(xx, cap, rest)
        self.g_dead = np.zeros(len(self.g_ids), bool)
        self.g_n, self.g_ndead = rest, 0
        self._place(ids, GROWING, np.arange(rest))

    def build(self, optimize: bool = False) -> None:
        """``optimize`` (``Index.build()``, ``compact``, bulk loads): everything into one graph now,
        with every thread. Without it (the call after every write) nothing: the growing segment
        already makes new rows searchable."""
        if not optimize:
            return
        with self._fg_lock:
            with self._lock:
                self._fg += 1
            try:
                while True:  # one merge of everything (no seal first: nobody waits on a long merge)
                    with self._lock:
                        src, upto = tuple(sorted(self.sealed)), self.g_n
                        if upto == 0 and (not src or (len(src) == 1 and not self.sealed[src[0]].n_dead)):
                            return
                    if self.run(Step(src, upto, "build"), self.threads, foreground=True):
                        return
            finally:
                with self._lock:
                    self._fg -= 1

    # -- reads ---------------------------------------------------------------------------
    def search(self, q, T: int, params: SearchParams):
        m = len(q)
        q = np.ascontiguousarray(q, np.float32)
        with self._lock:
            segs = list(self.sealed.values())
            n, ids_g, x_g, dead_g, nd, xx_g = self.g_n, self.g_ids, self.g_x, self.g_dead, self.g_ndead, self.g_xx
        threads = 1 if m <= SMALL_BATCH else self.threads
        found = []
        for seg in segs:
            size = min(T + min(seg.n_dead, T), len(seg.gid_of))
            try:
                rows, d = seg.graph.search(q, size, max(params.ef_search or T, size), threads)
            except RuntimeError:  # symqg cannot always fill a list nearly as long as its graph: scan it
                rows, d = scan_rows(q, self.store.arrays[self.s][seg.gid_of], size, self.metric)
            if not seg.n_dead and seg.graph.fills:  # every row filled, none removed: nothing to mask
                found.append((rows if seg.identity else seg.gid_of.take(rows), d))
                continue
            ok = rows >= 0
            r = np.where(ok, rows, 0)
            if seg.n_dead:
                ok &= ~seg.dead[r]
            found.append((np.where(ok, seg.gid_of[r], -1), np.where(ok, d, np.inf).astype(np.float32, copy=False)))
        if n - nd > 0:
            rows, d = scan_rows(q, x_g[:n], min(T, n - nd), self.metric, dead=dead_g[:n] if nd else None,
                                xx=xx_g[:n])
            found.append((np.where(rows >= 0, ids_g[np.maximum(rows, 0)], -1), d))
        if not found:
            return np.full((m, T), -1, np.int64), np.full((m, T), np.inf, np.float32)
        if len(found) == 1 and found[0][0].shape[1] == T and not (segs and segs[0].n_dead):
            return found[0]  # one clean list: already sorted and live
        gid = np.concatenate([g for g, _ in found], axis=1)
        d = np.concatenate([x for _, x in found], axis=1)
        cols, out = topk_rows(d, T)
        return np.where(cols >= 0, np.take_along_axis(gid, np.maximum(cols, 0), 1), -1), out

    # -- state ---------------------------------------------------------------------------
    def stats(self) -> dict:
        with self._lock:
            segs = sorted(self.sealed.values(), key=lambda s: -s.live)
            return {"segments": [{"rows": len(s.gid_of), "deleted": s.n_dead} for s in segs],
                    "growing": {"rows": self.g_n, "deleted": self.g_ndead},
                    "merges": self.merges, "merge_seconds": round(self.merge_seconds, 3)}

    def save(self, path: str) -> None:
        with self._lock:
            segs = sorted(self.sealed.values(), key=lambda s: s.serial)
            dead = [s.dead.copy() for s in segs]
            g = self.g_ids[: self.g_n][~self.g_dead[: self.g_n]].copy()
        segment_files.write(path, segs, dead, g, self._serial)

    def load(self, path: str) -> None:
        if self._load_legacy is not None and not segment_files.present(path):
            return self._load_legacy(self, path)
        self.adopt(*segment_files.read(path, self.load_graph))

    def adopt(self, sealed: dict, growing: np.ndarray, serial: int) -> None:
        """Replace the state: ``sealed`` segments and the ``growing`` ids (rows from the store)."""
        with self._lock:
            self.sealed, self._serial = sealed, serial
            self._epoch += 1  # a compaction in flight copied the state this replaces
            self.g_n = self.g_ndead = 0
            self.where_seg = np.full(max(1024, self.store.size), -1, np.int32)
            self.where_row = np.zeros(len(self.where_seg), np.int32)
            for seg in sealed.values():
                keep = ~seg.dead
                if keep.any():
                    self._place(seg.gid_of[keep], seg.serial, np.nonzero(keep)[0])
            self._relone()
        self.add(growing, self.store.arrays[self.s][growing])

    def nbytes(self) -> int:
        with self._lock:
            return int(sum(s.graph.nbytes() + s.gid_of.nbytes + s.dead.nbytes for s in self.sealed.values())
                       + self.g_x.nbytes + self.g_ids.nbytes + self.g_xx.nbytes + self.where_seg.nbytes + self.where_row.nbytes)

    def close(self) -> None:
        with self._lock:  # a compaction in flight finishes first
            self._done.wait_for(lambda: not self._active)
