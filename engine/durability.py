"""The durable half of :class:`~sanny.engine.index.Index`: its directory, lifecycle and write path.

create / open (snapshot + WAL replay) / train / save (checkpoint) / close, and every write as
WAL append (fsync) -> vector store -> each worker's slice, with the catch-up ``journal`` that
remote workers read. ``Durable`` is a base class of ``Index``; nothing else uses it.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading

import numpy as np

from sanny.workers import WorkerSite, WorkerSpec, local_factory
from sanny.workers.errors import IndexCorrupt, InvalidArgument, WorkerUnavailable
from sanny.workers.fsio import lock_dir

from . import grid, snapshot, validate
from .checkpoint import AutoCheckpoint
from .coalesce import Coalescer
from .config import IndexConfig
from .fanout import FanOut, tolerant as _tolerant
from .journal import Journal, records_after, runs
from .sequencer import Sequencer
from .pca import PCA
from .split import Layout, assign, group
from .store import VectorStore
from .locks import StateLock
from .wal import PUT, WriteAheadLog

log = logging.getLogger(__name__)


class Durable:
    """An index directory held open (flock on LOCK) with its state, workers and WAL."""

    def __init__(self, root: str, worker_factory=None):
        """Use :meth:`create` or :meth:`open`."""
        self.root = root
        self._lockfile = lock_dir(root, lambda: IndexCorrupt(f"{root!r} is already open in another process"))
        self._factory = worker_factory or local_factory
        self._lock = StateLock()              # state: searches, and each write's short apply
        self._write_lock = threading.RLock()  # writers' checks + seq + WAL write (no fsync); take before _lock
        self._seq = Sequencer(0)
        self._coalescer = Coalescer()  # concurrent searches run as batches (``engine.coalesce``)
        self._auto = None  # AutoCheckpoint, see start_checkpoints
        self._fanout = FanOut()
        self.layout: Layout | None = None
        self.workers: list = []
        self.columns: list[np.ndarray] = []  # worker i's columns of the (projected) space
        self.query_columns: list = []  # the same, None where that is the whole space (Layout.query_columns)
        self._dirty = False
        self.last_stats: dict = {}  # counts of the last search (``record_search``)
        self._params_cache: dict = {}  # (epsilon, ef_search) -> SearchParams (``Index._search_params``)
        self.journal = Journal(os.path.join(root, "wal.log"), self._worker_slices)

    @property
    def seq(self) -> int:
        """WAL seq of the newest write applied."""
        return self.journal.seq

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def create(cls, root: str, config: IndexConfig, overwrite: bool = False, worker_factory=None):
        config.check()
        if os.path.exists(root) and os.listdir(root):
            if not overwrite:
                raise InvalidArgument("path", f"{root!r} exists and is not empty (pass overwrite=True)")
            with lock_dir(root, lambda: IndexCorrupt(f"{root!r} is open in another process: not overwritten")):
                shutil.rmtree(root)
        os.makedirs(root, exist_ok=True)
        self = cls(root, worker_factory)
        self.config, self.pca = config, None
        self.store = VectorStore(config.dim, config.keep_vectors)
        if not config.needs_training:
            self._set_layout(Layout(assign(config.space_dim, config.S), self._groups()))
        self._write_manifest()
        self.wal = WriteAheadLog(self.journal.wal_path)
        self.save()
        return self

    @classmethod
    def open(cls, root: str, worker_factory=None):
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
        except InvalidArgument as e:  # a worker configuration that does not fit the index: not damage
            self._release()
            raise InvalidArgument(e.field, f"index {root!r} (S={self.config.S}, workers={self.config.workers or self.config.S}): {str(e).partition(': ')[2]}") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            self._release()
            raise IndexCorrupt(f"{root!r}: snapshot {os.path.basename(snap)} is damaged: {e}") from e
        self.journal.seq = snap_seq
        try:  # remote workers are first contacted here: one that is down must not keep the lock
            for batch in runs(records_after(self.journal.wal_path, snap_seq)):
                self._apply_run(batch)
            self._build()
        except BaseException:
            for w in self.workers:
                w.close()
            self._fanout.close(wait=False)
            self._release()
            raise
        self.wal = WriteAheadLog(self.journal.wal_path)
        self._seq = Sequencer(self.journal.seq)
        return self

    def _groups(self) -> list[list[int]]:
        return group(self.config.S, self.config.workers or self.config.S)

    def _set_layout(self, layout: Layout) -> None:
        self.layout = layout
        self.columns = [layout.worker_columns(w) for w in range(len(layout.groups))]
        self.query_columns = [layout.query_columns(w, self.config.space_dim) for w in range(len(layout.groups))]
        self.workers = []
        for w, subs in enumerate(layout.groups):
            spec = WorkerSpec(subs, layout.worker_widths(w), self.config.metric, self.config.inner)
            site = WorkerSite(w, os.path.join(self.root, "work", f"worker-{w}"), self.journal)
            self.workers.append(grid.column(self._factory, spec, site, self.config.shards))

    def _write_manifest(self) -> None:
        snapshot.write_json(os.path.join(self.root, "manifest.json"), {
            "format": snapshot.FORMAT, "config": self.config.to_dict(),
            "layout": self.layout.to_dict() if self.layout else None})

    def train(self, sample) -> None:
        """Fit PCA and/or the variance-balanced assignment on a sample (before any insert)."""
        cfg = self.config
        x = self._normalise(validate.vectors(sample, cfg.dim, "sample"), "sample")
        with self._write_lock, self._lock:
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
        """Checkpoint: snapshot, switch CURRENT, empty the WAL. Writes wait; searches go on."""
        if blocked := [b for b in (w.save_blocker() for w in self.workers) if b]:  # before writing anything
            raise WorkerUnavailable("; ".join(blocked))
        with self._write_lock:
            self._seq.drain()
            with self._lock:
                self._build()

            def write(tmp):
                self.store.save(tmp)
                self.fan_out(lambda w, i: w.save(os.path.join(tmp, f"worker-{i}")))

            snapshot.commit(self.root, self.seq, write)
            self.fan_out(lambda w, i: w.committed())  # remote workers may now drop older saves
            if getattr(self, "wal", None):
                self.wal.reset()
            self.journal.clear()
            self._dirty = False

    def start_checkpoints(self, **bounds):
        """Checkpoint automatically by WAL size / record count / time (``AutoCheckpoint``'s bounds)."""
        self._auto = self._auto or AutoCheckpoint(self, **bounds)
        return self._auto

    def close(self, save: bool = True) -> None:
        if self._auto is not None:  # before the write lock: a checkpoint in progress needs it
            self._auto.stop()
        with self._write_lock:
            self._seq.drain()
            if save and self._dirty:
                try:
                    self.save()
                except WorkerUnavailable as e:  # a degraded grid: the next open replays the WAL
                    log.warning("closing without a checkpoint, the WAL keeps every write: %s", e)
            with self._lock:
                for w in self.workers:
                    w.close()
                self._fanout.close()
                self.wal.close()
                self._release()

    def _release(self) -> None:
        self._lockfile.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- write path ----------------------------------------------------------------------
    def _normalise(self, x: np.ndarray, field: str) -> np.ndarray:
        """Cosine stores and searches unit vectors (a zero vector is an error naming ``field``)."""
        return validate.unit(x, field) if self.config.metric == "cosine" else x

    def fan_out(self, fn) -> list:
        """``fn(worker, i)`` on every worker (threads when workers are remote)."""
        return self._fanout.each(self.workers, fn)

    def _space(self, x: np.ndarray) -> np.ndarray:
        """Full vectors -> the split space (PCA-projected when configured)."""
        return self.pca.project(x)[0][:, : self.config.pca_dim] if self.pca is not None else x

    def _worker_slices(self, x: np.ndarray, i: int) -> np.ndarray:
        return self._space(x)[:, self.columns[i]]

    def _log_and_apply(self, op: int, keys: list[str], x: np.ndarray | None, check=None) -> None:
        """Log, then apply in seq order (``sequencer``); ``check(present)`` runs under the write lock."""
        with self._write_lock:
            if check is not None:
                check(lambda k: self._seq.present(k, self.store.ids.__contains__))
            seq = self._seq.next
            ticket = self.wal.write(seq, op, keys, x)  # raises before any state changes
            self._seq.claim(seq, keys, op)
        durable = False
        try:
            self.wal.wait(ticket)
            durable = True
        finally:
            with self._seq.turn(seq, keys):
                if durable:
                    with self._lock:
                        self.journal.seq = seq
                        self._dirty = True
                        self._apply(op, keys, x)
                        self._build(tolerant=True)
                else:
                    self.journal.skip(seq)
        if self._auto is not None:
            self._auto.note_write()

    def _apply_run(self, run: list) -> None:
        """Replay WAL records ``run`` (one op, no key twice) as one batch: one store update and
        one call per worker instead of one per record; the journal still gets one entry per seq."""
        op = run[0][1]
        if len(run) == 1:
            self.journal.seq = run[0][0]
            return self._apply(op, run[0][2], run[0][3])
        olds = [self.store.lookup(keys) for _, _, keys, _ in run]
        keys = [k for _, _, ks, _ in run for k in ks]
        x = np.concatenate([r[3] for r in run]) if op == PUT else None
        old, ids, xs = self._update_store(op, keys, x)
        sizes = np.cumsum([len(r[2]) for r in run])[:-1]
        for (seq, _, _, _), o, i in zip(run, olds, np.split(ids, sizes) if ids is not None else [None] * len(run)):
            self.journal.seq = seq
            self.journal.record(o[o >= 0], i)
        self._send(old, ids, xs)

    def _apply(self, op: int, keys: list[str], x: np.ndarray | None) -> None:
        """Apply WAL record ``seq``: the store first, then the workers (if a remote worker
        fails mid-way the store and WAL still agree, and that worker catches up later)."""
        old, ids, xs = self._update_store(op, keys, x)
        self.journal.record(old, ids)
        self._send(old, ids, xs)

    def _update_store(self, op: int, keys: list[str], x: np.ndarray | None):
        """(removed ids, added ids or None, the added rows in the split space or None)."""
        old, ids, xs = self.store.drop(keys), None, None
        if op == PUT:
            if self.pca is not None:
                y, resid = self.pca.project(x)
                ids = self.store.add(keys, x, (y, resid))
                xs = y[:, : self.config.pca_dim]
            else:
                xs, ids = x, self.store.add(keys, x)
        return old, ids, xs

    def _send(self, old: np.ndarray, ids: np.ndarray | None, xs: np.ndarray | None) -> None:
        if len(old):
            self.fan_out(_tolerant(lambda w, i: w.remove(old)))
        if ids is not None:
            self.fan_out(_tolerant(lambda w, i: w.insert(ids, xs[:, self.columns[i]])))

    def _build(self, optimize: bool = False, tolerant: bool = False) -> None:
        fn = lambda w, i: w.build(optimize)  # noqa: E731
        if self.layout:
            self.fan_out(_tolerant(fn) if tolerant else fn)

