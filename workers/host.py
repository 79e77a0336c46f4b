"""Server half of a remote worker: a LocalWorker, its data directory, its place in the log.

Transport-agnostic: the gRPC servicer (``grpc_server``) and the Ray actor (``ray_actor``) both
forward every call to :meth:`WorkerHost.call`.

    DIR/LOCK            flock: one host per data directory
    DIR/saves/<tag>/    a complete LocalWorker save plus host.json {tag, seq, lineage}
    DIR/LATEST          tag of the save to reload on start (the last one saved or loaded)
    DIR/work/           live inner-index files (scratch, emptied on start)

Position in the coordinator's write-ahead log:
``lineage`` names the index state the host belongs to (Configure starts a new one, saves carry
it), ``epoch`` changes whenever the in-memory state is replaced (process start, Configure,
Load) and ``applied_seq`` is the WAL seq that state includes. Calls that read or extend the
state name the epoch their caller is in step with; on a mismatch the host raises
:class:`StaleState` and does nothing, so the caller catches up first (``remote.RemoteWorker``).
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import shutil
import threading

import numpy as np

from .fsio import fsync_dir, fsync_tree, lock_dir

from .base import SearchParams, WorkerSpec
from .local import LocalWorker

log = logging.getLogger(__name__)

GUARDED = ("insert", "remove", "search", "partial_distances", "build", "save")
OPEN = ("configure", "load", "stats", "release")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StaleState(Exception):
    """The caller is not in step with this host's state: resynchronise (stats, load, replay)."""


def search_params(d: dict | None) -> SearchParams:
    d = dict(d or {})
    return SearchParams(**{k: v for k, v in d.items() if k in SearchParams.__dataclass_fields__})


class WorkerHost:
    KEEP_SAVES = 2  # newest saves kept per lineage when the caller names none to keep
    BUSY_WAIT = 0.05  # s a status call waits for a call in progress before answering without it

    def __init__(self, data_dir: str):
        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(os.path.join(self.data_dir, "saves"), exist_ok=True)
        self._lockfile = lock_dir(self.data_dir, lambda: RuntimeError(
            f"data directory {self.data_dir!r} is in use by another worker"))
        self._lock = threading.Lock()
        self._last_stats: dict = {}
        self.worker: LocalWorker | None = None
        self.lineage, self.applied_seq, self.base = "", 0, ("", 0)
        self.secret = ""  # the lineage owner's proof for evicting saves (from Configure / a save)
        self.epoch = secrets.token_hex(8)
        self.workdir = os.path.join(self.data_dir, "work")
        shutil.rmtree(self.workdir, ignore_errors=True)
        for name in os.listdir(os.path.join(self.data_dir, "saves")):
            if name.endswith(".tmp"):  # a save cut short by a crash
                shutil.rmtree(os.path.join(self.data_dir, "saves", name), ignore_errors=True)
        latest = self._read_latest()
        if latest:
            try:
                self._load(latest)
                log.info("reloaded save %s (seq %d, lineage %s)", latest, self.applied_seq, self.lineage)
            except (OSError, ValueError, KeyError) as e:
                log.error("cannot reload save %s, starting unconfigured: %s", latest, e)
                self._replace(None)

    # -- dispatch ------------------------------------------------------------------------
    def call(self, method: str, epoch: str | None = None, **kw):
        """Run one worker call; ``epoch`` is required (and checked) for the GUARDED ones."""
        if method not in GUARDED and method not in OPEN:
            raise ValueError(f"unknown worker method {method!r}")
        if method == "stats" and not self._lock.acquire(timeout=self.BUSY_WAIT):
            # a long insert or build holds the lock: answer at once (the caller asks whether this
            # host is alive); the counts are plain reads, else those of the last idle answer
            try:
                st = self.worker.stats() if self.worker else {}
            except Exception:  # noqa: BLE001 - changing under the call in progress
                st = self._last_stats
            return {**self._stats_unlocked(), "stats": {**st, "busy": True}}
        if method == "stats":
            try:
                return self._stats()
            finally:
                self._lock.release()
        with self._lock:
            if method in GUARDED:
                if self.worker is None:
                    raise StaleState("worker is not configured")
                if epoch != self.epoch:
                    raise StaleState(f"worker state changed (epoch {self.epoch}, applied seq {self.applied_seq})")
            return getattr(self, "_" + method)(**kw)

    def position(self) -> dict:
        return {"configured": self.worker is not None, "lineage": self.lineage, "epoch": self.epoch,
                "applied_seq": self.applied_seq, "base_tag": self.base[0], "base_seq": self.base[1]}

    # -- calls ---------------------------------------------------------------------------
    def _configure(self, spec: dict, lineage: str, secret: str | None = None) -> dict:
        self._replace(LocalWorker(WorkerSpec.from_dict(spec), self._fresh_workdir()))
        self.lineage, self.secret = str(lineage), str(secret or "")
        return self.position()

    # Writes build what is pending first (a no-op normally): NGT cannot remove an object that
    # is inserted but not yet built, which a replay (insert, then remove, one build at the end)
    # or a re-sent insert (replace = remove + add) would otherwise do.
    def _insert(self, seq: int, ids: np.ndarray, slices: np.ndarray) -> dict:
        self.worker.build(False)
        self.worker.insert(ids, slices)
        self.applied_seq = max(self.applied_seq, int(seq))
        return self.position()

    def _remove(self, seq: int, ids: np.ndarray) -> dict:
        self.worker.build(False)
        self.worker.remove(ids)
        self.applied_seq = max(self.applied_seq, int(seq))
        return self.position()

    def _search(self, queries: np.ndarray, T: int, params: dict | None = None):
        if int(T) < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        # every applied write is searchable, even when the coordinator's build never came (a
        # write that failed on another worker skips it); a no-op when nothing is pending
        self.worker.build(False)
        return self.worker.search(queries, int(T), search_params(params))

    def _partial_distances(self, queries: np.ndarray, candidate_ids: np.ndarray) -> np.ndarray:
        return self.worker.partial_distances(queries, candidate_ids)

    def _build(self, optimize: bool = False) -> dict:
        self.worker.build(bool(optimize))
        return self.position()

    def _save(self, tag: str, seq: int, keep=None, proof: str | None = None) -> dict:
        """Save as ``tag``; then evict this lineage's other saves except those in ``keep`` (the
        ones the coordinator's committed snapshots name: a checkpoint that fails after this save
        must leave the last committed one on disk). Without ``keep``: the newest KEEP_SAVES.
        Only the lineage's owner evicts: ``proof`` must be the secret its Configure gave (kept
        in every save, never sent back); any other caller's save evicts nothing."""
        if not _TAG.match(tag or ""):
            raise ValueError(f"bad save tag {tag!r}")
        if int(seq) < self.applied_seq:
            raise StaleState(f"asked to save as seq {seq}, but the state already includes seq {self.applied_seq}")
        saves = os.path.join(self.data_dir, "saves")
        final, tmp = os.path.join(saves, tag), os.path.join(saves, tag + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.worker.save(tmp)
        with open(os.path.join(tmp, "host.json"), "w") as f:
            json.dump({"tag": tag, "seq": int(seq), "lineage": self.lineage, "secret": self.secret}, f)
        fsync_tree(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        fsync_dir(saves)
        self._write_latest(tag)
        self.applied_seq, self.base = int(seq), (tag, int(seq))
        if not (self.secret and hmac.compare_digest(str(proof or ""), self.secret)):
            if keep is not None or proof:  # not the owner (or a lineage from before secrets)
                log.warning("save %s kept every older save: the caller did not prove it owns lineage %s",
                            tag, self.lineage)
            return self.position()
        self._evict(keep if keep is None else [tag, *keep])
        return self.position()

    def _release(self, keep: list, proof: str | None = None) -> dict:
        """After a checkpoint committed: evict this lineage's saves but ``keep`` and the state's
        own base (a Save keeps the older committed ones until the commit is known). Owner only."""
        if self.secret and hmac.compare_digest(str(proof or ""), self.secret):
            self._evict([*keep, self.base[0]])
        else:
            log.warning("release kept every save: the caller did not prove it owns lineage %s", self.lineage)
        return self.position()

    def _evict(self, keep: list | None) -> None:
        """This lineage's saves but those in ``keep`` (None: but the newest KEEP_SAVES) go."""
        saves = os.path.join(self.data_dir, "saves")
        mine = [d for d in self._saves() if d["lineage"] == self.lineage]  # never touch other indexes' saves
        drop = mine[self.KEEP_SAVES:] if keep is None else [d for d in mine if d["tag"] not in set(keep)]
        for old in drop:
            shutil.rmtree(os.path.join(saves, old["tag"]), ignore_errors=True)

    def _load(self, tag: str, spec: dict | None = None) -> dict:
        if not _TAG.match(tag or ""):
            raise ValueError(f"bad save tag {tag!r}")
        path = os.path.join(self.data_dir, "saves", tag)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"worker data directory {self.data_dir!r} has no save {tag!r}")
        with open(os.path.join(path, "host.json")) as f:
            meta = json.load(f)
        with open(os.path.join(path, "worker.json")) as f:
            saved = WorkerSpec.from_dict(json.load(f))
        if spec is not None:
            want = WorkerSpec.from_dict(spec)
            if (saved.subspaces, saved.widths, saved.metric) != (want.subspaces, want.widths, want.metric):
                raise ValueError(f"save {tag!r} holds subspaces {saved.subspaces} {saved.widths} "
                                 f"({saved.metric}), expected {want.subspaces} {want.widths} ({want.metric})")
            saved = want  # the caller's build/search parameters win (same data)
        worker = LocalWorker(saved, self._fresh_workdir())
        try:
            worker.load(path)
        except Exception:
            worker.close()
            self._replace(None)
            raise
        self._replace(worker)
        self.lineage, self.applied_seq = meta["lineage"], int(meta["seq"])
        self.secret = str(meta.get("secret", ""))
        self.base = (tag, self.applied_seq)
        if self._read_latest() != tag:
            self._write_latest(tag)
        return self.position()

    def _stats(self) -> dict:
        self._last_stats = self.worker.stats() if self.worker else {}
        return {**self._stats_unlocked(), "stats": self._last_stats}

    def _stats_unlocked(self) -> dict:
        worker = self.worker
        return {"position": self.position(), "spec": worker.spec.to_dict() if worker else None,
                "saves": self._saves()}

    # -- helpers -------------------------------------------------------------------------
    def _replace(self, worker: LocalWorker | None) -> None:
        if self.worker is not None:
            self.worker.close()
        self.worker = worker
        self.epoch = secrets.token_hex(8)
        self.applied_seq, self.base = 0, ("", 0)
        if worker is None:
            self.lineage = self.secret = ""

    def _fresh_workdir(self) -> str:
        """A new scratch folder per state (the old one's files may still be open)."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.workdir

    def _saves(self) -> list[dict]:
        out = []
        root = os.path.join(self.data_dir, "saves")
        for name in os.listdir(root):
            try:
                with open(os.path.join(root, name, "host.json")) as f:
                    meta = json.load(f)
                out.append({"tag": name, "seq": int(meta["seq"]), "lineage": str(meta["lineage"]),
                            "mtime": os.path.getmtime(os.path.join(root, name))})
            except (OSError, ValueError, KeyError):
                continue
        out.sort(key=lambda d: (d["seq"], d["mtime"]), reverse=True)
        return [{k: d[k] for k in ("tag", "seq", "lineage")} for d in out]

    def _read_latest(self) -> str:
        try:
            with open(os.path.join(self.data_dir, "LATEST")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return ""

    def _write_latest(self, tag: str) -> None:
        path = os.path.join(self.data_dir, "LATEST")
        with open(path + ".tmp", "w") as f:
            f.write(tag)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        fsync_dir(self.data_dir)

    def close(self) -> None:
        with self._lock:
            if self.worker is not None:
                self.worker.close()
                self.worker = None
            self._lockfile.close()
