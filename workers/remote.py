"""Client half of a remote worker, shared by the gRPC and Ray transports.

It keeps a remote :class:`~sanny.workers.host.WorkerHost` in step with the coordinator's
write-ahead log:

- every write carries the seq of the WAL record being applied (``log.seq``, the coordinator's
  :class:`~sanny.workers.base.CoordinatorLog` given at construction);
- every call that reads or extends the remote state names the host *epoch* we are in step
  with; a host that restarted, reloaded or was reconfigured answers "stale" and does nothing;
- a stale answer or any failed call marks the worker *suspect*; before its next call it is
  resynchronised: its position (lineage, epoch, applied seq) is read, if it lost our state it
  loads our newest save, then the coordinator's log records after its seq are replayed to it
  (``log.since``) and the call goes ahead. Writes are idempotent, so replaying a record
  the worker already has is harmless.

Every call has a deadline: the caller's, set with ``workers.deadline.deadline`` around an index call
(shared by the whole fan-out), else the transport's default. A worker that is down or does not answer
in time raises :class:`WorkerUnavailable` (:class:`DeadlineExceeded` when it was the caller's
deadline) and the transport cancels the call.
"""
from __future__ import annotations

import abc
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict

import numpy as np

from .errors import DeadlineExceeded, IndexCorrupt, SannyError, WorkerUnavailable

from .base import CoordinatorLog, SearchParams, Worker, WorkerSpec
from .deadline import remaining
from .pending import Pending

log = logging.getLogger(__name__)

SLOW = frozenset({"insert", "build", "save", "load", "configure"})  # may (re)build graphs


class Stale(Exception):
    """Raised by a transport when the host answered StaleState."""


class RemoteWorker(Worker):
    """A Worker whose state lives in a WorkerHost elsewhere. Subclasses implement ``_invoke``."""

    transport = "remote"

    def __init__(self, spec: WorkerSpec, name: str, *, rank: int = 0, log: CoordinatorLog | None = None,
                 timeout: float = 30.0, slow_timeout: float = 600.0, connect_grace: float = 1.5):
        """``rank``/``log``: this worker's group in the index and the coordinator's log (None: a
        stand-alone worker that numbers its own writes); ``timeout``: default deadline of
        searches and small calls; ``slow_timeout``: of calls that may build graphs (insert,
        build, save, load); ``connect_grace``: how long a status call waits for a worker to
        (re)connect before it counts as unavailable."""
        self.spec, self.name = spec, name
        self.timeout, self.slow_timeout = float(timeout), float(slow_timeout)
        self.connect_grace = float(connect_grace)
        self._coordinator, self._rank = log, int(rank)
        self._own_seq = 0          # seq source without a coordinator log
        self._lineage: str | None = None  # None: not bound to any saved state yet (a new index)
        self._epoch: str | None = None
        self._acked = 0            # every write up to this seq is applied in epoch _epoch
        self._base = ("", 0)       # newest save we wrote or loaded: (tag, seq)
        self._secret = ""          # proves to the host that we own _lineage (only we evict its saves)
        self._committed: list[str] = []  # saves the last two committed snapshots name (kept)
        self._reload = False       # load _base before the next call (set by load())
        self._suspect = True
        self._sync_lock = threading.Lock()
        self._sync_failed: tuple[float, Exception] | None = None  # (when, why) of the last failed sync

    # -- transport -----------------------------------------------------------------------
    @abc.abstractmethod
    def _invoke(self, method: str, timeout: float, epoch: str | None, kw: dict):
        """One call to the host. Raise Stale, TimeoutError (no answer in ``timeout``; cancel
        the call), WorkerUnavailable (down), ValueError / FileNotFoundError (as the host did)."""

    def _begin(self, method: str, timeout: float, epoch: str | None, kw: dict) -> "Pending | None":
        """Start one call without waiting (None: blocking calls only, long ones not supervised)."""
        return None

    # -- the coordinator's log -----------------------------------------------------------
    def _seq(self) -> int:
        return int(self._coordinator.seq) if self._coordinator is not None else self._own_seq

    def _log(self, after: int):
        if self._coordinator is not None:
            return self._coordinator.since(self._rank, after)
        return [] if after >= self._own_seq else None

    # -- calls ---------------------------------------------------------------------------
    def _timed(self, method: str, epoch: str | None, kw: dict, cap: float | None = None):
        base = self.slow_timeout if method in SLOW else self.timeout
        if cap is not None:
            base = min(base, cap)
        left, by_caller = remaining(), False
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded(f"deadline passed before calling worker {self.name} ({method})")
            by_caller = left < base
            base = min(base, left)
        try:
            pending = self._begin(method, base, epoch, kw) if method in SLOW and base > self.timeout else None
            if pending is not None:
                return self._supervise(pending, method, base)
            return self._invoke(method, base, epoch, kw)
        except TimeoutError:
            self._suspect = True
            if by_caller:
                raise DeadlineExceeded(f"deadline passed waiting for worker {self.name} ({method})") from None
            raise WorkerUnavailable(f"worker {self.name} did not answer {method} within {base:.3g} s") from None

    def _supervise(self, pending: "Pending", method: str, limit: float):
        """Wait up to ``limit`` for a long call while the host answers a status call every
        ``timeout / 2`` s: a busy host is waited for, a hung one is given up within ``timeout``."""
        end, beat = time.monotonic() + limit, self.timeout / 2
        while not pending.done(max(0.0, min(beat, end - time.monotonic()))):
            if time.monotonic() >= end:
                pending.cancel()
                raise TimeoutError(f"{method} timed out")
            try:
                self._invoke("stats", min(beat, self.connect_grace), None, {})
            except Exception as e:  # noqa: BLE001 - any failure to answer: hung or gone
                pending.cancel()
                raise WorkerUnavailable(f"worker {self.name} stopped answering during {method} "
                                        f"(no status answer within {min(beat, self.connect_grace):.3g} s: {e})") from None
        return pending.result()

    def _resync(self) -> None:
        """``_sync``; a caller that waited for another thread's failing sync gets its failure."""
        arrived = time.monotonic()
        with self._sync_lock:
            if not self._suspect:
                return
            failed = self._sync_failed
            if failed is not None and failed[0] >= arrived:
                raise WorkerUnavailable(str(failed[1]))
            try:
                self._sync()
            except (WorkerUnavailable, DeadlineExceeded) as e:
                self._sync_failed = (time.monotonic(), e)
                raise

    def _call(self, method: str, **kw):
        for attempt in (0, 1):
            try:
                if self._suspect:
                    self._resync()
                return self._timed(method, self._epoch, kw)
            except Stale as e:
                self._suspect = True
                if attempt:
                    raise WorkerUnavailable(f"worker {self.name} keeps changing state: {e}") from None
            except (WorkerUnavailable, DeadlineExceeded):
                self._suspect = True
                raise

    def _write(self, method: str, **kw) -> None:
        seq = self._seq() if self._coordinator is not None else self._own_seq + 1
        self._own_seq = max(self._own_seq, seq)
        try:
            self._call(method, seq=seq, **kw)
        except BaseException:
            self._acked = min(self._acked, seq - 1)  # make the catch-up resend this record
            self._suspect = True
            raise
        self._acked = max(self._acked, seq)

    def _sync(self) -> None:
        """Bring the host to our state: same lineage, our epoch, every logged write applied."""
        st = self._timed("stats", None, {}, cap=self.connect_grace)
        pos = st["position"]
        if self._reload:  # opened from a snapshot: start from the save it names
            pos = self._load_save(self._base[0])
            after = pos["applied_seq"]
        elif self._lineage is None:  # never bound: a new index (Index.create/train), start empty
            self._lineage, self._secret = secrets.token_hex(8), secrets.token_hex(16)
            pos = self._timed("configure", None, {"spec": self.spec.to_dict(), "lineage": self._lineage,
                                                  "secret": self._secret})
            after = 0
        elif pos["lineage"] != self._lineage or not pos["configured"]:
            mine = [s for s in st["saves"] if s["lineage"] == self._lineage]
            if not mine:
                raise WorkerUnavailable(f"worker {self.name} no longer holds this index's state "
                                        f"(no save of lineage {self._lineage}); restore its data directory")
            pos = self._load_save(mine[0]["tag"])
            after = pos["applied_seq"]
        elif pos["epoch"] == self._epoch:
            after = min(self._acked, pos["applied_seq"])
        else:
            after = pos["applied_seq"]
        records = self._log(after)
        if (records is None or after > self._seq()) and self._base[0] and self._base[1] <= self._seq():
            # outside what the coordinator's log covers: back to our newest save
            pos = self._load_save(self._base[0])
            after = pos["applied_seq"]
            records = self._log(after)
        if records is None:
            raise WorkerUnavailable(f"worker {self.name} is at seq {after}, before the coordinator's "
                                    "last checkpoint; reopen the index to reload it")
        epoch = pos["epoch"]
        for seq, old, ids, xs in records:
            if len(old):
                self._timed("remove", epoch, {"seq": seq, "ids": old})
            if ids is not None:
                self._timed("insert", epoch, {"seq": seq, "ids": ids, "slices": xs})
        if records:
            self._timed("build", epoch, {"optimize": False})
        self._epoch, self._acked, self._suspect = epoch, self._seq(), False

    def _load_save(self, tag: str) -> dict:
        try:
            pos = self._timed("load", None, {"tag": tag, "spec": self.spec.to_dict()})
        except FileNotFoundError as e:
            raise IndexCorrupt(f"{e} (its data directory was lost or replaced)") from None
        if pos["lineage"] != self._lineage:
            raise IndexCorrupt(f"worker {self.name}: save {tag} belongs to another index "
                               f"(lineage {pos['lineage']}, expected {self._lineage})")
        self._reload = False
        return pos

    # -- Worker interface ----------------------------------------------------------------
    def insert(self, ids, slices) -> None:
        self._write("insert", ids=np.asarray(ids, np.int64), slices=np.asarray(slices, np.float32))

    def remove(self, ids) -> None:
        self._write("remove", ids=np.asarray(ids, np.int64))

    def search(self, queries, T, params: SearchParams | None = None):
        p = asdict(params or SearchParams())
        return self._call("search", queries=np.asarray(queries, np.float32), T=int(T), params=p)

    def partial_distances(self, queries, candidate_ids) -> np.ndarray:
        return self._call("partial_distances", queries=np.asarray(queries, np.float32),
                          candidate_ids=np.asarray(candidate_ids, np.int64))

    def build(self, optimize: bool = False) -> None:
        self._call("build", optimize=bool(optimize))

    def save(self, path: str) -> None:
        """Save on the worker's own disk; ``path`` (in the coordinator's snapshot) records which save."""
        seq = self._seq()
        tag = f"{seq:012d}-{secrets.token_hex(4)}"
        self._call("save", tag=tag, seq=seq, keep=self._committed or None, proof=self._secret)
        self._base = (tag, seq)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "remote.json"), "w") as f:
            json.dump({"transport": self.transport, "worker": self.name, "tag": tag, "seq": seq,
                       "lineage": self._lineage, "secret": self._secret, "spec": self.spec.to_dict(),
                       "previous": self._committed[0] if self._committed else None}, f, indent=1)

    def committed(self) -> None:
        """The previous committed save stays too: recovery may fall back to that snapshot. Any
        older save goes now (Release), not at the next Save: a worker holds two saves, not three.
        Best effort: a worker that misses it (down, or older) evicts them at its next Save."""
        self._committed = [self._base[0]] + self._committed[:1]
        try:
            self._timed("release", None, {"keep": list(self._committed), "proof": self._secret})
        except (SannyError, OSError, ValueError, TimeoutError) as e:
            log.info("worker %s kept its older saves until its next save: %s", self.name, e)

    def load(self, path: str) -> None:
        """Bind to the save the coordinator's snapshot names; the worker loads it on first use
        (so a worker that is down surfaces as WorkerUnavailable, not as a damaged snapshot)."""
        ref = os.path.join(path, "remote.json")
        if not os.path.exists(ref):
            raise FileNotFoundError(f"{ref} is missing: this snapshot's worker was not saved by a "
                                    "remote worker (open it with the transport that built it)")
        with open(ref) as f:
            meta = json.load(f)
        self._lineage, self._base = str(meta["lineage"]), (str(meta["tag"]), int(meta["seq"]))
        self._secret = str(meta.get("secret", ""))
        self._committed = [self._base[0]] + ([str(meta["previous"])] if meta.get("previous") else [])
        self._epoch, self._acked, self._reload, self._suspect = None, 0, True, True

    def catch_up(self) -> None:
        """Resynchronise now if needed (a server's health loop), not in the next search."""
        if self._suspect:
            self._resync()

    def stats(self) -> dict:
        """The host's counts and log position; ``state`` is ``ready`` or ``catching_up`` (it is
        resynchronised on its next call). WorkerUnavailable when it cannot be reached."""
        try:
            st = self._timed("stats", None, {}, cap=self.connect_grace)
        except SannyError:
            self._suspect = True
            raise
        pos = st["position"]
        in_step = (not self._suspect and pos["epoch"] == self._epoch and pos["lineage"] == self._lineage)
        return {**st["stats"], "worker": self.name, "transport": self.transport,
                "subspaces": list(self.spec.subspaces), "state": "ready" if in_step else "catching_up",
                "applied_seq": pos["applied_seq"], "saved_seq": pos["base_seq"], "saves": len(st["saves"])}
