"""The in-process Worker: a group of subspaces, their slices and one inner index each.

This class *is* the worker; the Ray and gRPC transports host an instance of it and forward
calls. ``inner.kind='exact'`` makes it the brute-force oracle behind the same interface.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np

from .base import SearchParams, Worker, WorkerSite, WorkerSpec
from .compactor import Compactor
from .heap import give_back, hold_large_apart
from .inner import make_inner
from . import parallel
from .kernels import SMALL_BATCH, partial
from .slices import SliceStore


class LocalWorker(Worker):
    def __init__(self, spec: WorkerSpec, workdir: str | None = None):
        hold_large_apart()  # this process will hold an index: its large arrays in their own mappings
        self.spec = spec
        self._own_tmp = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="sanny-worker-")
        os.makedirs(self.workdir, exist_ok=True)
        self.offsets = np.concatenate([[0], np.cumsum(spec.widths)]).astype(int)
        self._reset()

    def _reset(self) -> None:
        self.store = SliceStore(self.spec.widths)
        self.inners = [
            make_inner(self.spec.inner.kind, os.path.join(self.workdir, f"sub{s:03d}"), w,
                       self.spec.inner, self.spec.metric, self.store, i)
            for i, (s, w) in enumerate(zip(self.spec.subspaces, self.spec.widths))
        ]
        self.compactor = Compactor(self.inners, self.spec.inner)

    def _parts(self, x: np.ndarray) -> list[np.ndarray]:
        return [x[:, a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.spec.dim:
            raise ValueError(f"{what}: expected shape (n, {self.spec.dim}), got {x.shape}")
        return x

    # -- writes --------------------------------------------------------------------------
    def insert(self, ids, slices) -> None:
        ids = np.asarray(ids, np.int64)
        x = self._check(slices, "slices")
        if len(ids) != len(x):
            raise ValueError(f"ids ({len(ids)}) and slices ({len(x)}) differ in length")
        again = self.store.is_live(ids)
        if again.any():  # replayed insert of an id we already hold: replace it
            self.remove(ids[again])
        parts = self._parts(x)
        self.store.put(ids, parts)
        for inner, p in zip(self.inners, parts):
            inner.add(ids, np.ascontiguousarray(p))
        self.compactor.note_write()

    def remove(self, ids) -> None:
        gone = self.store.drop(np.asarray(ids, np.int64))
        for inner in self.inners:
            inner.remove(gone)
        self.compactor.note_write()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until background compaction has nothing left to do (``Compactor.settle``)."""
        return self.compactor.settle(timeout)

    def build(self, optimize: bool = False) -> None:
        for inner in self.inners:
            inner.build(optimize)
        if optimize:
            give_back()  # the merged-away segments' pages
        self.compactor.wake()  # rows written during the build: planned now, not at the next write

    # -- reads ---------------------------------------------------------------------------
    def search(self, queries, T, params: SearchParams | None = None):
        q = self._check(queries, "queries")
        params = params or SearchParams()
        if len(self.inners) == 1:  # one subspace: no slicing, no stacking copies
            ids, d = self.inners[0].search(q, int(T), params)
            return ids[None], d[None]
        calls = [lambda inner=inner, p=p: inner.search(np.ascontiguousarray(p), int(T), params)
                 for inner, p in zip(self.inners, self._parts(q))]
        # a few queries: the subspaces overlap on idle cores (larger batches thread inside)
        res = parallel.run(calls) if len(q) <= SMALL_BATCH else [c() for c in calls]
        return np.stack([r[0] for r in res]), np.stack([r[1] for r in res])

    def partial_distances(self, queries, candidate_ids) -> np.ndarray:
        q = self._check(queries, "queries")
        cand = np.asarray(candidate_ids, np.int64)
        live = self.store.is_live(cand)
        safe = np.where(live, cand, 0)
        total = np.zeros(cand.shape, np.float32)
        for a, p in zip(self.store.arrays, self._parts(q)):
            total += partial(self.spec.metric, p, a[safe]).astype(np.float32)
        total[~live] = np.inf
        return total

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        np.savez(os.path.join(path, "slices.npz"), **self.store.state())
        for s, inner in zip(self.spec.subspaces, self.inners):
            d = os.path.join(path, f"sub{s:03d}")
            os.makedirs(d, exist_ok=True)
            inner.save(d)
        with open(os.path.join(path, "worker.json"), "w") as f:
            json.dump(self.spec.to_dict(), f)
        give_back()  # the libraries' and numpy's write buffers (a graph's size, every checkpoint)

    def load(self, path: str) -> None:
        with open(os.path.join(path, "worker.json")) as f:
            saved = WorkerSpec.from_dict(json.load(f))
        if saved.widths != self.spec.widths or saved.subspaces != self.spec.subspaces:
            raise ValueError(f"saved worker holds subspaces {saved.subspaces} {saved.widths}, "
                             f"expected {self.spec.subspaces} {self.spec.widths}")
        with np.load(os.path.join(path, "slices.npz")) as z:
            self.store = SliceStore.from_state(self.spec.widths, dict(z))
        for i, (s, inner) in enumerate(zip(self.spec.subspaces, self.inners)):
            inner.store = self.store
            inner.load(os.path.join(path, f"sub{s:03d}"))
        self.compactor.note_write()  # a save with growing rows or dead ones: compacted from now on

    def stats(self) -> dict:
        out = {"subspaces": list(self.spec.subspaces), "widths": list(self.spec.widths),
               "count": self.store.count, "inner": self.spec.inner.kind,
               "graph": self.spec.inner.graph,
               "index_bytes": int(sum(i.nbytes() for i in self.inners)),
               "slice_bytes": int(sum(a.nbytes for a in self.store.arrays))}
        if self.compactor.inners:  # segmented kinds: the first subspace's segments stand for all
            out.update(self.compactor.inners[0].stats())
            out["compaction"] = self.compactor.state()
        return out

    def close(self) -> None:
        self.compactor.close()
        for inner in self.inners:
            inner.close()
        if self._own_tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)


def local_factory(spec: WorkerSpec, site: WorkerSite) -> LocalWorker:
    """The default ``worker_factory``: in-process workers in the index's scratch folders."""
    return LocalWorker(spec, site.workdir)
