"""The catch-up journal: the coordinator's write-ahead log as remote workers read it.

A :class:`Journal` is the :class:`~sanny.workers.base.CoordinatorLog` handed to every worker
at construction (``WorkerSite.log``): remote transports stamp writes with ``journal.seq`` and,
after a restart, replay ``journal.since(rank, after)``. It keeps (removed ids, added ids) of
each WAL record since the last checkpoint; the vectors themselves are re-read from the WAL.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .wal import PUT, WriteAheadLog


def records_after(path: str, after: int):
    """WAL records newer than seq ``after`` (older ones are already in the snapshot)."""
    for rec in WriteAheadLog.replay(path):
        if rec[0] > after:
            yield rec


def runs(records, most: int = 4096):
    """Consecutive WAL records grouped into runs of one op with no key twice (so applying a run
    at once equals applying its records in turn), at most ``most`` records each."""
    run, seen = [], set()
    for rec in records:
        keys = rec[2]
        if run and (rec[1] != run[0][1] or len(run) >= most or not seen.isdisjoint(keys)):
            yield run
            run, seen = [], set()
        run.append(rec)
        seen.update(keys)
    if run:
        yield run


def replay(ix, records) -> None:
    """Apply WAL ``records`` to ``ix`` (a ``Durable`` being opened) a run at a time (see
    :func:`runs`): one store update and one call per worker per run instead of per record; the
    journal still gets one entry per seq."""
    for run in runs(records):
        op = run[0][1]
        if len(run) == 1:
            ix.journal.seq = run[0][0]
            ix._apply(op, run[0][2], run[0][3])
            continue
        olds = [ix.store.lookup(keys) for _, _, keys, _ in run]
        keys = [k for _, _, ks, _ in run for k in ks]
        x = np.concatenate([r[3] for r in run]) if op == PUT else None
        old, ids, xs = ix._update_store(op, keys, x)
        sizes = np.cumsum([len(r[2]) for r in run])[:-1]
        for (seq, _, _, _), o, i in zip(run, olds, np.split(ids, sizes) if ids is not None else [None] * len(run)):
            ix.journal.seq = seq
            ix.journal.record(o[o >= 0], i)
        ix._send(old, ids, xs)


class Journal:
    """``seq``: the newest WAL record applied; ``slices(vectors, rank)``: worker ``rank``'s
    columns of (projected) full vectors, as the coordinator sends them on insert."""

    def __init__(self, wal_path: str, slices: Callable[[np.ndarray, int], np.ndarray]):
        self.wal_path, self._slices = wal_path, slices
        self.seq = 0
        self._entries: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def record(self, removed: np.ndarray, added: np.ndarray | None) -> None:
        """Remember what WAL record ``seq`` removed and added (internal ids)."""
        self._entries[self.seq] = (removed, added)

    def __len__(self) -> int:
        """WAL records since the last checkpoint."""
        return len(self._entries)

    def skip(self, seq: int) -> None:
        """WAL seq ``seq`` was never written (its fsync failed): catch-up steps over it."""
        self._entries[seq] = (np.empty(0, np.int64), None)

    def clear(self) -> None:
        """After a checkpoint: the snapshot holds everything."""
        self._entries.clear()

    def since(self, rank: int, after: int):
        """The writes worker ``rank`` needs to go from seq ``after`` to ``seq``, as a list of
        ``(seq, removed_ids, added_ids, slices)`` (``added_ids``/``slices`` None for a removal),
        or None when the journal no longer reaches back to ``after`` (it predates the last
        checkpoint). Called from inside a fan-out, so it takes no lock (the caller holds it)."""
        if after >= self.seq:
            return []
        if after + 1 not in self._entries:
            return None
        out = []
        for seq, _, _, vecs in records_after(self.wal_path, after):
            if seq > self.seq:  # during open's replay the file runs ahead of the index
                break
            old, ids = self._entries[seq]
            xs = None if ids is None else np.ascontiguousarray(self._slices(vecs, rank))
            out.append((seq, old, ids, xs))
        return out
