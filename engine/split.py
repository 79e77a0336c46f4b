"""How the d columns of the searched space are cut into S subspaces and grouped onto workers.

Widths: ``d // S`` each, and when ``d % S != 0`` the *first* ``d % S`` subspaces get one extra
column, so widths differ by at most one and every column is used exactly once (no padding,
no silently shorter last subspace).

Assignment: ``contiguous`` (subspace s holds a run of adjacent columns, as the reference does)
or ``balanced`` (columns dealt out greedily by variance so every subspace holds a similar share
of it; after PCA the leading, high-variance components would otherwise all land in subspace 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sanny.workers.errors import InvalidArgument

ASSIGNMENTS = ("contiguous", "balanced")


def widths(dim: int, S: int) -> list[int]:
    if S < 1:
        raise InvalidArgument("S", f"must be >= 1, got {S}")
    if S > dim:
        raise InvalidArgument("S", f"cannot exceed the dimension {dim}, got {S}")
    base, extra = divmod(dim, S)
    return [base + (1 if s < extra else 0) for s in range(S)]


def assign(dim: int, S: int, how: str = "contiguous", variances: np.ndarray | None = None) -> list[list[int]]:
    """Column indices of each subspace (sorted within a subspace)."""
    w = widths(dim, S)
    if how == "contiguous":
        edges = np.concatenate([[0], np.cumsum(w)])
        return [list(range(int(a), int(b))) for a, b in zip(edges[:-1], edges[1:])]
    if how != "balanced":
        raise InvalidArgument("assignment", f"must be one of {ASSIGNMENTS}, got {how!r}")
    if variances is None or len(variances) != dim:
        raise InvalidArgument("assignment", "'balanced' needs per-column variances (train the index first)")
    cols: list[list[int]] = [[] for _ in range(S)]
    load = np.zeros(S)
    for c in np.argsort(-np.asarray(variances), kind="stable"):
        open_ = [s for s in range(S) if len(cols[s]) < w[s]]
        s = min(open_, key=lambda t: (load[t], t))
        cols[s].append(int(c))
        load[s] += variances[c]
    return [sorted(c) for c in cols]


def group(S: int, workers: int) -> list[list[int]]:
    """Split subspaces 0..S-1 into ``workers`` contiguous groups of near-equal size."""
    if not 1 <= workers <= S:
        raise InvalidArgument("workers", f"must be between 1 and S={S}, got {workers}")
    edges = np.linspace(0, S, workers + 1).round().astype(int)
    return [list(range(a, b)) for a, b in zip(edges[:-1], edges[1:])]


@dataclass
class Layout:
    """Columns per subspace and subspaces per worker; the coordinator's map of the split."""

    columns: list[list[int]]
    groups: list[list[int]]

    @property
    def S(self) -> int:
        return len(self.columns)

    def worker_columns(self, w: int) -> np.ndarray:
        """The columns worker ``w`` receives, in the order of its subspaces."""
        return np.array([c for s in self.groups[w] for c in self.columns[s]], np.int64)

    def query_columns(self, w: int, width: int) -> np.ndarray | None:
        """:meth:`worker_columns`, or None when they are the whole ``width``-wide space in order
        (the search then sends the query block as it is: no gathered copy)."""
        cols = self.worker_columns(w)
        return None if len(cols) == width and np.array_equal(cols, np.arange(width)) else cols

    def worker_widths(self, w: int) -> list[int]:
        return [len(self.columns[s]) for s in self.groups[w]]

    def to_dict(self) -> dict:
        return {"columns": self.columns, "groups": self.groups}

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        return cls([list(c) for c in d["columns"]], [list(g) for g in d["groups"]])
