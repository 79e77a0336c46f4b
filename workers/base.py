"""The one Worker interface every transport (in-process, Ray actor, gRPC) implements.

A worker owns a *group* of subspaces (one or more) of the split space. The coordinator
sends it only its columns of each vector; the worker keeps one inner index per subspace
and answers batch-first calls: one call carries many queries.

Ids are the coordinator's int64 internal ids. Distances are *partial* distances in the
worker's subspaces: squared L2 for ``l2``/``cosine`` and ``-<q, x>`` for ``ip``, so that
the full distance is the sum over all subspaces.
"""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

METRICS = ("l2", "cosine", "ip")


@dataclass
class InnerParams:
    """Build-time parameters of the inner (per-subspace) index.

    kind: ``hnsw`` (faiss HNSW, the default: measured fastest here, see docs/TUNING.md),
    ``hnsw_sq`` (faiss HNSW over 8-bit codes: less memory, refined by the exact re-rank),
    ``ngt`` (NGT ANNG / ONNG), ``exact`` (BLAS brute force; the test oracle and a fast choice
    for very low-dim subspaces of small collections).
    hnsw_M / hnsw_ef_construction: faiss HNSW degree and build beam (M=16 wins at recall 0.95,
    M=32 costs 1.6x the build for the last points at 0.99).
    graph: ``anng`` or ``onng`` (NGT's optimised graph: better search, slower build,
    no in-place remove — removed ids are masked instead).
    """

    kind: str = "hnsw"
    edge_size_for_creation: int = 10
    hnsw_M: int = 16
    hnsw_ef_construction: int = 100
    edge_size_for_search: int = 40
    graph: str = "anng"
    onng_outgoing: int = 10
    onng_incoming: int = 120
    onng_creation_edges: int = 100
    threads: int = 0  # 0: all cores
    # segments and compaction (``segments``; kinds hnsw, hnsw_sq, symqg): the growing segment is
    # sealed into a graph at ``seal_rows``; all segments merge into one graph when the rows outside
    # the largest (plus every dead row) reach ``merge_ratio`` of it, when its deleted share reaches
    # ``max_deleted``, or after ``idle_seconds`` without a write when the one graph would hold at most
    # ``idle_merge_rows`` (larger: idle merges only the small segments and the growing rows, so a
    # trickle of writes never rebuilds a large graph); background merges build with
    # ``compact_threads`` (1 leaves a core to searches); ``compact=False``: only build()/compact merge
    seal_rows: int = 4096
    merge_ratio: float = 0.5
    max_deleted: float = 0.1
    idle_seconds: float = 1.0
    idle_merge_rows: int = 262144
    compact_threads: int = 1
    compact_nice: int = 10  # the compactor thread's nice above its process's (Linux): searches and writes first
    compact: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InnerParams":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class SearchParams:
    """Per-query knobs of the subspace searches."""

    epsilon: float = 0.1  # NGT's search range expansion
    edge_size: int = -1   # NGT; -1: the index's edge_size_for_search
    ef_search: int = 0    # faiss HNSW beam; 0: T (tied to T, as measured best; never below T)


@dataclass
class WorkerSpec:
    """Which subspaces a worker holds and their widths (columns of the worker's slice)."""

    subspaces: list[int]
    widths: list[int]
    metric: str = "l2"
    inner: InnerParams = field(default_factory=InnerParams)

    @property
    def dim(self) -> int:
        return int(sum(self.widths))

    def to_dict(self) -> dict:
        return {"subspaces": list(self.subspaces), "widths": list(self.widths),
                "metric": self.metric, "inner": self.inner.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "WorkerSpec":
        return cls(list(d["subspaces"]), list(d["widths"]), d.get("metric", "l2"),
                   InnerParams.from_dict(d.get("inner", {})))


class CoordinatorLog(Protocol):
    """What a remote worker reads from its coordinator to stay in step with the write-ahead log
    (implemented by ``sanny.engine.journal.Journal``)."""

    @property
    def seq(self) -> int:
        """The WAL seq of the newest write the coordinator has applied."""

    def since(self, rank: int, after: int) -> list | None:
        """Worker ``rank``'s writes after seq ``after``: ``[(seq, removed_ids, added_ids | None,
        slices | None), ...]``, or None when the log no longer reaches back that far."""


@dataclass(frozen=True)
class WorkerSite:
    """Where a worker sits in an index, given to ``worker_factory(spec, site)``: ``rank`` (its
    group's position in the layout), ``workdir`` (its scratch folder on the coordinator) and
    ``log`` (remote transports stamp writes with ``log.seq`` and catch up from ``log.since``);
    in a grid also its row ``shard`` and ``replica`` number (transports pick the address)."""

    rank: int
    workdir: str
    log: CoordinatorLog | None = None
    shard: int = 0    # row shard (grid index; see sanny.engine.grid)
    replica: int = 0  # which of the cell's replicas


class Worker(abc.ABC):
    """Subspace worker protocol. Arrays in, arrays out; no transport details."""

    spec: WorkerSpec

    @abc.abstractmethod
    def insert(self, ids: np.ndarray, slices: np.ndarray) -> None:
        """Add vectors: ``ids[n]`` int64, ``slices[n, spec.dim]`` float32 (this worker's columns)."""

    @abc.abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Forget ids; unknown ids are ignored (removal is idempotent for WAL replay)."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, T: int, params: SearchParams
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``T`` per subspace: ``ids[g, m, T]`` (-1 padded), ``dists[g, m, T]`` (inf padded),
        ``g`` = number of subspaces this worker holds, rows sorted by distance."""

    @abc.abstractmethod
    def partial_distances(self, queries: np.ndarray, candidate_ids: np.ndarray) -> np.ndarray:
        """Sum over this worker's subspaces of the partial distance of each candidate:
        ``candidate_ids[m, C]`` (-1 = none) -> ``dists[m, C]`` (inf where none/unknown)."""

    @abc.abstractmethod
    def build(self) -> None:
        """Make every inserted vector searchable (graph construction / optimisation)."""

    @abc.abstractmethod
    def save(self, path: str) -> None:
        """Write the worker's complete state under directory ``path``."""

    @abc.abstractmethod
    def load(self, path: str) -> None:
        """Replace the worker's state with the one saved under ``path``."""

    def save_blocker(self) -> str | None:
        """Why a ``save`` would fail now (checked before a checkpoint writes anything), or None."""
        return None

    def committed(self) -> None:
        """The coordinator's snapshot naming the last ``save`` is durable: a worker that keeps
        its saves elsewhere (remote) may now discard older ones."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """Counts, dims and memory, for info/health."""

    def close(self) -> None:  # pragma: no cover - default no-op
        """Release resources (files, processes)."""
