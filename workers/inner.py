"""Inner indexes: one per subspace, all with the same small interface (``Inner``, ``make_inner``).

``hnsw`` (faiss HNSW, the default), ``hnsw_sq`` (HNSW over 8-bit codes) and ``symqg`` (SymphonyQG:
RaBitQ codes on the edges) are ``SegmentedInner``s (``segments``): an exact growing segment plus
sealed static graphs (``graphs``) with delete bitmaps, compacted in the background. ``ngt`` wraps
ngtpy (ANNG, optionally optimised to ONNG; NGT removes in place). ``exact`` (here) is BLAS brute
force over the worker's slice array: the test oracle, and a sound choice when a subspace is very
low-dimensional and the collection small.

Every kind returns partial distances: squared L2 (``l2``/``cosine``) or ``-<q,x>`` (``ip``;
recomputed from the slices where a library's inner-product score is not the dot product).
"""
from __future__ import annotations

import numpy as np

import os
from typing import Protocol

from .base import InnerParams, SearchParams
from .graphs import GRAPH_MIN, ExactGraph, HnswGraph, SymqgGraph
from .kernels import scan
from .ngt_inner import NgtInner
from .segments import Segment, SegmentedInner

INNER_KINDS = ("hnsw", "hnsw_sq", "symqg", "ngt", "exact")


def exact_partials(kind: str) -> bool:
    """Whether an inner kind returns exact partial distances (hence lower bounds of the full
    one): all but ``hnsw_sq``, whose graph holds 8-bit codes (symqg re-ranks its codes itself)."""
    return kind != "hnsw_sq"


class Inner(Protocol):
    """What a worker needs of one subspace's index (every kind in ``INNER_KINDS``)."""

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:
        """Index rows ``x`` under internal ids ``ids`` (their slices are already in the store)."""

    def remove(self, ids: np.ndarray) -> None:
        """Forget ids (unknown ones are ignored)."""

    def build(self, optimize: bool = False) -> None:
        """After every write (``optimize=False``: cheap or nothing); ``optimize``: the best
        structure now (one graph, ONNG, ...)."""

    def search(self, q: np.ndarray, T: int, params: SearchParams) -> tuple[np.ndarray, np.ndarray]:
        """Top-``T`` live ids and partial distances per query, sorted, (-1, inf) padded."""

    def save(self, path: str) -> None: ...

    def load(self, path: str) -> None: ...

    def nbytes(self) -> int: ...

    def close(self) -> None: ...


class ExactInner:
    """Brute force over ``store.arrays[s]`` (shared with the worker, no copy)."""

    def __init__(self, store, s: int, metric: str):
        self.store, self.s, self.metric = store, s, metric

    def add(self, ids: np.ndarray, x: np.ndarray) -> None:  # data already in the store
        pass

    def remove(self, ids: np.ndarray) -> None:
        pass

    def build(self, optimize: bool = False) -> None:
        pass

    def search(self, q: np.ndarray, T: int, params: SearchParams):
        n = self.store.size
        return scan(q, self.store.arrays[self.s][:n], T, self.metric, dead=~self.store.live[:n])

    def save(self, path: str) -> None:
        pass

    def load(self, path: str) -> None:
        pass

    def nbytes(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _degree(p: InnerParams) -> int:
    """symqg's degree: HNSW's level-0 degree ``2 * hnsw_M``, rounded up to the fast-scan block of 32."""
    return -(-2 * p.hnsw_M // 32) * 32


def segmented(kind: str, width: int, p: InnerParams, metric: str, store, s: int) -> SegmentedInner:
    """A ``SegmentedInner`` whose sealed segments are ``kind``'s graphs (exact when tiny)."""
    if kind == "symqg":
        def make(x, threads):
            if len(x) < max(GRAPH_MIN, _degree(p) + 1):
                return ExactGraph(x, metric)
            return SymqgGraph.build(x, metric, _degree(p), p.hnsw_ef_construction, threads)
    else:
        def make(x, threads):
            if len(x) < GRAPH_MIN:
                return ExactGraph(x, metric)
            return HnswGraph.build(x, metric, p.hnsw_M, p.hnsw_ef_construction, kind == "hnsw_sq", threads)

    def load(base, n):
        if os.path.exists(base + ".faiss"):
            return HnswGraph.load(base, metric)
        if os.path.exists(base + ".symqg"):
            return SymqgGraph.load(base, metric, n, width, _degree(p))
        return ExactGraph.load(base, metric)

    return SegmentedInner(make, load, width, p, metric, store, s,
                          load_legacy=lambda inner, path: _load_legacy(inner, path, metric, width, p))


def _load_legacy(inner: SegmentedInner, path: str, metric: str, width: int, p: InnerParams) -> None:
    """A save from before segments (one graph + masked ids, symqg's exact tail): one sealed
    segment whose dead rows are the ids no longer live (and older duplicates), the tail growing."""
    live = inner.store.is_live
    if os.path.exists(os.path.join(path, "hnswmap.npz")):
        import faiss

        with np.load(os.path.join(path, "hnswmap.npz")) as z:
            gid_of = z["gid_of"].copy()
        graph, tail = HnswGraph(faiss.read_index(os.path.join(path, "hnsw.faiss")), metric), np.zeros(0, np.int64)
    else:
        import rabitqlib

        with np.load(os.path.join(path, "symqgmap.npz")) as z:
            gid_of, tail = z["gid_of"].copy(), z["tail"].copy()
        graph = (SymqgGraph(rabitqlib.SymqgIndex.load(os.path.join(path, "symqg.idx")), len(gid_of), width,
                            _degree(p), metric, inner.store.arrays[inner.s][gid_of] if metric == "ip" else None)
                 if len(gid_of) else None)
    tail = np.unique(tail[live(tail)])
    dead = ~live(gid_of) | np.isin(gid_of, tail)
    last = len(gid_of) - 1 - np.unique(gid_of[::-1], return_index=True)[1]  # newest row of each id
    dup = np.ones(len(gid_of), bool)
    dup[last] = False
    sealed = {1: Segment(1, graph, gid_of, dead | dup)} if graph is not None else {}
    inner.adopt(sealed, tail, 1)


def make_inner(kind: str, workdir: str, width: int, params: InnerParams, metric: str, store, s: int) -> Inner:
    if kind == "exact":
        return ExactInner(store, s, metric)
    if kind == "ngt":
        return NgtInner(workdir, width, params, metric, store, s)
    if kind in ("hnsw", "hnsw_sq", "symqg"):
        return segmented(kind, width, params, metric, store, s)
    raise ValueError(f"inner index kind must be one of {INNER_KINDS}, got {kind!r}")
