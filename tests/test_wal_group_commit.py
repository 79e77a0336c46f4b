"""Group commit and rollback of failed appends (faults injected into os.pwrite / os.fsync).

The sharing test is deterministic without sleeps: the first fsync is held until every other
writer's record is written, so all of them must ride on one more fsync.
"""
import errno
import os
import threading

import numpy as np
import pytest

from sanny.workers.errors import StorageFull, WriteFailed
from sanny.engine.wal import PUT, WriteAheadLog

HANG_GUARD_S = 30  # only a guard against a hang, never reached when the code works


def vec(seq):
    return np.random.default_rng(seq).normal(size=(1, 8)).astype(np.float32)


def replayed(path):
    return sorted(r[0] for r in WriteAheadLog.replay(path))


class Disk:
    """Counts pwrites and the log's fsyncs; can hold the first fsync and fail a later one."""

    def __init__(self, monkeypatch, wal, writers, fail_fsync_no=None, err=errno.EIO):
        self.wal, self.writers, self.fail_no, self.err = wal, writers, fail_fsync_no, err
        self.cond = threading.Condition()
        self.pwrites = self.fsyncs = 0
        self.first_fsync = threading.Event()
        real_pwrite, real_fsync = os.pwrite, os.fsync

        def pwrite(fd, data, offset):
            n = real_pwrite(fd, data, offset)
            with self.cond:
                self.pwrites += 1
                self.cond.notify_all()
            return n

        def fsync(fd):
            if fd != wal._fd:
                return real_fsync(fd)
            with self.cond:
                self.fsyncs += 1
                no = self.fsyncs
            if no == 1:
                self.first_fsync.set()
                with self.cond:  # hold the first fsync until every writer's bytes are written
                    assert self.cond.wait_for(lambda: self.pwrites >= self.writers, HANG_GUARD_S)
            if no == self.fail_no:
                raise OSError(self.err, os.strerror(self.err))
            return real_fsync(fd)

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "fsync", fsync)


def run_writers(wal, disk, n):
    """Writer 0 first (it becomes the fsync leader), then the rest while it is in fsync."""
    results = [None] * n

    def write(i):
        try:
            wal.append(i + 1, PUT, [f"w{i}"], vec(i + 1))
            results[i] = "ok"
        except WriteFailed as e:
            results[i] = e

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    threads[0].start()
    assert disk.first_fsync.wait(HANG_GUARD_S)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(HANG_GUARD_S)
    assert not any(t.is_alive() for t in threads)
    return results


def test_concurrent_appends_share_one_fsync(tmp_path, monkeypatch):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    n = 12
    disk = Disk(monkeypatch, wal, n)
    results = run_writers(wal, disk, n)
    assert results == ["ok"] * n
    assert disk.pwrites == n and disk.fsyncs == 2       # one for writer 0, one for the other 11
    monkeypatch.undo()
    wal.close()
    assert replayed(path) == list(range(1, n + 1))


@pytest.mark.parametrize("err,kind", [(errno.EIO, WriteFailed), (errno.ENOSPC, StorageFull)])
def test_failed_group_fsync_rolls_back_every_writer_in_it(tmp_path, monkeypatch, err, kind):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    n = 6
    disk = Disk(monkeypatch, wal, n, fail_fsync_no=2, err=err)
    results = run_writers(wal, disk, n)
    assert results[0] == "ok"                           # its own fsync succeeded
    assert all(type(r) is kind for r in results[1:]), results
    assert "was not applied" in str(results[1])
    size_after_first = os.path.getsize(path)
    wal.append(100, PUT, ["after"], vec(100))           # the log still works
    monkeypatch.undo()
    wal.close()
    assert replayed(path) == [1, 100]
    assert size_after_first < os.path.getsize(path)


def test_many_threads_all_durable(tmp_path):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    threads, per = 8, 40
    errors = []

    def write(t):
        try:
            for j in range(per):
                seq = 1 + t * per + j
                wal.append(seq, PUT, [f"k{seq}"], vec(seq))
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    ts = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(HANG_GUARD_S)
    wal.close()
    assert not errors and not any(t.is_alive() for t in ts)
    recs = {r[0]: r for r in WriteAheadLog.replay(path)}
    assert sorted(recs) == list(range(1, threads * per + 1))
    np.testing.assert_array_equal(recs[77][3], vec(77))
    assert recs[77][2] == ["k77"]


def partial_then_fail(monkeypatch, err):
    """os.pwrite writes half the bytes, then the next call fails (what a filling disk does)."""
    real = os.pwrite
    state = {"calls": 0}

    def pwrite(fd, data, offset):
        state["calls"] += 1
        if state["calls"] == 1:
            return real(fd, bytes(data[: len(data) // 2]), offset)
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "pwrite", pwrite)


def test_partial_write_is_rolled_back_and_never_resurfaces(tmp_path, monkeypatch):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    wal.append(1, PUT, ["a"], vec(1))
    size = os.path.getsize(path)
    with monkeypatch.context() as m:
        partial_then_fail(m, errno.ENOSPC)
        with pytest.raises(StorageFull, match="record 2"):
            wal.append(2, PUT, ["b"], vec(2))
    assert os.path.getsize(path) == size                # cut back before the error returned
    wal.append(3, PUT, ["c"], vec(3))
    wal.close()
    assert replayed(path) == [1, 3]                     # the failed record never comes back


def test_failed_first_append_leaves_an_empty_log(tmp_path, monkeypatch):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    with monkeypatch.context() as m:
        partial_then_fail(m, errno.EIO)
        with pytest.raises(WriteFailed):
            wal.append(1, PUT, ["a"], vec(1))
    assert os.path.getsize(path) == 0
    wal.append(2, PUT, ["b"], vec(2))
    wal.close()
    assert replayed(path) == [2]


def test_failed_rollback_refuses_writes_until_reopened(tmp_path, monkeypatch):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    wal.append(1, PUT, ["a"], vec(1))
    size = os.path.getsize(path)

    def no_truncate(fd, n):
        raise OSError(errno.EIO, "injected")

    with monkeypatch.context() as m:
        partial_then_fail(m, errno.EIO)
        m.setattr(os, "ftruncate", no_truncate)
        with pytest.raises(WriteFailed):
            wal.append(2, PUT, ["b"], vec(2))
    assert os.path.getsize(path) > size                 # the torn piece is still there...
    with pytest.raises(WriteFailed, match="reopened"):   # ...so nothing may go behind it
        wal.append(3, PUT, ["c"], vec(3))
    wal.close()
    wal = WriteAheadLog(path)                            # reopening cuts the torn tail
    assert os.path.getsize(path) == size
    wal.append(4, PUT, ["d"], vec(4))
    wal.close()
    assert replayed(path) == [1, 4]


def test_reset_empties_and_keeps_working(tmp_path):
    path = str(tmp_path / "wal.log")
    wal = WriteAheadLog(path)
    wal.append(1, PUT, ["a"], vec(1))
    wal.reset()
    assert os.path.getsize(path) == 0
    wal.append(2, PUT, ["b"], vec(2))
    wal.close()
    assert replayed(path) == [2]
