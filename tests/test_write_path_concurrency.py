"""Writes off the search path: a search completes while a write waits for its fsync; the write
is invisible until durable, later writes' checks see it pending; a write whose fsync failed is
not applied, its seq is skipped and later writes go on (the error contract)."""
from __future__ import annotations

import errno
import os
import threading

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.errors import AlreadyExists, NotFound, WriteFailed

GUARD_S = 30  # only against a hang


def vec(i):
    return np.random.default_rng(i).normal(size=(1, 8)).astype(np.float32)


@pytest.fixture
def ix(tmp_path):
    index = Index.create(str(tmp_path / "i"), IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    index.insert(["a"], vec(0))
    yield index
    index.close(save=False)


def hold_fsync(monkeypatch, ix, fail=False):
    """The WAL's next fsync blocks until ``release`` is set (then fails with EIO if ``fail``)."""
    entered, release, real = threading.Event(), threading.Event(), os.fsync

    def fsync(fd):
        if fd == ix.wal._fd and not entered.is_set():
            entered.set()
            assert release.wait(GUARD_S)
            if fail:
                raise OSError(errno.EIO, "injected")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return entered, release


def in_thread(fn, *args):
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except Exception as e:  # noqa: BLE001 - handed to the test
            out["error"] = e
        finally:
            out["done"] = True
    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_search_is_not_held_by_a_write_in_fsync(ix, monkeypatch):
    entered, release = hold_fsync(monkeypatch, ix)
    writer, wout = in_thread(ix.insert, ["b"], vec(1))
    assert entered.wait(GUARD_S)
    searcher, sout = in_thread(ix.search, vec(0), 1)
    searcher.join(GUARD_S)
    assert sout.get("done") and "error" not in sout  # finished while the fsync is still held
    assert sout["value"][0][0, 0] == "a"
    assert not ix.exists(["b"])[0]  # not applied before it is durable
    with pytest.raises(AlreadyExists):  # but later checks see it pending
        ix.insert(["b"], vec(2))
    release.set()
    writer.join(GUARD_S)
    assert wout.get("done") and "error" not in wout
    assert ix.exists(["b"])[0] and np.allclose(ix.get(["b"]), vec(1))


def test_failed_fsync_is_not_applied_and_later_writes_go_on(ix, monkeypatch):
    entered, release = hold_fsync(monkeypatch, ix, fail=True)
    writer, wout = in_thread(ix.insert, ["b"], vec(1))
    assert entered.wait(GUARD_S)
    seq_before = ix.seq
    release.set()
    writer.join(GUARD_S)
    assert isinstance(wout.get("error"), WriteFailed)
    assert not ix.exists(["b"])[0] and ix.seq == seq_before
    with pytest.raises(NotFound):
        ix.remove(["b"])
    ix.insert(["b"], vec(3))  # the seq of the failed write is skipped
    assert ix.seq == seq_before + 2 and np.allclose(ix.get(["b"]), vec(3))
    root = ix.root
    ix.wal.close()
    ix._release()
    with Index.open(root) as again:
        assert np.allclose(again.get(["b"]), vec(3)) and len(again) == 2
