"""``NgtInner``: one NGT graph (ANNG, optionally optimised to ONNG) over one subspace."""
from __future__ import annotations

import os
import shutil

import numpy as np

from .arrays import grown
from .base import InnerParams, SearchParams
from .kernels import SMALL_BATCH, partial


class NgtInner:
    """One NGT graph over one subspace. NGT ids are its own (reused after removal);
    ``gid_of`` maps them to internal ids, ``ngt_of`` back.

    ``ip`` is searched as L2 after the classic lift ``x -> [x, sqrt(M^2 - |x|^2)]``,
    ``q -> [q, 0]`` (then ``|q'-x'|^2 = |q|^2 + M^2 - 2<q,x>``). NGT's own inner-product graphs
    fix their transform from the first batch and mis-rank later, larger vectors; here a vector
    longer than ``M`` doubles ``M`` and rebuilds the subspace from the worker's slices
    (amortised like a growing array)."""

    def __init__(self, workdir: str, width: int, params: InnerParams, metric: str, store, s: int):
        import ngtpy  # heavy import kept local: the exact worker runs without it

        self._ngtpy = ngtpy
        self.workdir, self.width, self.p, self.metric = workdir, width, params, metric
        self.store, self.s = store, s
        self.path = os.path.join(workdir, "ngt")
        self.gid_of = np.full(1024, -1, np.int64)
        self.ngt_of = np.full(1024, -1, np.int64)
        self.masked = 0  # removed but still in an ONNG graph (no in-place remove there)
        self.unbuilt = 0
        self.optimized = False
        self.M = 0.0  # ip only: bound on the norm of every stored slice
        self._create()

    # -- lifecycle -----------------------------------------------------------------------
    def _create(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(self.workdir, exist_ok=True)
        edges = self.p.onng_creation_edges if self.p.graph == "onng" else self.p.edge_size_for_creation
        self._ngtpy.create(self.path, self.width + (self.metric == "ip"), edge_size_for_creation=edges,
                           edge_size_for_search=self.p.edge_size_for_search,
                           distance_type="L2", object_type="Float")
        self._open()
        self.gid_of = np.full(1024, -1, np.int64)
        self.ngt_of = np.full(1024, -1, np.int64)
        self.masked = self.unbuilt = 0
        self.optimized = False

    def _lift(self, x: np.ndarray, query: bool = False) -> np.ndarray:
        if self.metric != "ip":
            return x
        extra = np.zeros(len(x)) if query else np.sqrt(np.maximum(self.M ** 2 - (x.astype(np.float64) ** 2).sum(1), 0))
        return np.hstack([x, extra[:, None].astype(x.dtype)])

    def _open(self) -> None:
        self.index = self._ngtpy.Index(self.path, log_disabled=True)
        self.results = self._ngtpy.BatchResults()
        self._warm = False

    @property
    def threads(self) -> int:
        return self.p.threads or os.cpu_count() or 1

    # -- writes --------------------------------------------------------------------------
    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if self.metric == "ip":
            longest = float(np.sqrt((x.astype(np.float64) ** 2).sum(1).max()))
            if longest > self.M:  # re-lift everything with a larger bound (the new rows are in the store)
                self.M = 2 * longest
                self._create()
                live = np.nonzero(self.store.live[: self.store.size])[0]
                ids, x = live, self.store.arrays[self.s][live]
                if len(ids) == 0:
                    return
        self.ngt_of = grown(self.ngt_of, int(ids.max()) + 1, fill=-1)
        nids = self._append(np.ascontiguousarray(self._lift(np.asarray(x, np.float32))))
        self.unbuilt += len(ids)
        self.gid_of = grown(self.gid_of, int(nids.max()) + 1, fill=-1)
        self.gid_of[nids] = ids
        self.ngt_of[ids] = nids

    def _append(self, x: np.ndarray) -> np.ndarray:
        """Bulk insert (one C++ call, graph built later by ``build``) -> NGT ids. ``batch_insert``
        returns no ids: it appends at the end of NGT's object repository (it does not reuse
        the slots of removed objects, unlike ``insert``), and ngtpy's ids are 0-based, so the
        new ids are ``repository size - 1 + arange(n)`` (slot 0 is reserved); checked after the call."""
        base = max(self.index.get_size_of_object_repository() - 1, 0)  # an empty repository is size 0
        self.index.batch_insert(x, num_threads=self.threads, build=False)
        if self.index.get_size_of_object_repository() - 1 != base + len(x):
            raise RuntimeError("NGT batch_insert did not append the objects in order")
        return base + np.arange(len(x), dtype=np.int64)

    def remove(self, ids: np.ndarray) -> None:
        ids = ids[(ids >= 0) & (ids < len(self.ngt_of))]
        nids = self.ngt_of[ids]
        keep = nids >= 0
        ids, nids = ids[keep], nids[keep]
        self.ngt_of[ids] = -1
        if self.unbuilt:  # NGT cannot remove an object that is not in the graph yet (WAL replay)
            self.build()
        if self.optimized:  # ONNG: the node stays in the graph, mapped to no id (ids are reused)
            self.gid_of[nids] = -1
            self.masked += len(ids)
            return
        for n in nids:
            self.index.remove(int(n))
        self.gid_of[nids] = -1

    def build(self, optimize: bool = False) -> None:
        if self.unbuilt:
            self.index.build_index(num_threads=self.threads)
            self.unbuilt = 0
        if optimize and self.p.graph == "onng" and not self.optimized:
            self._optimize()

    def _optimize(self) -> None:
        """ANNG -> ONNG (NGT's degree-adjusted graph): same object ids, better search."""
        self.index.save()
        self.index.close()
        out = self.path + ".onng"
        shutil.rmtree(out, ignore_errors=True)
        opt = self._ngtpy.Optimizer(num_of_outgoings=self.p.onng_outgoing,
                                    num_of_incomings=self.p.onng_incoming, log_disabled=True)
        # graph reconstruction only: NGT's search-coefficient / prefetch / accuracy-table passes
        # take minutes per subspace and tune for NGT's own expected-accuracy search, unused here
        opt.set_processing_modes(search_parameter_optimization=False,
                                 prefetch_parameter_optimization=False, accuracy_table_generation=False)
        opt.execute(self.path, out)
        shutil.rmtree(self.path)
        os.rename(out, self.path)
        self._open()
        self.optimized = True

    # -- search --------------------------------------------------------------------------
    def search(self, q: np.ndarray, T: int, params: SearchParams):
        m = len(q)
        size = T + min(self.masked, T)
        q = self._lift(q, query=True)
        if not self._warm and m:  # NGT-labs/NGT#174: one plain search before batch/threads
            self.index.search(q[0], size=1)
            self._warm = True
        edge = int(params.edge_size) if params.edge_size and params.edge_size > 0 else -2147483648
        if m <= SMALL_BATCH:
            # a handful of queries: plain searches; batch_search's OpenMP fork/join and result
            # object cost ~1-3 ms per call, far more than the search itself
            res = [self.index.search(qi, size=size, epsilon=float(params.epsilon), edge_size=edge) for qi in q]
            counts = np.array([len(r) for r in res], np.int64)
            flat = [p for r in res for p in r]
            nid = np.array([p[0] for p in flat], np.int64)
            dist = np.array([p[1] for p in flat], np.float32)
            offs = np.concatenate([[0], np.cumsum(counts)])
        else:
            kw = {"num_of_search_objects": size, "epsilon": float(params.epsilon)}
            if edge > 0:
                kw["edge_size"] = edge
            self.index.set(**kw)
            self.index.batch_search(np.ascontiguousarray(q, np.float32), self.results, size=size)
            offs = np.asarray(self.results.get_index(), np.int64)
            nid = np.asarray(self.results.get_indexed_ids(), np.int64)
            dist = np.asarray(self.results.get_indexed_distances(), np.float32)
            counts = np.diff(offs[: m + 1]) if len(offs) > m else np.diff(np.append(offs, len(nid)))
        row = np.repeat(np.arange(m), counts)
        col = np.arange(len(nid)) - np.repeat(offs[:m], counts)
        gid = self.gid_of[nid]
        ok = self.store.is_live(gid)
        # compact live results to the left, keep order (NGT returns them sorted)
        row, col, gid, dist = row[ok], col[ok], gid[ok], dist[ok]
        first = np.searchsorted(row, np.arange(m))  # rows are grouped by query, in order
        pos = np.arange(len(row)) - first[row]
        sel = pos < T
        ids = np.full((m, T), -1, np.int64)
        out = np.full((m, T), np.inf, np.float32)
        ids[row[sel], pos[sel]] = gid[sel]
        if self.metric == "ip":
            x = self.store.arrays[self.s][np.maximum(ids, 0)]
            d = partial("ip", q[:, : self.width], x).astype(np.float32)
            d[ids < 0] = np.inf
            order = np.argsort(d, axis=1, kind="stable")
            return np.take_along_axis(ids, order, 1), np.take_along_axis(d, order, 1)
        out[row[sel], pos[sel]] = dist[sel] * dist[sel]
        return ids, out

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str) -> None:
        self.index.save()
        shutil.copytree(self.path, os.path.join(path, "ngt"))
        np.savez(os.path.join(path, "ngtmap.npz"), gid_of=self.gid_of, ngt_of=self.ngt_of,
                 meta=np.array([self.masked, int(self.optimized)], np.int64), M=np.array([self.M]))

    def load(self, path: str) -> None:
        self.index.close()
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.copytree(os.path.join(path, "ngt"), self.path)
        with np.load(os.path.join(path, "ngtmap.npz")) as z:
            self.gid_of, self.ngt_of = z["gid_of"].copy(), z["ngt_of"].copy()
            self.masked, opt = (int(v) for v in z["meta"])
            self.M = float(z["M"][0])
        self.optimized = bool(opt)
        self.unbuilt = 0
        self._open()

    def nbytes(self) -> int:
        """Estimate: float32 objects plus 4-byte edges (NGT reports counts, not bytes)."""
        n = int((self.ngt_of >= 0).sum()) + self.masked
        edges = self.p.onng_outgoing + self.p.onng_incoming if self.optimized else 2 * self.p.edge_size_for_creation
        return n * 4 * (self.width + (self.metric == "ip") + edges)

    def close(self) -> None:
        self.index.close()
