"""A grid cell tells a slow replica from a gone one (engine/replicas.py): a batch bigger than
``failover_after`` allows is answered without marking any replica down, while a paused replica
(no answer to a status call either) is marked down and the other replica answers.

The replicas here spend *virtual* time: a search of m rows "takes" ``m * per_row`` seconds and
fails with DeadlineExceeded when the caller's deadline leaves less than that, as a remote call
cut by its deadline does. Nothing sleeps."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine.replicas import SLACK, Cell
from sanny.workers.deadline import deadline, remaining
from sanny.workers.errors import DeadlineExceeded, WorkerUnavailable


class Replica:
    def __init__(self, per_row: float, paused: bool = False):
        self.per_row, self.paused, self.calls, self.caps = per_row, paused, 0, []

    def search(self, queries, T, params=None):
        self.calls += 1
        left = remaining()
        self.caps.append(left)
        if self.paused or (left is not None and left < self.per_row * len(queries)):
            raise DeadlineExceeded("deadline passed waiting for worker (search)")
        m = len(queries)
        return np.tile(np.arange(T), (1, m, 1)), np.zeros((1, m, T), np.float32)

    def stats(self):
        if self.paused:
            raise DeadlineExceeded("deadline passed waiting for worker (stats)")
        return {"count": 0}

    def close(self):
        pass


def _search(cell, m, T=5):
    q = np.zeros((m, 4), np.float32)
    return cell.read(lambda w: w.search(q, T), m)


def test_big_batch_is_slow_not_down():
    reps = [Replica(per_row=0.01), Replica(per_row=0.01)]
    cell = Cell(reps, "g0.r0", failover_after=2.0)
    try:
        ids, _ = _search(cell, 1000)  # "takes" 10 s: five times failover_after
        assert ids.shape == (1, 1000, 5)
        assert cell.up == [True, True] and cell.state == "ready"
        assert cell.slow >= 1 and cell.failovers == 0
        assert any(c is None for r in reps for c in r.caps)  # the retry ran without a cap
    finally:
        cell.close()


def test_big_batch_within_the_callers_deadline_only():
    reps = [Replica(per_row=0.01), Replica(per_row=0.01)]
    cell = Cell(reps, "g0.r0", failover_after=2.0)
    try:
        with deadline(3600.0):
            _search(cell, 1000)
        patient = [c for r in reps for c in r.caps if c is not None and c > cell.cap(1000)]
        assert patient and max(patient) <= 3600.0  # the retry is bounded by the caller's deadline
    finally:
        cell.close()


def test_paused_replica_is_marked_down_and_the_other_answers():
    reps = [Replica(per_row=0.0, paused=True), Replica(per_row=0.0, paused=True)]
    cell = Cell(reps, "g0.r0", failover_after=2.0, probe_every=3600.0)
    reps[1].paused = False
    try:
        for _ in range(2):  # round-robin reaches the paused one in two searches
            ids, _ = _search(cell, 10)
            assert ids.shape == (1, 10, 5)
        assert cell.up == [False, True] and cell.state == "degraded"
        assert cell.failovers == 1 and cell.slow == 0
    finally:
        cell.close()


def test_every_replica_paused_is_unavailable():
    cell = Cell([Replica(0.0, paused=True), Replica(0.0, paused=True)], "g0.r0", probe_every=3600.0)
    try:
        with pytest.raises(WorkerUnavailable, match="g0.r0"):
            _search(cell, 10)
        assert cell.up == [False, False]
    finally:
        cell.close()


def test_cap_follows_the_cost_per_row():
    cell = Cell([Replica(0.0), Replica(0.0)], "g0.r0", failover_after=2.0)
    try:
        assert cell.cap(10_000) == 2.0  # nothing learned yet
        cell._learn(100, 1.0)  # 10 ms per row
        assert cell.cap(1000) == pytest.approx(2.0 + SLACK * 10.0)
        cell._learn(100, 0.0)  # one fast answer lowers it only a little
        assert cell.row_seconds == pytest.approx(0.008)
    finally:
        cell.close()
