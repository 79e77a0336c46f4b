"""Helpers for the transport tests (tests/test_transport_*.py): `sanny worker` subprocesses
and a seeded dataset. Every process is started on a free loopback port and stopped by PID."""
from __future__ import annotations

import os
import signal

import numpy as np

from sanny.bench.procs import Proc
from sanny.bench.synthetic import clustered
from sanny.engine import Index, IndexConfig

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
