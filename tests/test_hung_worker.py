"""A hung worker (SIGSTOP, a cut link) freezes nothing: a write to it is acknowledged (journaled,
the worker marked down) within the transport's ``timeout`` although its long-call bound is an
hour, and searches meanwhile answer within their failover bound: from a replica where F > 1,
else WorkerUnavailable naming the worker. Then it resumes and is caught up.

The worker here is a ``RemoteWorker`` whose "network" is a method call on a ``WorkerHost``;
``hang()`` makes every call block (as a stopped process does) until its own deadline or
``resume()``. Nothing sleeps: the test waits on the events the fake sets. The last test does the
same with a real ``sanny worker`` process stopped with SIGSTOP."""
from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable
from sanny.workers.host import StaleState, WorkerHost
from sanny.workers.remote import Pending, RemoteWorker, Stale
from sanny.workers.transports import factory_from_config

from transport_helpers import WorkerProcess, dataset

EXACT = InnerParams(kind="exact")
HOUR = 3600.0
BOUND = 120.0  # liveness guard only: the old code waited the whole hour here


class HangableWorker(RemoteWorker):
    transport = "hangable"

    def __init__(self, spec, site):
        super().__init__(spec, f"w{site.rank}.{site.replica}", rank=site.rank, log=site.log,
                         timeout=0.5, slow_timeout=HOUR, connect_grace=0.25)
        self.host = WorkerHost(site.workdir + "-data")
        self._resume = threading.Event()
        self._resume.set()
        self.stuck = threading.Event()  # set when a call blocks on the hung host
        self._waiters: set[threading.Event] = set()

    def hang(self):
        self._resume.clear()

    def resume(self):
        self._resume.set()
        for ev in list(self._waiters):
            ev.set()

    def _invoke(self, method, timeout, epoch, kw, wake=None):
        if not self._resume.is_set():  # hung: no answer until resumed, cancelled or timed out
            wake = wake or threading.Event()
            self._waiters.add(wake)
            self.stuck.set()
            wake.wait(timeout)
            self._waiters.discard(wake)
            if not self._resume.is_set():
                raise TimeoutError(f"{method}: no answer (cancelled or past {timeout} s)")
        try:
            return self.host.call(method, epoch, **kw)
        except StaleState as e:
            raise Stale(str(e)) from None

    def _begin(self, method, timeout, epoch, kw):
        return _Thread(lambda wake: self._invoke(method, timeout, epoch, kw, wake))

    def close(self):
        self.resume()
        self.host.close()


class _Thread(Pending):
    def __init__(self, fn):
        self._cancel, self._out, self._err = threading.Event(), None, None
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self._out = fn(self._cancel)
        except BaseException as e:  # noqa: BLE001 - handed to result()
            self._err = e

    def done(self, timeout):
        self._t.join(timeout)
        return not self._t.is_alive()

    def result(self):
        if self._err is not None:
            raise self._err
        return self._out

    def cancel(self):
        self._cancel.set()


def run_bounded(fn):
    """``fn()`` in a thread; its result or exception, or a failure if it is still running after
    BOUND seconds (the old coordinator held its state lock for the hung worker's hour)."""
    box = {}

    def go():
        try:
            box["out"] = fn()
        except Exception as e:  # noqa: BLE001 - returned to the test
            box["err"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(BOUND)
    assert not t.is_alive(), "frozen behind a hung worker"
    return box


def make(tmp_path, name, F=1, factory=HangableWorker):
    x, q, keys = dataset(n=400)
    if F > 1:
        factory = _with_grid(factory, F)
    ix = Index.create(str(tmp_path / name), IndexConfig(dim=32, S=4, workers=2, inner=EXACT), worker_factory=factory)
    ix.insert(keys[:300], x[:300])
    return ix, x, q, keys


def _with_grid(cls, F):
    def factory(spec, site):
        return cls(spec, site)
    factory.replicas, factory.shards = F, None
    factory.cell_options = {"failover_after": 0.5, "probe_every": 0.05}
    return factory


def test_write_to_a_hung_worker_is_acknowledged_and_searches_fail_fast(tmp_path):
    ix, x, q, keys = make(tmp_path, "f1")
    embedded = Index.create(str(tmp_path / "embedded"), IndexConfig(dim=32, S=4, workers=2, inner=EXACT))
    embedded.insert(keys[:300], x[:300])
    try:
        hung = ix.workers[1]
        hung.hang()
        write = threading.Thread(target=lambda: ix.upsert(keys[300:320], x[300:320]), daemon=True)
        write.start()
        assert hung.stuck.wait(BOUND)  # the write is waiting on the hung worker now
        got = run_bounded(lambda: ix.search(q[:3], 5))
        assert isinstance(got.get("err"), WorkerUnavailable) and hung.name in str(got["err"])
        write.join(BOUND)
        assert not write.is_alive(), "the write waited for the hung worker's long-call bound"
        assert hung._suspect  # marked down: caught up before it serves again
        assert ix.journal.since(1, 0)  # the write is journaled for its catch-up
        embedded.upsert(keys[300:320], x[300:320])

        hung.resume()
        ka, da = ix.search(q, 10)
        kb, db = embedded.search(q, 10)
        assert (ka == kb).all() and np.allclose(da, db, atol=1e-5)
    finally:
        ix.close(save=False)
        embedded.close(save=False)


def test_searches_fail_over_to_a_replica_while_a_write_waits_on_a_hung_one(tmp_path):
    ix, x, q, keys = make(tmp_path, "f2", F=2)
    try:
        cell = ix.workers[0].cells[0]
        hung = cell.replicas[1]
        hung.hang()
        write = threading.Thread(target=lambda: ix.upsert(keys[300:310], x[300:310]), daemon=True)
        write.start()
        assert hung.stuck.wait(BOUND)
        for _ in range(4):  # round-robin reaches the hung replica too: it fails over
            got = run_bounded(lambda: ix.search(q[:3], 5))
            assert "out" in got and (got["out"][0] != None).all()  # noqa: E711 - full answers
        write.join(BOUND)
        assert not write.is_alive()
        assert cell.up == [True, False]  # the write marked it down

        hung.resume()
        assert cell.wait_state("ready", BOUND)  # the prober caught it up
        assert set(ix.search(x[300:301], 1)[0][0]) == {keys[300]}
    finally:
        ix.close(save=False)


def test_busy_worker_is_waited_for_not_marked_down(tmp_path):
    """A long call on a live host (it answers status calls) is not given up."""
    ix, x, q, keys = make(tmp_path, "busy")
    try:
        w = ix.workers[0]
        gate, entered = threading.Event(), threading.Event()
        real = w.host._insert

        def slow_insert(**kw):
            entered.set()
            gate.wait(BOUND)  # holds the host's lock, as a big graph build does
            return real(**kw)

        w.host._insert = slow_insert
        write = threading.Thread(target=lambda: ix.upsert(keys[300:310], x[300:310]), daemon=True)
        write.start()
        assert entered.wait(BOUND)
        pings = w.host.call("stats")  # answers while the insert holds the lock
        assert pings["stats"].get("busy") is True
        st = w.stats()  # ... and so does the client's status call
        assert st["busy"] is True
        gate.set()
        write.join(BOUND)
        assert not write.is_alive() and not w._suspect
    finally:
        ix.close(save=False)


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_sigstopped_grpc_worker(tmp_path):
    procs = [WorkerProcess(tmp_path / f"w{i}") for i in range(2)]
    factory = factory_from_config({"workers": {"transport": "grpc", "addresses": [p.address for p in procs],
                                               "timeout": 1.0, "slow_timeout": HOUR, "connect_grace": 0.5}})
    x, q, keys = dataset(n=400)
    ix = Index.create(str(tmp_path / "idx"), IndexConfig(dim=32, S=4, workers=2, inner=EXACT), worker_factory=factory)
    stopped = False
    try:
        ix.insert(keys[:300], x[:300])
        os.kill(procs[1].proc.pid, signal.SIGSTOP)
        stopped = True
        got = run_bounded(lambda: ix.upsert(keys[300:310], x[300:310]))
        assert "err" not in got  # acknowledged: the WAL holds it, the worker catches up later
        got = run_bounded(lambda: ix.search(q[:2], 5))
        assert isinstance(got.get("err"), WorkerUnavailable) and procs[1].address in str(got["err"])
        os.kill(procs[1].proc.pid, signal.SIGCONT)
        stopped = False
        assert set(ix.search(x[305:306], 1)[0][0]) == {keys[305]}
    finally:
        if stopped:
            os.kill(procs[1].proc.pid, signal.SIGCONT)
        ix.close(save=False)
        for p in procs:
            p.stop()
