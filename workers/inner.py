"""Inner indexes: one per subspace, all with the same small interface (``make_inner``).

``HnswInner`` (``hnsw_inner``) wraps faiss HNSW (``hnsw``, the default; ``hnsw_sq`` with 8-bit
codes); ``SymqgInner`` (``symqg_inner``) a SymphonyQG quantised graph (rabitqlib) with an exact
tail of recent inserts; ``NgtInner`` (``ngt_inner``) wraps ngtpy (ANNG, optionally optimised to ONNG). ``ExactInner`` (here) is BLAS brute force over the worker's slice array: the test oracle, and a sound choice when a subspace is
very low-dimensional and the collection small.

All five kinds (``INNER_KINDS``) return squared-L2 partial distances (``ip``: ``-<q,x>``,
recomputed from the slices since NGT's inner-product "distance" is a transformed score, not the
dot product); exact ones but for ``hnsw_sq`` (``exact_partials``).
"""
from __future__ import annotations

import numpy as np

from .base import InnerParams, SearchParams
from .hnsw_inner import HnswInner
from .kernels import scan
from .ngt_inner import NgtInner
from .symqg_inner import SymqgInner

INNER_KINDS = ("hnsw", "hnsw_sq", "symqg", "ngt", "exact")


def exact_partials(kind: str) -> bool:
    """Whether an inner kind returns exact partial distances (hence lower bounds of the full
    one): all but ``hnsw_sq``, whose graph holds 8-bit codes (symqg re-ranks its codes itself)."""
    return kind != "hnsw_sq"


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


def make_inner(kind: str, workdir: str, width: int, params: InnerParams, metric: str, store, s: int):
    if kind == "exact":
        return ExactInner(store, s, metric)
    if kind == "ngt":
        return NgtInner(workdir, width, params, metric, store, s)
    if kind == "symqg":
        return SymqgInner(width, params, metric, store, s)
    if kind in ("hnsw", "hnsw_sq"):
        return HnswInner(width, params, metric, store, s, quantized=kind == "hnsw_sq")
    raise ValueError(f"inner index kind must be one of {INNER_KINDS}, got {kind!r}")
