"""Natural batching of concurrent searches (engine.coalesce): searches that queue behind a
running one run together as one batch, each caller gets exactly its own rows, different options
never mix, errors reach every caller of the batch, and a caller's deadline is honoured."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sanny.engine.coalesce import Coalescer
from sanny.workers.deadline import deadline
from sanny.workers.errors import DeadlineExceeded

from conftest import keys_for

WAIT = 60  # seconds: a bound on waiting for a state, never reached when the code works


class Held:
    """A batch function whose first call blocks until ``release``; records every batch."""

    def __init__(self, fail: bool = False):
        self.started, self.release = threading.Event(), threading.Event()
        self.calls: list[np.ndarray] = []
        self.fail = fail

    def __call__(self, q):
        self.calls.append(q.copy())
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        if self.fail and len(self.calls) > 1:
            raise RuntimeError("worker broke")
        return q * 2, q[:, :1] + 1


def _spawn(c, key, q, fn, out, i):
    def go():
        try:
            out[i] = c.run(key, q, fn)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            out[i] = e
    t = threading.Thread(target=go)
    t.start()
    return t


def _hold_first(c, fn):
    """Start a first search and wait until its batch is running (and so holds the others)."""
    out = {}
    t = _spawn(c, "first", np.zeros((1, 3), np.float32), fn, out, 0)
    assert fn.started.wait(WAIT)
    return t, out


def test_waiting_searches_run_as_one_batch_with_their_own_rows():
    c, fn = Coalescer(), Held()
    t0, out = _hold_first(c, fn)
    qs = [np.full((n, 3), i, np.float32) for i, n in enumerate([1, 2, 1, 3], start=1)]
    threads = [_spawn(c, "k", q, fn, out, i) for i, q in enumerate(qs, start=1)]
    assert c.wait_until(lambda n, busy: n == 4, WAIT)
    fn.release.set()
    for t in [t0, *threads]:
        t.join(WAIT)
    assert len(fn.calls) == 2 and len(fn.calls[1]) == 7  # the four waiting searches: one call
    for i, q in enumerate(qs, start=1):
        a, b = out[i]
        np.testing.assert_array_equal(a, q * 2)
        np.testing.assert_array_equal(b, q[:, :1] + 1)
    assert c.batches == 2 and c.joined == 4


def test_different_options_are_never_mixed_and_max_rows_splits():
    c, fn = Coalescer(max_rows=4), Held()
    t0, out = _hold_first(c, fn)
    plan = [("a", 3), ("b", 1), ("a", 1), ("a", 2), ("b", 1)]
    threads = [_spawn(c, key, np.full((n, 3), i, np.float32), fn, out, i) for i, (key, n) in enumerate(plan, start=1)]
    assert c.wait_until(lambda n, busy: n == len(plan), WAIT)
    fn.release.set()
    for t in [t0, *threads]:
        t.join(WAIT)
    # oldest first: a(3)+a(1) = 4 rows, then b+b, then the a that did not fit
    assert [sorted(set(q[:, 0].tolist())) for q in fn.calls[1:]] == [[1.0, 3.0], [2.0, 5.0], [4.0]]
    for i, (_key, n) in enumerate(plan, start=1):
        assert out[i][0].shape == (n, 3) and (out[i][0] == 2 * i).all()


def test_a_failing_batch_fails_every_caller_in_it_and_the_next_batch_runs():
    c, fn = Coalescer(), Held(fail=True)
    t0, out = _hold_first(c, fn)
    threads = [_spawn(c, "k", np.ones((1, 3), np.float32), fn, out, i) for i in (1, 2)]
    assert c.wait_until(lambda n, busy: n == 2, WAIT)
    fn.release.set()
    for t in [t0, *threads]:
        t.join(WAIT)
    assert isinstance(out[1], RuntimeError) and isinstance(out[2], RuntimeError)
    assert not isinstance(out[0], BaseException)  # the first batch was not affected
    fn.fail = False
    a, _ = c.run("k", np.ones((1, 3), np.float32), fn)  # the coalescer is free again
    np.testing.assert_array_equal(a, 2 * np.ones((1, 3)))


def test_a_caller_whose_deadline_passes_while_waiting_gets_deadline_exceeded():
    c, fn = Coalescer(), Held()
    t0, out = _hold_first(c, fn)
    with pytest.raises(DeadlineExceeded, match="waiting for a running search batch"):
        with deadline(0.05):  # passes while the first batch is held open
            c.run("k", np.ones((1, 3), np.float32), fn)
    assert c.wait_until(lambda n, busy: n == 0 and busy, 0)  # it left the queue; the first still runs
    fn.release.set()
    t0.join(WAIT)
    assert len(fn.calls) == 1  # its search never ran


def test_concurrent_index_searches_batch_and_match_searching_alone(make_index, data32):
    x, q = data32
    ix = make_index(dim=32, S=2, T=32)
    ix.insert(keys_for(len(x)), x)
    ix.build()
    want = [ix.search(q[i: i + 1], 5) for i in range(8)]
    out = {}

    def search(i):
        return threading.Thread(target=lambda: out.__setitem__(i, ix.search(q[i: i + 1], 5)))

    c = ix._coalescer
    before = c.batches, c.joined
    with ix._lock:  # hold searches out so that they queue
        threads = [search(0)]
        threads[0].start()
        assert c.wait_until(lambda n, busy: busy and n == 0, WAIT)  # its runner waits for the lock
        threads += [search(i) for i in range(1, 8)]
        for t in threads[1:]:
            t.start()
        assert c.wait_until(lambda n, busy: n == 7, WAIT)
        inner = ix.search(q[:1], 5)  # a search from a thread holding the lock runs directly
    for t in threads:
        t.join(WAIT)
    np.testing.assert_array_equal(inner[0], want[0][0])
    assert (c.batches - before[0], c.joined - before[1]) == (2, 7)
    for i in range(8):
        np.testing.assert_array_equal(out[i][0], want[i][0])
        np.testing.assert_allclose(out[i][1], want[i][1], rtol=1e-6)
