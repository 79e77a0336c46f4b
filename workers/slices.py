"""Dense per-subspace storage of a worker's slices, indexed directly by internal id.

Every worker holds a slice of *every* vector (the split is by dimension, not by row), and the
coordinator hands out dense, never-reused int64 ids, so the id itself is the row: lookups for
partial distances and exact search are plain numpy fancy indexing, no dict per candidate.
"""
from __future__ import annotations

import numpy as np

from .arrays import grown


def live_lookup(live: np.ndarray, size: int, ids: np.ndarray) -> np.ndarray:
    """Vectorised liveness of ``ids`` in a mask by id; ``-1`` and out-of-range ids are not live."""
    ids = np.asarray(ids, np.int64)
    if not len(live):
        return np.zeros(ids.shape, bool)
    out = live.take(ids, mode="clip")
    out &= ids.view(np.uint64) < size  # negative ids wrap to huge ones: one test of 0 <= id < size
    return out


class SliceStore:
    def __init__(self, widths: list[int], capacity: int = 1024):
        self.widths = list(widths)
        self.arrays = [np.zeros((capacity, w), np.float32) for w in self.widths]
        self.live = np.zeros(capacity, bool)
        self.size = 0  # one past the highest id ever stored

    @property
    def capacity(self) -> int:
        return len(self.live)

    @property
    def count(self) -> int:
        return int(self.live[: self.size].sum())

    def _grow(self, need: int) -> None:
        if need <= self.capacity:
            return
        need = max(need, 2 * self.capacity)  # every array keeps the same capacity
        self.arrays = [grown(a, need, self.size) for a in self.arrays]
        self.live = grown(self.live, need, self.size)

    def put(self, ids: np.ndarray, parts: list[np.ndarray]) -> None:
        """Store ``parts[s][n, widths[s]]`` under ``ids[n]``."""
        if len(ids) == 0:
            return
        self._grow(int(ids.max()) + 1)
        for a, p in zip(self.arrays, parts):
            a[ids] = p
        self.live[ids] = True
        self.size = max(self.size, int(ids.max()) + 1)

    def drop(self, ids: np.ndarray) -> np.ndarray:
        """Mark ids dead; returns the ids that were live."""
        ids = ids[(ids >= 0) & (ids < self.size)]
        ids = ids[self.live[ids]]
        self.live[ids] = False
        return ids

    def is_live(self, ids: np.ndarray) -> np.ndarray:
        return live_lookup(self.live, self.size, ids)

    def state(self) -> dict[str, np.ndarray]:
        d = {f"s{i}": a[: self.size] for i, a in enumerate(self.arrays)}
        d["live"] = self.live[: self.size]
        return d

    @classmethod
    def from_state(cls, widths: list[int], st: dict[str, np.ndarray]) -> "SliceStore":
        """A store that adopts the loaded arrays instead of copying them into new ones, so a
        worker's load holds one copy of its slices, not two for a moment (its peak memory); the
        first insert after the load grows them (capacity doubling, as always)."""
        store = cls(widths, capacity=0)
        store.arrays = [np.ascontiguousarray(st[f"s{i}"], np.float32) for i in range(len(widths))]
        store.live = np.ascontiguousarray(st["live"], bool)
        store.size = len(store.live)
        return store
