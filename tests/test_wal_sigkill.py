"""kill -9 while writing: every acknowledged write survives, nothing is half-written.

A child process inserts keys one call at a time and prints each key only after the call
returned (= acknowledged). The parent SIGKILLs it mid-stream, reopens the index and checks.
Vectors are derived from the key number, so the parent knows what every key must hold.
"""
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from sanny.engine import Index

ACKED_TARGET = 150
DIM = 12
GUARD_S = 90          # hang guard for the whole child run (not a speed assertion)

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from sanny.engine import Index, IndexConfig, InnerParams
    root, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def vec(i):
        return np.random.default_rng(i).normal(size=dim).astype(np.float32)

    idx = Index.create(root, IndexConfig(dim=dim, S=3, inner=InnerParams(threads=1)))
    print("ready", flush=True)
    i = 0
    while True:
        keys = [f"k{j}" for j in range(i, i + batch)]
        idx.insert(keys, np.stack([vec(j) for j in range(i, i + batch)]))
        print(" ".join(keys), flush=True)          # acknowledged
        i += batch
        if i % 60 == 0:
            idx.save()                             # checkpoints happen mid-stream too
""")


def vec(i):
    return np.random.default_rng(i).normal(size=DIM).astype(np.float32)


def _reader(stream, q):
    """Whole lines only (a line cut by the kill was never acknowledged), then None at EOF."""
    for line in stream:
        if line.endswith("\n"):
            q.put(line[:-1])
    q.put(None)


@pytest.mark.parametrize("batch", [1, 3])
def test_acknowledged_writes_survive_sigkill(tmp_path, batch):
    root = str(tmp_path / "idx")
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), root, str(batch), str(DIM)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(child.stdout, lines), daemon=True).start()
    acked: list[str] = []
    deadline = time.monotonic() + GUARD_S
    try:
        while len(acked) < ACKED_TARGET:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"writer stalled: {len(acked)} keys acknowledged in {GUARD_S} s")
            if line is None:
                pytest.fail(f"writer exited early ({child.wait()}): {child.stderr.read()[-2000:]}")
            if line != "ready":
                acked.extend(line.split())
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=GUARD_S) == -signal.SIGKILL
        # on a busy machine the child acknowledges more before the kill lands: those count too
        while (line := lines.get(timeout=GUARD_S)) is not None:
            acked.extend(line.split())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

    idx = Index.open(root)
    try:
        n = len(idx)
        # acknowledged keys are all there, with their exact vectors
        assert idx.exists(acked).all()
        np.testing.assert_array_equal(idx.get(acked), np.stack([vec(int(k[1:])) for k in acked]))
        # what is there is a prefix k0..k{n-1}: at most the one in-flight call beyond the acks,
        # and a batch is all-or-nothing
        assert len(acked) <= n <= len(acked) + batch and n % batch == 0
        present = [f"k{i}" for i in range(n)]
        assert idx.exists(present).all() and not idx.exists([f"k{n}"])[0]
        np.testing.assert_array_equal(idx.get(present), np.stack([vec(i) for i in range(n)]))
        # and the replayed index answers queries
        probe = np.stack([vec(i) for i in (0, n // 2, n - 1)])
        keys, _ = idx.search(probe, 1)
        assert keys[:, 0].tolist() == ["k0", f"k{n // 2}", f"k{n - 1}"]
        # still writable after recovery, and that survives too
        idx.insert(["post"], vec(10_000))
    finally:
        idx.close(save=False)
    idx = Index.open(root)
    try:
        np.testing.assert_array_equal(idx.get(["post"])[0], vec(10_000))
        assert len(idx) == n + 1
    finally:
        idx.close()
    assert os.path.exists(root)
