"""Helpers for the transport tests (tests/test_transport_*.py): `sanny worker` subprocesses
and a seeded dataset. Every process is started on a free loopback port and stopped by PID."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np

from sanny.engine import Index, IndexConfig

START_TIMEOUT = 20.0


class WorkerProcess:
    """``python -m sanny.engine worker`` on 127.0.0.1; ``port`` 0 = pick a free one (kept for restarts)."""

    def __init__(self, data_dir: str, port: int = 0):
        self.data_dir, self.port = str(data_dir), port
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = os.path.join(os.path.dirname(self.data_dir), os.path.basename(self.data_dir) + ".log")
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sanny.engine", "worker", "--listen", f"127.0.0.1:{self.port}",
                 "--data-dir", self.data_dir, "--grace", "1"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            with open(log) as f:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        with open(log) as f:
            raise RuntimeError(f"worker did not start: {f.read()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def dataset(n: int = 2000, dim: int = 32, m: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(16, dim)) * 3
    x = (centers[rng.integers(0, 16, n)] + rng.normal(size=(n, dim))).astype(np.float32)
    q = (centers[rng.integers(0, 16, m)] + rng.normal(size=(m, dim))).astype(np.float32)
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
