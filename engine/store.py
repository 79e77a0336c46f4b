"""Keys <-> dense internal ids, and the full vectors used for the exact re-rank.

Ids are dense and reused: a new key takes the smallest free id (one a removed or replaced key
gave back), else the next one, so every array indexed by id (here and in every worker's slices)
stays as long as the most keys ever live at once, however many upserts and removes go by. An id a
write drops becomes free only when the next write starts: writes apply one at a time, so by then
every worker has been sent the removal, and no search can meet an id that a worker still holds
for its old vector while the store already names a new key for it.
Workers index their slices by id; their segments keep liveness by row, so a reused id is never
confused with the row it had before. ``keep_vectors=False`` keeps keys only: the distributed
re-rank mode, where workers hold the data and the coordinator adds up partial distances.
"""
from __future__ import annotations

import heapq
import json
import os

import numpy as np

from sanny.workers.arrays import grown

from sanny.workers.slices import live_lookup


class VectorStore:
    def __init__(self, dim: int, keep_vectors: bool = True, capacity: int = 1024, space_dim: int = 0):
        self.dim, self.keep_vectors = dim, keep_vectors
        # reduced (PCA) coordinates + residual norms, for the re-rank's exact lower bound;
        # derived from the vectors, so rebuilt on load rather than saved
        self.space = np.zeros((capacity if space_dim else 0, space_dim), np.float32)
        self.resid = np.zeros(capacity if space_dim else 0, np.float32)
        self.keys: list[str | None] = []  # by id; None once removed
        self.ids: dict[str, int] = {}
        self.live = np.zeros(capacity, bool)
        self.vectors = np.zeros((capacity if keep_vectors else 0, dim), np.float32)
        self.free: list[int] = []  # heap of ids below size with no key
        self.limbo: list[int] = []  # dropped by the last write: free from the next one on

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def size(self) -> int:
        return len(self.keys)

    def _grow(self, need: int) -> None:
        if need <= len(self.live):
            return
        need = max(need, 2 * len(self.live))  # every array keeps the same capacity
        self.live = grown(self.live, need, self.size)
        if not self.keep_vectors:
            return
        self.vectors = grown(self.vectors, need, self.size)
        if self.space.shape[1]:
            self.space, self.resid = grown(self.space, need, self.size), grown(self.resid, need, self.size)

    def add(self, keys: list[str], vectors: np.ndarray, projected=None) -> np.ndarray:
        """Ids for new keys, free ones first (callers remove old ones first). ``projected``:
        (space, resid)."""
        reused = [heapq.heappop(self.free) for _ in range(min(len(keys), len(self.free)))]
        start = self.size
        fresh = len(keys) - len(reused)
        ids = np.concatenate([np.array(reused, np.int64), np.arange(start, start + fresh, dtype=np.int64)])
        self._grow(start + fresh)
        self.keys.extend([None] * fresh)
        if self.keep_vectors:
            self.vectors[ids] = vectors
            if projected is not None and self.space.shape[1]:
                self.space[ids], self.resid[ids] = projected
        self.live[ids] = True
        for k, i in zip(keys, ids.tolist()):
            self.keys[i] = k
            self.ids[k] = i
        return ids

    def _set_projected(self, start: int, y: np.ndarray, resid: np.ndarray) -> None:
        end = start + len(y)
        self.space[start:end], self.resid[start:end] = y, resid

    def drop(self, keys: list[str]) -> np.ndarray:
        """The first step of every write: the previous write's dropped ids become free (its
        removals have reached the workers), this one's wait for the next write."""
        for i in self.limbo:
            heapq.heappush(self.free, i)
        ids = np.array([self.ids.pop(k) for k in keys if k in self.ids], np.int64)
        self.limbo = ids.tolist()
        for i in self.limbo:
            self.keys[i] = None
        self.live[ids] = False
        return ids

    def lookup(self, keys: list[str]) -> np.ndarray:
        return np.array([self.ids.get(k, -1) for k in keys], np.int64)

    def keys_of(self, ids: np.ndarray) -> np.ndarray:
        keys = self.keys
        out = np.empty(ids.shape, object)
        out.ravel()[:] = [keys[i] if i >= 0 else None for i in ids.ravel().tolist()]  # ints: fast list indexing
        return out

    def is_live(self, ids: np.ndarray) -> np.ndarray:
        size = len(self.keys)
        if len(self.ids) == size:  # no id below size is free: one range test, no lookup
            return np.asarray(ids, np.int64).view(np.uint64) < size
        return live_lookup(self.live, size, ids)

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str) -> None:
        with open(os.path.join(path, "keys.json"), "w") as f:
            json.dump(self.keys, f)
        if self.keep_vectors:
            np.save(os.path.join(path, "vectors.npy"), self.vectors[: self.size])

    @classmethod
    def load(cls, path: str, dim: int, keep_vectors: bool, project=None) -> "VectorStore":
        """``project``: the PCA's ``project`` function, to rebuild the reduced coordinates."""
        with open(os.path.join(path, "keys.json")) as f:
            keys = json.load(f)
        space_dim = 0
        if project is not None and keep_vectors:
            space_dim = project(np.zeros((1, dim), np.float32))[0].shape[1]
        st = cls(dim, keep_vectors, capacity=max(1024, len(keys)), space_dim=space_dim)
        if not isinstance(keys, list) or not all(k is None or isinstance(k, str) for k in keys):
            raise ValueError("keys.json is not a list of keys")
        st.keys = keys
        st.ids = {k: i for i, k in enumerate(keys) if k is not None}
        if len(st.ids) != len(keys) - keys.count(None):  # one key on two ids: mis-mapped results
            dup = next(k for i, k in enumerate(keys) if k is not None and st.ids[k] != i)
            raise ValueError(f"keys.json: key {dup!r} appears more than once")
        st.live[: len(keys)] = [k is not None for k in keys]
        st.free = [i for i, k in enumerate(keys) if k is None]  # sorted: already a heap
        if keep_vectors:
            v = np.load(os.path.join(path, "vectors.npy"))
            if v.shape != (len(keys), dim):
                raise ValueError(f"vectors.npy has shape {v.shape}, expected {(len(keys), dim)}")
            st.vectors[: len(keys)] = v
            if space_dim:
                for a in range(0, len(keys), 65536):
                    st._set_projected(a, *project(v[a: a + 65536]))
        return st
