"""The coordinator: an ``IndexRefine`` over ``IndexShards`` split by dimension.

``Index`` is the facade users import. Its parts: ``durability`` (directory, create/open/save,
WAL apply, the remote workers' catch-up ``journal``), ``fanout`` (one call per worker) and
``pipeline`` (project -> fan-out -> candidates -> exact re-rank -> ids). Writes go WAL (fsync)
-> vector store -> every worker's slice; searches run the pipeline and map ids to keys.
"""
from __future__ import annotations

import contextlib
import functools
import logging

import numpy as np

from sanny.workers import LocalWorker, SearchParams
from sanny.workers.errors import AlreadyExists, InvalidArgument, NotFound, WorkerUnavailable

from . import compaction, pipeline, validate
from .durability import Durable
from .fanout import lock_for
from .lane import Lane
from .validate import Queries  # re-exported: the Vald service builds them
from .wal import DEL, PUT

log = logging.getLogger(__name__)

SEGMENTED = ("hnsw", "hnsw_sq", "symqg")  # inner kinds made of segments (sanny.workers.segments)
LANE_OPTIONS = {"T", "ef_search"}  # the search options the lone-query lane takes


class Index(Durable):
    """A Sanny index living in a directory. Thread-safe: a write lock orders writers (checks,
    seq, WAL write), a state lock guards what searches read (each write's apply); concurrent
    searches batch internally (``docs/ARCHITECTURE.md``, "Locks and the write contract")."""

    @classmethod
    def create(cls, root: str, config, overwrite: bool = False, worker_factory=None,
               checkpoints: bool = True) -> "Index":
        if config.inner_reason:  # the caller left the inner index to the default: say which and why
            log.info("new index %s: inner index %s", root, config.inner_reason)
        return super().create(root, config, overwrite, worker_factory, checkpoints)

    # -- access for the service, Vald facade and tune ------------------------------------
    def prepare_queries(self, queries, field: str = "queries") -> Queries:
        """Check ``queries`` (shape, dimension, finite) and normalise them for cosine."""
        if self.config.metric == "cosine":  # the norms check finiteness: one pass over the rows
            return Queries(validate.unit(validate.vectors(queries, self.config.dim, field, finite=False), field, True))
        return Queries(validate.vectors(queries, self.config.dim, field))

    @contextlib.contextmanager
    def write_lock(self):
        """Hold off every other write of this index, with every earlier write applied (a
        check-then-write sequence; searches go on)."""
        with self._write_lock:
            self._seq.drain()
            yield

    @property
    def has_remote_workers(self) -> bool:
        return any(not isinstance(w, LocalWorker) for w in self.workers)

    def worker_stats(self) -> list:
        """Per worker: its ``stats()`` dict, or the exception that call raised."""
        out = []
        for w in list(self.workers):
            try:
                lock = self._lock if isinstance(w, LocalWorker) else contextlib.nullcontext()
                with lock:  # in-process inner indexes are not safe to read during a write
                    out.append(w.stats())
            except Exception as e:  # noqa: BLE001 - reported per worker
                out.append(e)
        return out

    def stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors[n, dim], live[n])`` by internal id (cosine: normalised); read-only views."""
        if not self.config.keep_vectors:
            raise InvalidArgument("index", "this index keeps no full vectors on the coordinator")
        n = self.store.size
        return self.store.vectors[:n], self.store.live[:n]

    def sample_vectors(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` distinct live stored vectors and their internal ids (seeded)."""
        vectors, live = self.stored_vectors()
        ids = np.nonzero(live)[0]
        ids = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False)
        return vectors[ids], ids

    # -- writes --------------------------------------------------------------------------
    def _put(self, keys, vectors, mode: str) -> None:
        x = self._normalise(validate.vectors(vectors, self.config.dim), "vectors")
        keys = validate.keys(keys, len(x), new=True)
        if not self.trained:
            raise InvalidArgument("index", "this configuration (PCA / balanced) needs train(sample) before inserts")

        if mode != "insert" and self.config.keep_vectors:
            keys, x = self._changed(keys, x)
            if not keys:
                return

        def check(present):
            if mode == "insert":
                dup = next((k for k in keys if present(k)), None)
                if dup is not None:
                    raise AlreadyExists(f"key {dup!r} already exists (use upsert to replace it)")
            elif mode == "update":
                _require(keys, present)

        self._log_and_apply(PUT, keys, x, check)

    def _changed(self, keys: list[str], x: np.ndarray):
        """The rows of an upsert / update that change something: a key stored with exactly this
        vector already is a write that changes nothing, so it is not logged or sent (a burst of
        unchanged re-registrations costs no churn). A concurrent write of the same key is ordered
        after this one, which is linearizable: the two overlap."""
        with self._lock:
            ids = self.store.lookup(keys)
            same = ids >= 0
            if same.any():
                same[same] = (self.store.vectors[ids[same]] == x[same]).all(axis=1)
        if not same.any():
            return keys, x
        keep = np.flatnonzero(~same)
        return [keys[i] for i in keep], x[keep]

    def insert(self, keys, vectors) -> None:
        """Add new keys; AlreadyExists if any is present (nothing is written then)."""
        self._put(keys, vectors, "insert")

    def upsert(self, keys, vectors) -> None:
        """Add or replace."""
        self._put(keys, vectors, "upsert")

    def update(self, keys, vectors) -> None:
        """Replace existing keys; NotFound if any is missing."""
        self._put(keys, vectors, "update")

    def remove(self, keys) -> None:
        """Remove keys; NotFound if any is missing (nothing is removed then)."""
        keys = validate.keys(keys)
        self._log_and_apply(DEL, keys, None, lambda present: _require(keys, present))

    def set_defaults(self, T: int | None = None, epsilon: float | None = None,
                     ef_search: int | None = None) -> None:
        """Change (and persist) the search defaults, e.g. after ``tune``."""
        with self._lock:
            if T is not None:
                self.config.T = int(T)
            if epsilon is not None:
                self.config.epsilon = float(epsilon)
            if ef_search is not None:
                self.config.ef_search = int(ef_search)
            self._write_manifest()

    def build(self, optimize: bool = True) -> None:
        """Finish graph construction. Graph kinds (``hnsw``, ``hnsw_sq``, ``symqg``): merge every
        worker's segments into one graph each, without their deleted rows, while searches and
        writes go on (a segment swap is atomic). ``ngt``: its ONNG optimisation, under the locks
        (NGT must not be searched while it changes; remote workers order their own calls)."""
        if self.config.inner.kind in SEGMENTED:
            self.fan_out(lambda w, i: w.build(optimize))
            return
        with self._write_lock, lock_for(self.workers, self._lock):
            self._build(optimize)

    def compact(self) -> dict | None:
        """The operator's merge (``sanny compact``, the ``Compact`` RPC): ``build()``, then the
        segments summary after it (None for kinds without segments). A degraded grid defers it:
        ``WorkerUnavailable`` naming what is down, before any worker starts a merge (live
        workers still compact in the background on their own)."""
        if blocked := [b for b in (w.save_blocker() for w in self.workers) if b]:
            raise WorkerUnavailable("compaction deferred: " + "; ".join(blocked))
        self.build(True)
        return compaction.summary(self.worker_stats())

    def wait_compaction(self, timeout: float | None = None) -> bool:
        """Block until background compaction has nothing left to do (in-process workers treat
        the index as idle now; remote ones are polled). Never needed for correctness: searches
        see every write at once. False when ``timeout`` passed first."""
        return compaction.wait(self.workers, timeout)

    # -- reads ---------------------------------------------------------------------------
    def _require(self, keys: list[str]) -> None:
        _require(keys, self.store.ids.__contains__)

    def __len__(self) -> int:
        return len(self.store)

    def exists(self, keys) -> np.ndarray:
        keys = validate.keys(keys)
        return np.array([k in self.store.ids for k in keys], bool)

    def get(self, keys) -> np.ndarray:
        """Stored vectors (cosine: the normalised ones); NotFound for a missing key."""
        keys = validate.keys(keys)
        with self._lock:
            self._require(keys)
            if not self.config.keep_vectors:
                raise InvalidArgument("keys", "this index keeps no full vectors on the coordinator")
            return self.store.vectors[self.store.lookup(keys)].copy()

    def keys_of(self, ids: np.ndarray) -> np.ndarray:
        return self.store.keys_of(np.asarray(ids))

    def search(self, queries, k: int = 10, **kw):
        """``(keys[m, k], distances[m, k])``; missing results are ``None`` / ``inf``. Keys are
        read under the same lock as the ids (ids are reused: a write between the two would give
        a result the key of a newer vector)."""
        if kw.keys() <= LANE_OPTIONS and (r := self._lane.search(queries, k, kw.get("T"), kw.get("ef_search"), True)):
            return r[2], r[1]
        ids, d, keys = self._search(queries, k, True, **kw)
        return keys, d

    def search_ids(self, queries, k: int = 10, **kw):
        """Internal ids and user distances (see ``_search``)."""
        if kw.keys() <= LANE_OPTIONS and (r := self._lane.search(queries, k, kw.get("T"), kw.get("ef_search"), False)):
            return r[0], r[1]
        ids, d, _ = self._search(queries, k, False, **kw)
        return ids, d

    _lane = functools.cached_property(Lane)  # one query in the default shape, fewest steps (``engine.lane``)

    def _search(self, queries, k: int, with_keys: bool, T: int | None = None, epsilon: float | None = None,
                prune: bool | None = None, adaptive: bool = False, T_max: int | None = None,
                ef_search: int | None = None, candidates: str = "union", R: int = 0):
        """Internal ids (dense, reused after removes) and user distances: L2 (``l2``), 1-cos
        (``cosine``), -<q,x> (``ip``). ``queries``: an array, or :class:`Queries` from
        :meth:`prepare_queries` (not checked again). ``adaptive``: queries whose k-th distance
        exceeds the bound on everything unseen are searched again with doubled T, up to ``T_max``.
        ``ef_search``: the graph's beam (symqg, faiss HNSW; None: the index default; 0: T). ``candidates``/``R``: see ``pipeline``."""
        cfg = self.config
        k, T = validate.k_and_T(k, T, cfg.T, cfg.S)
        candidates, R = validate.candidates(candidates, R, cfg.S)
        q = (queries if isinstance(queries, Queries) else self.prepare_queries(queries)).x
        params = self._search_params(cfg.epsilon if epsilon is None else validate.epsilon(epsilon),
                                     validate.ef_search(cfg.ef_search if ef_search is None else ef_search))
        T_max = validate.T_max(T_max, T) if T_max is not None else min(8 * T, validate.MAX_T)
        prune = cfg.prune if prune is None else prune

        def run(qs):
            with self._lock:
                if not self.trained:
                    m = len(qs)
                    ids, dd = np.full((m, k), -1, np.int64), np.full((m, k), np.inf, np.float32)
                else:
                    ids, dd = pipeline.search(self, qs, k, T, params, prune, adaptive, T_max, candidates, R)
                return ids, dd, (self.keys_of(ids) if with_keys else ids)

        if self._lock.held():  # a search from inside a write or save: no batch may wait for us
            ids, dd, keys = run(q)
        else:
            key = (k, T, params, prune, adaptive, T_max, candidates, R, with_keys)
            ids, dd, keys = self._coalescer.run(key, q, run)
        return ids, pipeline.user_distance(cfg.metric, dd), keys

    def _search_params(self, epsilon: float, ef_search: int) -> SearchParams:
        """One ``SearchParams`` per (epsilon, ef_search), built once (searches never change it)."""
        cache = self._params_cache
        p = cache.get((epsilon, ef_search))
        if p is None:
            if len(cache) >= 64:  # many distinct epsilons: start over rather than grow
                cache.clear()
            p = cache[(epsilon, ef_search)] = SearchParams(epsilon=epsilon, ef_search=ef_search)
        return p

    def record_search(self, queries: int, T: int, union: int, scored: int) -> None:
        """The pipeline's counts of the search just run (``last_stats``; under the state lock)."""
        self.last_stats = {"queries": queries, "T": T, "union": union, "scored": scored}

    def info(self) -> dict:
        with self._lock:
            workers = [w.stats() for w in self.workers] if self.layout else []
            return {"path": self.root, "count": len(self.store), "config": self.config.to_dict(),
                    "trained": self.trained, "wal_seq": self.seq,
                    "layout": self.layout.to_dict() if self.layout else None,
                    "workers": workers, "segments": compaction.summary(workers)}

    def segments(self) -> dict | None:
        """Segments, deleted share and compaction state over every worker (``compaction.summary``)."""
        return compaction.summary(self.worker_stats())


def _require(keys: list[str], present) -> None:
    missing = next((k for k in keys if not present(k)), None)
    if missing is not None:
        raise NotFound(f"key {missing!r} not found")
