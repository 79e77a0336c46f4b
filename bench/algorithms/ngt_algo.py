"""Plain NGT (ngtpy) on the full vectors: ANNG, or ONNG (an ANNG built with
``onng_creation_edges`` edges, then degree-adjusted by ``ngtpy.Optimizer``). Query: ``epsilon``.

Construction defaults and optimizer modes are those of Sanny's inner NGT (``InnerParams``,
prefetch / search-coefficient passes off), so the baseline and Sanny's subspace graphs are
built the same way.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from sanny.engine import InnerParams

from .base import Algorithm, dir_bytes

_INNER = InnerParams()


class NGT(Algorithm):
    name = "ngt"

    def __init__(self, metric: str, graph: str = "anng",
                 edge_size_for_creation: int = _INNER.edge_size_for_creation,
                 edge_size_for_search: int = _INNER.edge_size_for_search, onng_outgoing: int = _INNER.onng_outgoing,
                 onng_incoming: int = _INNER.onng_incoming, onng_creation_edges: int = _INNER.onng_creation_edges):
        if graph not in ("anng", "onng"):
            raise ValueError(f"ngt: graph must be 'anng' or 'onng', got {graph!r}")
        bp = dict(graph=graph, edge_size_for_creation=edge_size_for_creation,
                  edge_size_for_search=edge_size_for_search)
        if graph == "onng":
            bp.update(onng_outgoing=onng_outgoing, onng_incoming=onng_incoming,
                      onng_creation_edges=onng_creation_edges)
            del bp["edge_size_for_creation"]
        super().__init__(metric, **bp)
        self.index = None
        self.root = None
        self.epsilon = 0.1

    def fit(self, X: np.ndarray) -> None:
        import ngtpy

        bp = self.build_params
        onng = bp["graph"] == "onng"
        self.root = tempfile.mkdtemp(prefix="ngt-bench-", dir=self.workdir)
        anng = os.path.join(self.root, "anng")
        ngtpy.create(anng, X.shape[1], distance_type="L2", object_type="Float",
                     edge_size_for_creation=bp["onng_creation_edges"] if onng else bp["edge_size_for_creation"],
                     edge_size_for_search=bp["edge_size_for_search"])
        index = ngtpy.Index(anng, log_disabled=True)
        index.batch_insert(np.ascontiguousarray(X, np.float32), num_threads=os.cpu_count() or 1)
        path = anng
        if onng:
            index.save()
            index.close()
            path = os.path.join(self.root, "onng")
            opt = ngtpy.Optimizer(num_of_outgoings=bp["onng_outgoing"], num_of_incomings=bp["onng_incoming"],
                                  log_disabled=True)
            # graph reconstruction only, as Sanny's inner NGT does: the search-parameter tuning
            # pass can run for many minutes (seen stuck in Optimizer::exploreEpsilonForAccuracy
            # on 5k x 64) and the harness sets epsilon itself
            opt.set_processing_modes(search_parameter_optimization=False,
                                     prefetch_parameter_optimization=False, accuracy_table_generation=False)
            opt.execute(anng, path)
            index = ngtpy.Index(path, log_disabled=True)
        self.index, self.path = index, path
        self.results = ngtpy.BatchResults()
        self.index.search(np.ascontiguousarray(X[0], np.float32), size=1)  # warm-up (NGT-labs/NGT#174)

    def set_query_arguments(self, epsilon: float = 0.1) -> None:
        super().set_query_arguments(epsilon=epsilon)
        self.epsilon = float(epsilon)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        res = self.index.search(q, size=k, epsilon=self.epsilon, with_distance=False)
        return np.asarray(res, np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        m = len(Q)
        self.index.set(epsilon=self.epsilon, num_of_search_objects=k)
        self.index.batch_search(np.ascontiguousarray(Q, np.float32), self.results, size=k)
        offs = np.asarray(self.results.get_index(), np.int64)[: m + 1]
        ids = np.asarray(self.results.get_indexed_ids(), np.int64)[offs[0]: offs[-1]]
        counts = np.diff(offs)
        out = np.full((m, k), -1, np.int64)
        row = np.repeat(np.arange(m), counts)
        col = np.arange(len(ids)) - np.repeat(offs[:-1] - offs[0], counts)
        keep = col < k
        out[row[keep], col[keep]] = ids[keep]
        return out

    def index_bytes(self) -> int | None:
        # ngtpy's get_size_of_*_repository() are object counts, not bytes: measure the saved index
        self.index.save()
        return dir_bytes(self.path)

    def done(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
