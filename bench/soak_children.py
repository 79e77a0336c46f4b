"""The child processes of ``sanny soak`` (``bench/soak.py``), each killed or crashing on purpose:

    python -m sanny.bench.soak_children writer ROOT START
        two threads insert one key at a time into the index at ROOT and print each key's
        number only after its write returned (acknowledged), until SIGKILLed;
    python -m sanny.bench.soak_children checkpointed ROOT N EVERY
        creates an index at ROOT (128-d, S=4), checkpoints every EVERY records, inserts N keys
        from 8 threads, prints the number of checkpoints and exits without closing (a crash).
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

DIM = 8  # the writer's vectors (soak.vec)


def vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).normal(size=(1, DIM)).astype(np.float32)


def _threads(target, n: int) -> None:
    ts = [threading.Thread(target=target, args=(t,)) for t in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def writer(root: str, start: int) -> None:
    from sanny.engine import Index

    ix, out = Index.open(root), threading.Lock()

    def write(t):
        for i in range(start + t, start + 200000, 2):
            ix.insert([f"k{i}"], vec(i))
            with out:
                sys.stdout.write(f"{i}\n")
                sys.stdout.flush()

    _threads(write, 2)


def checkpointed(root: str, n: int, every: int) -> None:
    from sanny.engine import Index, IndexConfig

    ix = Index.create(root, IndexConfig(dim=128, S=4))
    auto = ix.start_checkpoints(records=every)
    x = np.random.default_rng(0).standard_normal((n, 128)).astype(np.float32)

    def write(t):
        for i in range(t, n, 8):
            ix.insert([f"k{i}"], x[i:i + 1])

    _threads(write, 8)
    sys.stdout.write(f"{auto.count}\n")
    sys.stdout.flush()
    os._exit(0)  # a crash: no close, no final checkpoint


def command(name: str, *args) -> list[str]:
    """The command line that runs child ``name`` with ``args``."""
    return [sys.executable, "-m", __spec__.name, name, *map(str, args)]


if __name__ == "__main__":
    kind, root, *rest = sys.argv[1:]
    {"writer": writer, "checkpointed": checkpointed}[kind](root, *map(int, rest))
