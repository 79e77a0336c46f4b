"""Helpers for the transport tests (tests/test_transport_*.py): `sanny worker` subprocesses
and a seeded dataset. Every process is started on a free loopback port and stopped by PID."""
from __future__ import annotations

import contextlib
import os
import signal

import numpy as np

from sanny.bench.procs import Proc
from sanny.bench.synthetic import clustered
from sanny.engine import Index, IndexConfig, InnerParams

START_TIMEOUT = 60.0  # a busy 2-core machine


class WorkerProcess:
    """``python -m sanny.engine worker`` on 127.0.0.1 (``bench.procs.Proc``: started in its own
    session, ready once its log shows the port); ``port`` 0 = pick a free one (kept for restarts)."""

    def __init__(self, data_dir: str, port: int = 0):
        self.data_dir, self.port = str(data_dir), port
        self.proc: Proc | None = None
        self.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = os.path.join(os.path.dirname(self.data_dir), os.path.basename(self.data_dir) + ".log")
        self.proc = Proc("worker", ["worker", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
                                    "--grace", "1"], log, r"listening on 127\.0\.0\.1:(\d+)")
        try:
            self.port = self.proc.wait_ready(START_TIMEOUT).port
        except RuntimeError:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=10)


def dataset(n: int = 2000, dim: int = 32, m: int = 20, seed: int = 0):
    x = clustered(n, dim, seed, n_clusters=16, center_seed=seed + 100)
    q = clustered(m, dim, seed + 1, n_clusters=16, center_seed=seed + 100)
    return x, q, [f"k{i}" for i in range(n)]


def build(root, config: IndexConfig, x, keys, factory=None, batches: int = 4) -> Index:
    """Same write sequence for every transport: batched inserts, a checkpoint half-way, a removal."""
    ix = Index.create(str(root), config, worker_factory=factory)
    edges = np.linspace(0, len(x), batches + 1).astype(int)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        ix.insert(keys[a:b], x[a:b])
        if i == batches // 2 - 1:
            ix.save()
    ix.remove(keys[:5])
    return ix


@contextlib.contextmanager
def matching_embedded(tmp_path, factory, keep_vectors: bool):
    """The same index (4 subspaces on 2 workers, exact inner) built embedded and through
    ``factory``; checks that the remote one answers the test queries with the embedded keys and
    distances, then yields ``(remote, q, want_keys)``. Both are closed after (without saving)."""
    x, q, keys = dataset()
    exact = InnerParams(kind="exact")
    local = build(tmp_path / "local", IndexConfig(dim=32, S=4, workers=2, inner=exact), x, keys)
    remote = None
    try:
        cfg = IndexConfig(dim=32, S=4, workers=2, inner=exact, keep_vectors=keep_vectors)
        remote = build(tmp_path / "remote", cfg, x, keys, factory)
        want_k, want_d = local.search(q, 10)
        got_k, got_d = remote.search(q, 10)
        assert (got_k == want_k).all()
        np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
        yield remote, q, want_k
    finally:
        local.close(save=False)
        if remote is not None:
            remote.close(save=False)
