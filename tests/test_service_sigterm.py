"""`sanny serve` in a subprocess: SIGTERM shuts it down cleanly (exit 0) with the index saved
(the WAL is folded into a snapshot), and reopening finds every acknowledged write."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import numpy as np

from sanny.engine import Index, snapshot
from sanny.engine.api.client import Client

from service_fixtures import data, keys

START_TIMEOUT = 30


def start(args) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "sanny.engine", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    m = re.search(r"on 127\.0\.0\.1:(\d+)", line[0] if line else "")
    if not m:
        proc.kill()
        raise AssertionError(f"server did not start: {line} {proc.communicate(timeout=10)}")
    return proc, int(m.group(1))


def test_sigterm_saves_the_index(tmp_path):
    root = str(tmp_path / "idx")
    proc, port = start(["--index", root, "--create", "--dim", "8", "--S", "2", "--inner", "exact",
                        "--listen", "127.0.0.1:0", "--grace", "2"])
    try:
        x = data(60)
        with Client(f"127.0.0.1:{port}", timeout=10) as c:
            assert c.insert(keys(60), x) == 60
            assert c.remove(["k5"]) == 1
            seq = c.info()["wal_seq"]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert snapshot.current(root)[1] == seq           # the snapshot covers every write
    assert os.path.getsize(os.path.join(root, "wal.log")) == 0
    with Index.open(root) as ix:
        assert len(ix) == 59 and not ix.exists(["k5"])[0]
        np.testing.assert_array_equal(ix.get(["k7"]), x[7:8])
