"""Fixtures and helpers for the gRPC service tests (imported by tests/test_service_*.py).

Every server listens on a free loopback port (127.0.0.1:0) and is stopped at teardown; every
call carries a deadline, so a broken server fails a test instead of hanging it.
"""
from __future__ import annotations

import contextlib
import threading
import time

import grpc
import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams, WorkerUnavailable
from sanny.engine.api.client import Client
from sanny.engine.api.server import run_server
from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc
from sanny.workers import LocalWorker, Worker

DIM, S = 8, 2
CALL_TIMEOUT = 10.0
EXACT = InnerParams(kind="exact")


def data(n: int = 200, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def keys(n: int, prefix: str = "k") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def matrix(x) -> pb.Matrix:
    x = np.asarray(x, np.float32)
    return pb.Matrix(rows=x.shape[0], dim=x.shape[1], values=x.ravel().tolist())


HOLD_LIMIT = 60.0  # a held search gives up after this long (a broken test must not hang)


class ProxyWorker(Worker):
    """A remote-looking worker (not a LocalWorker) around a LocalWorker, with fault injection:
    ``delay`` seconds per search, ``down`` makes every call raise WorkerUnavailable, ``hold``
    (an Event) makes every search wait until it is set; ``entered`` is set when a search starts."""

    def __init__(self, spec, site):
        self.inner = LocalWorker(spec, site.workdir)
        self.spec = spec
        self.delay = 0.0
        self.down = False
        self.searches = 0
        self.hold: threading.Event | None = None
        self.entered = threading.Event()

    def _check(self):
        if self.down:
            raise WorkerUnavailable(f"worker for subspaces {self.spec.subspaces} is down")

    def insert(self, ids, slices):
        self._check()
        self.inner.insert(ids, slices)

    def remove(self, ids):
        self._check()
        self.inner.remove(ids)

    def search(self, queries, T, params):
        self._check()
        self.searches += 1
        self.entered.set()
        if self.hold is not None and not self.hold.wait(HOLD_LIMIT):
            raise RuntimeError(f"test never released the held search ({HOLD_LIMIT} s)")
        time.sleep(self.delay)
        return self.inner.search(queries, T, params)

    def partial_distances(self, queries, candidate_ids):
        self._check()
        return self.inner.partial_distances(queries, candidate_ids)

    def build(self, optimize=False):
        self.inner.build(optimize)

    def save(self, path):
        self.inner.save(path)

    def load(self, path):
        self.inner.load(path)

    def stats(self):
        self._check()
        return {**self.inner.stats(), "transport": "proxy"}

    def close(self):
        self.inner.close()


def make_index(path, worker_factory=None, **cfg) -> Index:
    cfg.setdefault("dim", DIM)
    cfg.setdefault("S", S)
    cfg.setdefault("inner", EXACT)
    return Index.create(str(path), IndexConfig(**cfg), worker_factory=worker_factory)


@pytest.fixture
def proxied(tmp_path):
    """An index of 50 rows on :class:`ProxyWorker` workers (hold / delay / down per test),
    closed without saving after the test."""
    ix = make_index(tmp_path / "idx", worker_factory=ProxyWorker)
    ix.insert(keys(50), data(50))
    yield ix
    ix.close(save=False)


@contextlib.contextmanager
def served(index, **kw):
    """``run_server`` on a free loopback port with a short grace; yields the port."""
    kw.setdefault("grace", 1.0)
    with run_server(index, "127.0.0.1:0", **kw) as (_server, port):
        yield port


@pytest.fixture
def index(tmp_path):
    """An empty exact index (dim 8, S 2, l2), closed at teardown."""
    ix = make_index(tmp_path / "idx")
    yield ix
    ix.close(save=False)


@pytest.fixture
def port(index):
    with served(index) as p:
        yield p


@pytest.fixture
def stub(port):
    """A raw ``sanny.v1.Sanny`` stub on the fixture server."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.SannyStub(channel)


@pytest.fixture
def client(port):
    with Client(f"127.0.0.1:{port}", timeout=CALL_TIMEOUT) as c:
        yield c


def rpc_error(call, request, **kw) -> grpc.RpcError:
    """The error ``call(request)`` fails with (the test fails if it succeeds)."""
    kw.setdefault("timeout", CALL_TIMEOUT)
    with pytest.raises(grpc.RpcError) as err:
        call(request, **kw)
    return err.value


def in_thread(fn, *args, **kw):
    """Start ``fn`` in a thread; ``join()`` returns ``(result, exception)``."""
    out = {}

    def run():
        try:
            out["result"] = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=CALL_TIMEOUT):
        t.join(timeout)
        assert not t.is_alive(), "call did not finish"
        return out.get("result"), out.get("error")
    return join
