"""A single query's subspace searches overlap on idle cores (``workers.parallel``): same
results as in turn, errors and the caller's context carried over, the caller takes back work
no pool thread has started, and nothing is handed off when other processes keep the cores busy."""
from __future__ import annotations

import contextvars
import threading

import numpy as np
import pytest

from conftest import keys_for
from sanny.engine import InnerParams
from sanny.workers import parallel

WAIT = 60  # seconds: a bound on a hang, never reached when the code works


@pytest.fixture
def idle(monkeypatch):
    """Pretend other processes leave every core idle and overlapping pays (the decision, not the
    mechanism)."""
    monkeypatch.setattr(parallel._idle, "get", lambda: float(parallel.cores()))
    monkeypatch.setattr(parallel, "_gain", Pays())


class Pays(parallel._Gain):
    def pays(self) -> bool:
        return True


def test_calls_overlap_on_a_pool_thread(idle):
    if parallel.cores() < 2:
        pytest.skip("one core: nothing is handed off")
    other_started = threading.Event()
    names = {}

    def first():
        names[0] = threading.current_thread().name
        return other_started.wait(WAIT)  # returns only because the second call runs meanwhile

    def second():
        names[1] = threading.current_thread().name
        other_started.set()
        return "b"

    assert parallel.run([first, second]) == [True, "b"]
    assert names[0] == threading.current_thread().name and names[1].startswith("sanny-subspace")


def test_caller_takes_back_calls_no_thread_started(idle):
    pool = parallel.Pool(1)
    release, busy = threading.Event(), threading.Event()

    def hog():
        busy.set()
        release.wait(WAIT)

    blocker = threading.Thread(target=pool.run, args=([lambda: None, hog],))
    blocker.start()
    busy.wait(WAIT)  # the pool's only thread is stuck in ``hog``
    me = threading.current_thread().name
    assert pool.run([lambda: 1, lambda: threading.current_thread().name]) == [1, me]
    release.set()
    blocker.join(WAIT)
    assert not blocker.is_alive()


def test_errors_and_context_reach_the_caller(idle):
    var = contextvars.ContextVar("deadline", default=None)
    var.set("mine")
    assert parallel.run([lambda: var.get(), lambda: var.get(), lambda: var.get()]) == ["mine"] * 3

    def boom():
        raise ValueError("second call failed")

    with pytest.raises(ValueError, match="second call failed"):
        parallel.run([lambda: 1, boom])


def _stat(tmp_path, busy, idle_ticks):
    p = tmp_path / "stat"
    p.write_text(f"cpu  {busy} 0 0 {idle_ticks} 0 0 0 0 0 0\ncpu0 0 0 0 0\n")
    return str(p)


def test_busy_neighbours_turn_the_pool_off(tmp_path, monkeypatch):
    """Spare cores = cores - (machine busy time - this process' CPU time) / wall time."""
    monkeypatch.setattr(parallel, "WINDOW", 0.0)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    idle = parallel._Idle(_stat(tmp_path, 0, 0))
    assert idle.get() is None  # one reading: not known yet, so nothing is handed off
    _stat(tmp_path, 10**7, 0)  # others burnt far more than two cores since
    assert idle.get() < parallel.MIN_SPARE
    _stat(tmp_path, 10**7, 10**7)  # others idle since (busy unchanged)
    assert idle.get() == pytest.approx(2.0)
    monkeypatch.setattr(parallel, "_idle", idle)
    assert parallel.worth_it(2) and not parallel.worth_it(1)
    _stat(tmp_path, 2 * 10**7, 10**7)
    assert not parallel.worth_it(2)
    calls = []
    assert parallel.run([lambda: calls.append(threading.current_thread().name)] * 2) == [None, None]
    assert set(calls) == {threading.current_thread().name}  # in turn, on the caller's thread
    idle.path = str(tmp_path / "missing")
    assert idle.get() is None and not parallel.worth_it(2)


@pytest.mark.parametrize("workers", [0, 1])  # one worker per subspace / one worker, S inners
@pytest.mark.parametrize("kind", ["hnsw", "symqg"])
def test_split_single_queries_same_with_and_without_overlap(make_index, monkeypatch, kind, workers):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((800, 48)).astype(np.float32)
    Q = rng.standard_normal((6, 48)).astype(np.float32)
    idx = make_index(dim=48, S=3, workers=workers, inner=InnerParams(kind=kind, hnsw_M=8))
    idx.insert(keys_for(len(X)), X)
    idx.build()
    monkeypatch.setattr(parallel._idle, "get", lambda: -1.0)  # busy: in turn
    seq = [idx.search_ids(q, 10, T=20) for q in Q]
    seen = set()
    real = parallel.Pool.calls

    def spy(self, fns):
        out = real(self, fns)
        seen.add(len(fns))
        return out

    monkeypatch.setattr(parallel.Pool, "calls", spy)
    monkeypatch.setattr(parallel._idle, "get", lambda: float(parallel.cores()))
    monkeypatch.setattr(parallel, "_gain", Pays())
    par = [idx.search_ids(q, 10, T=20) for q in Q]
    for (a, da), (b, db) in zip(seq, par):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(da, db)
    if parallel.cores() >= 2:
        assert seen == {3}  # every search went through the pool with its 3 subspaces
    batch, _ = idx.search_ids(Q, 10, T=20)
    np.testing.assert_array_equal(batch, np.concatenate([p[0] for p in par]))


def test_overlap_only_while_it_pays(monkeypatch):
    """A hand-off that costs more than the calls it overlaps is dropped, and tried again every
    ``EXPLORE`` runs so a change (larger calls, an awake core) is seen."""
    g = parallel._Gain()
    assert g.pays()                                    # nothing known: try
    g.note([30e-6, 30e-6], 100e-6, overlapped=True)    # 60 µs of calls took 100 µs overlapped
    tries = [g.pays() for _ in range(2 * parallel.EXPLORE)]
    assert tries.count(True) == 2                      # only the exploring runs
    for _ in range(50):                                # larger calls: 400 µs saved, hand-off 70 µs
        g.note([400e-6, 400e-6], 0.0, overlapped=False)
    g.note([400e-6, 400e-6], 470e-6, overlapped=True)
    assert g.cost < g.saved and all(g.pays() for _ in range(10))


def test_runs_feed_the_gain_in_both_modes(monkeypatch):
    monkeypatch.setattr(parallel._idle, "get", lambda: float(parallel.cores()))
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    g = parallel._Gain()
    monkeypatch.setattr(parallel, "_gain", g)
    assert parallel.run([lambda: 1, lambda: 2]) == [1, 2]   # explores: overlapped, cost learnt
    assert g.cost is not None and g.saved is not None
    g.cost, g.saved = 1.0, 0.0                              # a hand-off that never pays
    names = []
    assert parallel.run([lambda: names.append(threading.current_thread().name)] * 2) == [None, None]
    assert set(names) == {threading.current_thread().name} and g.saved < 1.0  # in turn, timed
