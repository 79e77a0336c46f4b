"""The coordinator: an ``IndexRefine`` over ``IndexShards`` split by dimension.

Writes go WAL (fsync) -> vector store -> every worker's slice. Searches split the query,
fan out to the workers, union the candidates and re-rank them exactly (``rerank``).
"""
from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sanny.workers import LocalWorker, SearchParams, WorkerSpec

from . import rerank, snapshot, validate
from .errors import AlreadyExists, IndexCorrupt, InvalidArgument, NotFound
from .pca import PCA
from .config import IndexConfig
from .split import Layout, assign, group
from .store import VectorStore
from .wal import DEL, PUT, WriteAheadLog

log = logging.getLogger(__name__)


class Index:
    """A Sanny index living in a directory. Thread-safe (one lock; searches batch internally)."""

    def __init__(self, root: str, worker_factory=None):
        """Use :meth:`create` or :meth:`open`."""
        self.root = root
        self._lockfile = open(os.path.join(root, "LOCK"), "a")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise IndexCorrupt(f"{root!r} is already open in another process") from None
        self._factory = worker_factory or (lambda spec, workdir: LocalWorker(spec, workdir))
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        self.layout: Layout | None = None
        self.workers: list = []
        self._dirty = False
        self.last_stats: dict = {}
        # seq -> (removed ids, added ids) of each WAL record since the last checkpoint, so a
        # remote worker that restarted from an older save can be caught up (worker_log)
        self._journal: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def create(cls, root: str, config: IndexConfig, overwrite: bool = False, worker_factory=None) -> "Index":
        config.check()
        if os.path.exists(root) and os.listdir(root):
            if not overwrite:
                raise InvalidArgument("path", f"{root!r} exists and is not empty (pass overwrite=True)")
            shutil.rmtree(root)
        os.makedirs(root, exist_ok=True)
        self = cls(root, worker_factory)
        self.config, self.pca = config, None
        self.store = VectorStore(config.dim, config.keep_vectors)
        self.seq = 0
        if not config.needs_training:
            self._set_layout(Layout(assign(config.space_dim, config.S), self._groups()))
        self._write_manifest()
        self.wal = WriteAheadLog(os.path.join(root, "wal.log"))
        self.save()
        return self

    @classmethod
    def open(cls, root: str, worker_factory=None) -> "Index":
        man = snapshot.read_manifest(root)
        snap, snap_seq = snapshot.current(root)
        self = cls(root, worker_factory)
        try:
            self.config = IndexConfig.from_dict(man["config"])
            self.pca = None
            if os.path.exists(os.path.join(root, "pca.npz")):
                with np.load(os.path.join(root, "pca.npz")) as z:
                    self.pca = PCA.from_state(z)
            if man.get("layout"):
                self._set_layout(Layout.from_dict(man["layout"]))
            self.store = VectorStore.load(snap, self.config.dim, self.config.keep_vectors,
                                          self.pca.project if self.pca is not None else None)
            for i, w in enumerate(self.workers):
                w.load(os.path.join(snap, f"worker-{i}"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            self._release()
            raise IndexCorrupt(f"{root!r}: snapshot {os.path.basename(snap)} is damaged: {e}") from e
        self.seq = snap_seq
        wal_path = os.path.join(root, "wal.log")
        try:  # remote workers are first contacted here: one that is down must not keep the lock
            for seq, op, keys, vecs in snapshot_records(wal_path, snap_seq):
                self.seq = seq
                self._apply(op, keys, vecs)
            self._build()
        except BaseException:
            for w in self.workers:
                w.close()
            if self._pool:
                self._pool.shutdown(wait=False)
            self._release()
            raise
        self.wal = WriteAheadLog(wal_path)
        return self

    def _groups(self) -> list[list[int]]:
        return group(self.config.S, self.config.workers or self.config.S)

    def _set_layout(self, layout: Layout) -> None:
        self.layout = layout
        self._cols = [layout.worker_columns(w) for w in range(len(layout.groups))]
        self.workers = []
        for w, subs in enumerate(layout.groups):
            spec = WorkerSpec(subs, layout.worker_widths(w), self.config.metric, self.config.inner)
            worker = self._factory(spec, os.path.join(self.root, "work", f"worker-{w}"))
            if hasattr(worker, "attach"):  # remote transports: stamp writes with self.seq, catch up via worker_log
                worker.attach(self, w)
            self.workers.append(worker)

    def _write_manifest(self) -> None:
        snapshot.write_json(os.path.join(self.root, "manifest.json"), {
            "format": snapshot.FORMAT, "config": self.config.to_dict(),
            "layout": self.layout.to_dict() if self.layout else None})

    def train(self, sample) -> None:
        """Fit PCA and/or the variance-balanced assignment on a sample (before any insert)."""
        cfg = self.config
        x = self._prepare(validate.vectors(sample, cfg.dim, "sample"), "sample")
        with self._lock:
            if len(self.store):
                raise InvalidArgument("sample", "train() must come before the first insert")
            if cfg.pca_dim:
                self.pca = PCA.fit(x, cfg.pca_components, center=cfg.metric != "ip")
                np.savez(os.path.join(self.root, "pca.npz"), **self.pca.state())
                self.store = VectorStore(cfg.dim, cfg.keep_vectors, space_dim=cfg.pca_components)
                var = self.pca.variances[: cfg.pca_dim]
            else:
                var = x.astype(np.float64).var(0)
            self._set_layout(Layout(assign(cfg.space_dim, cfg.S, cfg.assignment, var), self._groups()))
            self._write_manifest()
            self.save()

    @property
    def trained(self) -> bool:
        return self.layout is not None

    def save(self) -> None:
        """Checkpoint: snapshot everything, switch CURRENT, empty the WAL."""
        with self._lock:
            self._build()

            def write(tmp):
                self.store.save(tmp)
                self._each(lambda w, i: w.save(os.path.join(tmp, f"worker-{i}")))

            snapshot.commit(self.root, self.seq, write)
            if getattr(self, "wal", None):
                self.wal.reset()
            self._journal.clear()
            self._dirty = False

    def close(self, save: bool = True) -> None:
        with self._lock:
            if save and self._dirty:
                self.save()
            for w in self.workers:
                w.close()
            if self._pool:
                self._pool.shutdown()
            self.wal.close()
            self._release()

    def _release(self) -> None:
        self._lockfile.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writes --------------------------------------------------------------------------
    def _prepare(self, x: np.ndarray, field: str) -> np.ndarray:
        return validate.unit(x, field) if self.config.metric == "cosine" else x

    def _log_and_apply(self, op: int, keys: list[str], x: np.ndarray | None) -> None:
        self.wal.append(self.seq + 1, op, keys, x)  # raises (nothing applied) if not durable
        self.seq += 1
        self._dirty = True
        self._apply(op, keys, x)
        self._build()

    def _apply(self, op: int, keys: list[str], x: np.ndarray | None) -> None:
        """Apply WAL record ``self.seq``: the store first, then the workers (if a remote worker
        fails mid-way the store and WAL still agree, and that worker catches up later)."""
        old = self.store.drop(keys)
        ids = xs = None
        if op == PUT:
            if self.pca is not None:
                y, resid = self.pca.project(x)
                ids = self.store.add(keys, x, (y, resid))
                xs = y[:, : self.config.pca_dim]
            else:
                xs, ids = x, self.store.add(keys, x)
        self._journal[self.seq] = (old, ids)
        if len(old):
            self._each(lambda w, i: w.remove(old))
        if ids is not None:
            self._each(lambda w, i: w.insert(ids, xs[:, self._cols[i]]))

    def worker_log(self, i: int, after: int):
        """The writes worker ``i`` needs to go from WAL seq ``after`` to ``self.seq``, as a list of
        ``(seq, removed_ids, added_ids, slices)`` (``added_ids``/``slices`` None for a removal;
        ``slices``: worker ``i``'s columns), or None when the log no longer reaches back to
        ``after`` (it predates the last checkpoint). For remote workers that restarted from an
        older save; called from inside a fan-out, so it takes no lock (the caller holds it)."""
        if after >= self.seq:
            return []
        if after + 1 not in self._journal:
            return None
        out = []
        for seq, _, _, vecs in snapshot_records(os.path.join(self.root, "wal.log"), after):
            if seq > self.seq:  # during open's replay the file runs ahead of the index
                break
            old, ids = self._journal[seq]
            xs = None
            if ids is not None:
                xs = self.pca.project(vecs)[0][:, : self.config.pca_dim] if self.pca is not None else vecs
                xs = np.ascontiguousarray(xs[:, self._cols[i]])
            out.append((seq, old, ids, xs))
        return out

    def _build(self, optimize: bool = False) -> None:
        if self.layout:
            self._each(lambda w, i: w.build(optimize))

    def _put(self, keys, vectors, mode: str) -> None:
        x = self._prepare(validate.vectors(vectors, self.config.dim), "vectors")
        keys = validate.keys(keys, len(x))
        with self._lock:
            if not self.trained:
                raise InvalidArgument("index", "this configuration (PCA / balanced) needs train(sample) before inserts")
            if mode == "insert":
                dup = next((k for k in keys if k in self.store.ids), None)
                if dup is not None:
                    raise AlreadyExists(f"key {dup!r} already exists (use upsert to replace it)")
            elif mode == "update":
                self._require(keys)
            self._log_and_apply(PUT, keys, x)

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
        with self._lock:
            self._require(keys)
            self._log_and_apply(DEL, keys, None)

    def set_defaults(self, T: int | None = None, epsilon: float | None = None) -> None:
        """Change (and persist) the search defaults, e.g. after ``tune``."""
        with self._lock:
            if T is not None:
                self.config.T = int(T)
            if epsilon is not None:
                self.config.epsilon = float(epsilon)
            self._write_manifest()

    def build(self, optimize: bool = True) -> None:
        """Finish graph construction (incl. ONNG optimisation when configured)."""
        with self._lock:
            self._build(optimize)

    # -- reads ---------------------------------------------------------------------------
    def _require(self, keys: list[str]) -> None:
        missing = next((k for k in keys if k not in self.store.ids), None)
        if missing is not None:
            raise NotFound(f"key {missing!r} not found")

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
        """``(keys[m, k], distances[m, k])``; missing results are ``None`` / ``inf``."""
        ids, d = self.search_ids(queries, k, **kw)
        return self.keys_of(ids), d

    def search_ids(self, queries, k: int = 10, T: int | None = None, epsilon: float | None = None,
                   prune: bool | None = None, adaptive: bool = False, T_max: int | None = None):
        """Internal ids (insertion order from 0) and user distances: L2 (``l2``), 1-cos
        (``cosine``), -<q,x> (``ip``). ``adaptive``: queries whose k-th distance exceeds the
        bound on everything unseen are searched again with doubled T, up to ``T_max``."""
        cfg = self.config
        k, T = validate.k_and_T(k, T, cfg.T)
        q = self._prepare(validate.vectors(queries, cfg.dim, "queries"), "queries")
        params = SearchParams(epsilon=cfg.epsilon if epsilon is None else validate.epsilon(epsilon))
        T_max = validate.T_max(T_max, T) if T_max is not None else min(8 * T, validate.MAX_T)
        prune = cfg.prune if prune is None else prune
        with self._lock:
            if not self.trained:
                m = len(q)
                return np.full((m, k), -1, np.int64), np.full((m, k), np.inf, np.float32)
            ids, dd, tau = self._search(q, k, T, params, prune)
            if adaptive:
                while T < T_max:
                    redo = np.nonzero(~(dd[:, -1] <= tau))[0]
                    if len(redo) == 0:
                        break
                    T = min(2 * T, T_max)
                    ids[redo], dd[redo], tau[redo] = self._search(q[redo], k, T, params, prune)
        return ids, self._user_distance(dd)

    def _search(self, q, k, T, params, prune):
        yq, rq = self.pca.project(q) if self.pca is not None else (q, None)
        qs = yq[:, : self.config.space_dim]
        parts = self._each(lambda w, i: w.search(qs[:, self._cols[i]], T, params))
        sids = np.concatenate([p[0] for p in parts])
        sd = np.concatenate([p[1] for p in parts])
        cand, lb, tau = rerank.union(sids, sd)
        cand[~self.store.is_live(cand)] = -1
        if rq is not None and self.config.keep_vectors:
            lb = rerank.projected_bound(yq, rq, cand, self.store.space, self.store.resid, self.config.metric)
        if self.config.keep_vectors:
            exact_lb = self.pca is not None  # the union bound assumes exact subspace searches
            ids, dd, scored = rerank.rerank(q, cand, lb, k, self.store.vectors, self.config.metric,
                                            prune and (exact_lb or self.config.metric != "ip"))
        else:
            d = sum(self._each(lambda w, i: w.partial_distances(qs[:, self._cols[i]], cand)))
            ids, dd = rerank.top_k(cand, np.asarray(d, np.float32), k)
            scored = int((cand >= 0).sum())
        self.last_stats = {"queries": len(q), "T": T, "union": int((cand >= 0).sum()), "scored": scored}
        return ids, dd, tau

    def _user_distance(self, d: np.ndarray) -> np.ndarray:
        if self.config.metric == "l2":
            return np.sqrt(d)
        if self.config.metric == "cosine":
            return d / 2
        return d

    def _each(self, fn):
        """Call ``fn(worker, i)`` on every worker; threads when workers are remote."""
        if all(isinstance(w, LocalWorker) for w in self.workers) or len(self.workers) == 1:
            return [fn(w, i) for i, w in enumerate(self.workers)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self.workers), thread_name_prefix="sanny-fanout")
        # each call runs in a copy of the caller's context (carries e.g. a worker-call deadline)
        futs = [self._pool.submit(contextvars.copy_context().run, fn, w, i) for i, w in enumerate(self.workers)]
        return [f.result() for f in futs]

    def info(self) -> dict:
        with self._lock:
            return {"path": self.root, "count": len(self.store), "config": self.config.to_dict(),
                    "trained": self.trained, "wal_seq": self.seq,
                    "layout": self.layout.to_dict() if self.layout else None,
                    "workers": [w.stats() for w in self.workers] if self.layout else []}


def snapshot_records(path: str, after: int):
    """WAL records newer than the snapshot (older ones are already in it)."""
    for rec in WriteAheadLog.replay(path):
        if rec[0] > after:
            yield rec
