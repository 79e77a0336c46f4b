"""The durable half of :class:`~sanny.engine.index.Index`: its directory, lifecycle and write path
(create / open (snapshot + WAL replay) / train / save / close; every write: WAL append (fsync) ->
vector store -> each worker's slice, with the catch-up ``journal`` remote workers read)."""
from __future__ import annotations

import contextlib
import logging
import os
import threading

import numpy as np

from sanny.workers import WorkerSite, WorkerSpec, give_back, hold_large_apart, local_factory
from sanny.workers.errors import IndexCorrupt, InvalidArgument, SannyError, WorkerUnavailable
from sanny.workers.fsio import lock_dir

from . import grid, recovery, snapshot, validate
from .checkpoint import AutoCheckpoint
from .coalesce import Coalescer
from .config import IndexConfig
from .fanout import MISSED, FanOut, lock_for, tolerant as _tolerant
from .journal import Journal, records_after, replay
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
        hold_large_apart()  # the store's arrays too: see ``sanny.workers.heap``
        self.root = root
        self._lockfile = lock_dir(root, lambda: IndexCorrupt(f"{root!r} is already open in another process "
                                                             "(a running server? sanny info --server ADDR)"))
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
        self.recovery = None  # open(recover=True): what recovery kept and could not
        self.journal = Journal(os.path.join(root, "wal.log"), self._worker_slices)

    @property
    def seq(self) -> int:
        """WAL seq of the newest write applied."""
        return self.journal.seq

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def create(cls, root: str, config: IndexConfig, overwrite: bool = False, worker_factory=None,
               checkpoints: bool = True):
        """``checkpoints``: automatic (a reopen replays a bounded WAL); False: only save/close."""
        config.check()
        snapshot.make_dir(root, overwrite)
        self = cls(root, worker_factory)
        with self._releasing():
            self.config, self.pca = config, None
            self.store = VectorStore(config.dim, config.keep_vectors)
            if not config.needs_training:
                self._set_layout(Layout(assign(config.space_dim, config.S), self._groups()))
            self._write_manifest()
            self.wal = WriteAheadLog(self.journal.wal_path)
            self.save()
        if checkpoints:
            self.start_checkpoints()
        return self

    @classmethod
    def open(cls, root: str, worker_factory=None, recover: bool = False, checkpoints: bool = True):
        """``recover``: repair ``root`` first (``recovery.recover``, report: ``self.recovery``)."""
        report = recovery.recover(root) if recover else None
        snapshot.read_manifest(root)  # a missing directory is named before anything is created
        self = cls(root, worker_factory)
        self.recovery = report
        with self._releasing():  # remote workers are first contacted here too
            self._load()
        if checkpoints:
            self.start_checkpoints()
        return self

    @contextlib.contextmanager
    def _releasing(self):
        """Every failure to create or open releases the lock (and the workers made so far)."""
        try:
            yield
        except BaseException:
            for w in self.workers:
                w.close()
            self._fanout.close(wait=False)
            self._release()
            raise

    def _load(self) -> None:
        root = self.root
        man = snapshot.read_manifest(root)
        snap, snap_seq = snapshot.current(root)
        try:
            self.config = IndexConfig.from_dict(man["config"])
            self.pca = snapshot.load_pca(root, man)
            if man.get("layout"):
                self._set_layout(Layout.from_dict(man["layout"]))
            self.store = VectorStore.load(snap, self.config.dim, self.config.keep_vectors,
                                          self.pca.project if self.pca is not None else None)
            for i, w in enumerate(self.workers):
                w.load(os.path.join(snap, f"worker-{i}"))
        except InvalidArgument as e:  # a worker configuration that does not fit the index: not damage
            raise InvalidArgument(e.field, f"index {root!r} (S={self.config.S}, workers={self.config.workers or self.config.S}): {str(e).partition(': ')[2]}") from None
        except SannyError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read the snapshot is damage
            raise IndexCorrupt(f"{root!r}: snapshot {os.path.basename(snap)} is damaged: {type(e).__name__}: {e}") from e
        self.journal.seq = snap_seq
        replay(self, records_after(self.journal.wal_path, snap_seq))
        self._build()
        self.wal = WriteAheadLog(self.journal.wal_path)
        self._seq = Sequencer(self.journal.seq)

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
        snapshot.write_manifest(self.root, self.config.to_dict(), self.layout.to_dict() if self.layout else None)

    def train(self, sample) -> None:
        """Fit PCA and/or the variance-balanced assignment on a sample (before any insert)."""
        cfg = self.config
        x = self._normalise(validate.vectors(sample, cfg.dim, "sample"), "sample")
        with self._write_lock, self._lock:
            if len(self.store):
                raise InvalidArgument("sample", "train() must come before the first insert")
            if cfg.pca_dim:
                self.pca = PCA.fit(x, cfg.pca_components, center=cfg.metric != "ip")
                snapshot.write_npz(os.path.join(self.root, "pca.npz"), **self.pca.state())
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
            with lock_for(self.workers, self._lock):
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
        give_back()  # the snapshot's write buffers: freed heap back to the OS

    def start_checkpoints(self, **bounds):
        """Checkpoint by WAL size / record count / time (``AutoCheckpoint``'s bounds; create and
        open start the defaults, a call with bounds replaces them)."""
        if bounds and self._auto is not None:
            self._auto.stop()
            self._auto = None
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
                    with self._lock:  # the store and the catch-up journal
                        self.journal.seq, self._dirty = seq, True
                        sent = self._update_store(op, keys, x)
                        self.journal.record(*sent[:2])
                    with lock_for(self.workers, self._lock):  # a hung remote worker holds up no search
                        self._build(tolerant=True, skip=self._send(*sent))
                else:
                    self.journal.skip(seq)
        if self._auto is not None:
            self._auto.note_write()

    def _apply(self, op: int, keys: list[str], x: np.ndarray | None) -> None:
        """Apply a replayed WAL record: the store first, then the workers (a remote worker
        that fails catches up later)."""
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

    def _send(self, old: np.ndarray, ids: np.ndarray | None, xs: np.ndarray | None) -> set[int]:
        """Returns the workers that missed it (they catch up before serving: no build for them)."""
        got = self.fan_out(_tolerant(lambda w, i: w.remove(old))) if len(old) else []
        if ids is not None:
            got += self.fan_out(_tolerant(lambda w, i: w.insert(ids, xs[:, self.columns[i]])))
        return {i % len(self.workers) for i, r in enumerate(got) if r is MISSED}

    def _build(self, optimize: bool = False, tolerant: bool = False, skip=()) -> None:
        fn = lambda w, i: None if i in skip else w.build(optimize)  # noqa: E731
        if self.layout:
            self.fan_out(_tolerant(fn) if tolerant else fn)

