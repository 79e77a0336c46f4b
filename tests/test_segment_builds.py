"""A foreground ``build`` beside a background merge: it does not wait for the merge, the merge it
overtook is dropped at its swap (stale), and nothing removed meanwhile comes back. A worker
polled for its compaction state (a remote one) stays "pending" until its idle step has run."""
from __future__ import annotations

import threading

import numpy as np

from sanny.workers import LocalWorker, SearchParams, WorkerSpec

from conftest import EXACT, clustered, subspace_recall
from test_segments import WIDTHS, params, shape

GUARD_S = 120  # hang guard (not a speed assertion)


def test_a_build_overtakes_a_background_merge_which_is_then_dropped(tmp_path):
    X = clustered(1600, sum(WIDTHS), seed=40, n_clusters=10)
    w = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), "l2", params("symqg", seal_rows=400, idle_seconds=3600)),
                    str(tmp_path / "w"))
    ex = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), "l2", EXACT), str(tmp_path / "x"))
    try:
        inner = w.inners[0]
        started, release = threading.Event(), threading.Event()
        real = inner.make_graph
        background = []

        def make(x, threads):
            if threading.current_thread().name == "sanny-compactor":  # the background merge blocks
                background.append(len(x))
                started.set()
                assert release.wait(GUARD_S)
            return real(x, threads)

        inner.make_graph = make
        for x in (w, ex):
            x.insert(np.arange(1000), X[:1000])           # >= seal_rows: the compactor seals
        assert started.wait(GUARD_S)
        for x in (w, ex):
            x.remove(np.arange(0, 1000, 5))               # while the background build runs
            x.insert(np.arange(1000, 1600), X[1000:])
        w.build(True)                                     # returns while the background still waits
        assert not release.is_set() and inner.merging == "seal"
        assert shape(w) == ([1400], [0], 0)
        release.set()
        assert w.settle(timeout=GUARD_S)
        assert shape(w) == ([1400], [0], 0)               # the overtaken seal was dropped, not swapped
        assert background and w.stats()["compaction"]["error"] == ""
        Q = X[::97]
        got, _ = w.search(Q, 10, SearchParams(ef_search=200))
        assert not np.isin(got, np.arange(0, 1000, 5)).any()
        assert subspace_recall(got, ex.search(Q, 10, SearchParams())[0]) >= 0.95
    finally:
        release.set()
        w.close()
        ex.close()


class _Remote:
    """A worker seen as a remote one is: stats only, no ``settle`` (``compaction.wait`` polls)."""

    def __init__(self, w):
        self.w = w

    def stats(self) -> dict:
        return self.w.stats()


def test_a_polled_worker_is_pending_until_its_idle_merge_has_run(tmp_path):
    from sanny.engine import compaction

    X = clustered(700, sum(WIDTHS), seed=41, n_clusters=8)
    w = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), "l2", params("symqg", idle_seconds=3600)), str(tmp_path / "w"))
    try:
        w.insert(np.arange(600), X[:600])
        w.build(True)
        assert w.stats()["compaction"]["state"] == "idle"      # one clean graph: nothing left
        w.insert(np.arange(600, 700), X[600:700])             # below every size rule (seal, ratio, deleted
        w.remove(np.arange(0, 600, 20))                       # share): only the idle step merges them
        assert w.stats()["compaction"]["state"] == "pending"  # not "idle" while the idle step waits
        assert not compaction.wait([_Remote(w)], timeout=0.3)  # its idle step is an hour away
        w.compactor.p = params("symqg", idle_seconds=0.0)     # now due
        w.compactor.wake()
        assert compaction.wait([_Remote(w)], timeout=GUARD_S)
        assert shape(w) == ([700 - 30], [0], 0)
    finally:
        w.close()


def test_no_step_is_named_like_a_compaction_state():
    """A running step's reason is what a poller sees as the state: "idle" or "pending" would read
    as done or not started."""
    from sanny.engine.compaction import STATES
    from sanny.workers.merge_policy import plan

    P = params("symqg", seal_rows=100, idle_merge_rows=10000)
    cases = [({}, {}, 100, 100, False), ({}, {}, 40, 100, False), ({1: 1000}, {1: 200}, 0, 0, False),
             ({1: 1000, 2: 300, 3: 260}, {1: 0, 2: 0, 3: 0}, 10, 10, False), ({1: 1000}, {1: 50}, 0, 0, True),
             ({1: 9900, 2: 100, 3: 50}, {1: 0, 2: 0, 3: 0}, 10, 10, True), ({1: 0, 2: 800}, {1: 1000, 2: 0}, 0, 0, False)]
    reasons = {plan(*c[:4], P, idle=c[4]).reason for c in cases}
    assert len(reasons) == 7 and not reasons & set(STATES)


def test_every_compaction_gives_its_freed_pages_back(tmp_path, monkeypatch):
    """glibc keeps freed heap in its arenas: after every merge (background or build) and every
    save the worker asks it to return them (``malloc_trim``), so RSS follows the live segments
    down instead of sitting at its peak."""
    from sanny.workers import heap

    assert heap._trim is not None  # glibc here (Debian): the call exists
    calls = []
    monkeypatch.setattr(heap, "_trim", lambda pad: calls.append(pad) or 1)
    X = clustered(800, sum(WIDTHS), seed=42, n_clusters=8)
    w = LocalWorker(WorkerSpec([0, 1], list(WIDTHS), "l2", params("symqg", seal_rows=300, idle_seconds=3600)),
                    str(tmp_path / "w"))
    try:
        w.insert(np.arange(800), X)                           # >= seal_rows: background steps
        assert w.settle(timeout=GUARD_S)
        background = len(calls)
        assert background >= w.stats()["compaction"]["steps"] >= 1
        w.remove(np.arange(0, 800, 3))
        w.build(True)                                         # a foreground merge
        assert len(calls) > background and set(calls) == {0}
        merged = len(calls)
        w.save(str(tmp_path / "save"))                        # a checkpoint's write buffers too
        assert len(calls) == merged + 1
    finally:
        w.close()
