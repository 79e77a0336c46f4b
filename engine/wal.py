"""Write-ahead log: a write is acknowledged only once its record is on disk (fsync'd).

The format, torn-tail/damage rules and ``repair`` are in ``wal_format``. Appends use
``os.pwrite`` on a raw fd (no user-space buffer that could carry failed bytes into a later
write). Concurrent appenders share fsyncs (group commit): each writes its record under a short
lock, then one of them fsyncs for everyone whose bytes are written while the others wait. A write
or fsync that fails is rolled back (truncate to the last durable size, fsync) before the error
(``StorageFull`` / ``WriteFailed``) reaches every writer whose bytes were cut; if the rollback
itself fails the log refuses appends until it is reopened.
"""
from __future__ import annotations

import errno
import logging
import os
import struct
import threading
from typing import Iterator

import numpy as np

from sanny.workers.errors import IndexCorrupt, StorageFull, WriteFailed
from sanny.workers.fsio import fsync_dir
from .wal_format import (VERSION, Record, RepairReport, decode, encode,
                         file_head, read, repair, rewrite, scan, write_atomic)

__all__ = ["WriteAheadLog", "PUT", "DEL", "repair", "RepairReport"]

log = logging.getLogger(__name__)

PUT, DEL = 1, 2
FULL = (errno.ENOSPC, errno.EDQUOT)


# -- the log -------------------------------------------------------------------------------


def _keep_copy(path: str, data: bytes) -> str:
    n = 1 + sum(1 for f in os.listdir(os.path.dirname(os.path.abspath(path)))
                if f.startswith(os.path.basename(path) + ".damaged"))
    copy = f"{path}.damaged" + (f"-{n}" if n > 1 else "")
    write_atomic(copy, data)
    return copy


def _failure(e: OSError, path: str, what: str) -> WriteFailed:
    kind = StorageFull if e.errno in FULL else WriteFailed
    return kind(f"{path}: {what} failed ({os.strerror(e.errno) if e.errno else e}); "
                "the write was not applied")


class WriteAheadLog:
    def __init__(self, path: str):
        """Open for appending: a format-1 log is rewritten as format 2, a torn tail is cut off
        (logged), damage followed by valid records raises ``IndexCorrupt``."""
        self.path = path
        data = read(path)
        sc = scan(data, path)
        if sc.version != VERSION:
            write_atomic(path, rewrite(data, sc))
            log.warning("%s: converted %d records from WAL format 1 to %d", path, len(sc.records), VERSION)
            data = read(path)
            sc = scan(data, path)
        new = not os.path.exists(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        if new:
            fsync_dir(os.path.dirname(os.path.abspath(path)))
        self.damaged_copy: str | None = None  # where a damaged last record was kept
        if sc.tail == "damaged":
            self.damaged_copy = _keep_copy(path, data)
            log.warning("%s: the last record (byte %d, %d bytes) is complete but damaged: an "
                        "ACKNOWLEDGED WRITE MAY BE LOST; the file as found is kept as %s", path,
                        sc.good, len(data) - sc.good, self.damaged_copy)
        elif sc.good < len(data):
            log.warning("%s: dropped a torn tail of %d bytes at byte %d (a write that was never "
                        "acknowledged)", path, len(data) - sc.good, sc.good)
        if sc.good < len(data):
            self._truncate(sc.good)
        self._cond = threading.Condition(threading.Lock())
        self._end = self._synced = sc.good   # bytes written / bytes durable
        self._syncing = False                # a leader is in fsync
        self._gen = 0                        # number of fsync failures so far
        self._cuts: dict[int, tuple[int, WriteFailed]] = {}  # gen -> (size cut back to, why)
        self._broken: str | None = None

    def _truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        os.fsync(self._fd)

    def _cut_back(self, size: int) -> None:
        """Truncate to ``size`` (lock held); if even that fails, refuse appends from now on."""
        try:
            self._truncate(size)
            self._end = size
        except OSError as e:
            self._broken = (f"{self.path}: rolling back a failed write failed too ({e}); the log "
                            "refuses writes until the index is reopened")
            log.error(self._broken)

    def append(self, seq: int, op: int, keys: list[str], vectors: np.ndarray | None = None) -> None:
        """Durably append one record; returns after an fsync that covers it. On failure raises
        ``StorageFull`` / ``WriteFailed`` with the record (and every not yet durable record of
        concurrent writers, who get the same error) rolled back."""
        self.wait(self.write(seq, op, keys, vectors))

    def write(self, seq: int, op: int, keys: list[str], vectors: np.ndarray | None = None) -> tuple[int, int]:
        """Write one record without waiting for its fsync; returns the ticket for :meth:`wait`.
        Callers that must keep records in seq order call this under their own lock and wait
        outside it, so concurrent writers share one fsync (group commit)."""
        rec = encode(seq, op, keys, vectors)
        with self._cond:
            if self._broken:
                raise WriteFailed(self._broken)
            start = self._end
            data = (file_head() if start == 0 else b"") + rec
            try:
                done = 0
                while done < len(data):  # pwrite may write a part, then fail on the next call
                    done += os.pwrite(self._fd, data[done:] if done else data, start + done)
            except OSError as e:
                self._cut_back(start)
                raise _failure(e, self.path, f"appending WAL record {seq}") from e
            self._end = start + len(data)
            return self._end, self._gen

    def wait(self, ticket: tuple[int, int]) -> None:
        """Return once the record of ``ticket`` is durable; raise if an fsync failure cut it."""
        mine, gen = ticket
        with self._cond:
            while True:
                if self._gen != gen:  # an fsync failed since our write: were our bytes cut?
                    cut_at, err = self._cuts[gen]
                    if mine > cut_at:
                        raise err
                    return
                if self._synced >= mine:
                    return
                if self._syncing:
                    self._cond.wait()
                    continue
                self._lead()

    @property
    def size(self) -> int:
        """Bytes written (checkpoint trigger)."""
        return self._end

    def _lead(self) -> None:
        """fsync (lock released meanwhile) for every writer whose bytes are written so far; on
        failure cut the file back to the last durable size."""
        self._syncing, target = True, self._end
        err: WriteFailed | None = WriteFailed(f"{self.path}: fsync of the WAL was interrupted")
        self._cond.release()
        try:
            os.fsync(self._fd)
            err = None
        except OSError as e:
            err = _failure(e, self.path, "fsync of the WAL")
        finally:
            self._cond.acquire()
            self._syncing = False
            if err is None:
                self._synced = max(self._synced, target)
            else:
                self._cuts[self._gen] = (self._synced, err)
                self._gen += 1
                self._cut_back(self._synced)
            self._cond.notify_all()

    def reset(self) -> None:
        """Empty the log (after a checkpoint made everything in it durable elsewhere). Waits for
        in-flight appends to become durable first, so none is acknowledged after being cut."""
        with self._cond:
            while self._syncing or (self._end > self._synced and not self._broken):
                self._cond.wait()
            try:  # the emptied log is kept as wal.log.prev: recovery's way back to the previous snapshot
                os.replace(self.path, self.path + ".prev")
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                fsync_dir(os.path.dirname(os.path.abspath(self.path)))
            except OSError as e:
                raise _failure(e, self.path, "emptying the WAL") from e
            os.close(self._fd)
            self._fd = fd
            self._end = self._synced = 0
            self._broken = None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @staticmethod
    def replay(path: str) -> Iterator[Record]:
        """The records of the log in order (a torn tail ends it). Damage followed by valid
        records raises ``IndexCorrupt`` before anything is yielded. Reads only."""
        data = read(path)
        sc = scan(data, path)
        for span in sc.records:
            try:
                rec = decode(sc.payload(data, span))
            except (struct.error, UnicodeDecodeError, ValueError) as e:
                raise IndexCorrupt(f"{path}: record at byte {span[0]} has a valid checksum but "
                                   f"does not decode: {e}") from None
            yield rec
