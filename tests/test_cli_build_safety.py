"""`sanny build` never destroys a directory another process holds, and an interrupted build is
marked incomplete (BUILDING) so that nothing opens it as if it were whole."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np

from cli_helpers import SANNY, one_line_error, run
from sanny.engine import Index, IndexConfig
from sanny.engine.snapshot import BUILDING

HOLD = """
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def test_overwrite_refused_while_another_process_holds_the_lock(tmp_path):
    x = np.random.default_rng(0).random((200, 8), np.float32)
    np.save(tmp_path / "x.npy", x)
    ix_dir = tmp_path / "ix"
    with Index.create(str(ix_dir), IndexConfig(dim=8, S=2)) as ix:
        ix.insert(["a"], x[:1])
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ix_dir / "LOCK")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(run("build", tmp_path / "x.npy", "--index", ix_dir, "--overwrite"),
                       "open in another process")
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with Index.open(str(ix_dir)) as ix:  # untouched
        assert len(ix) == 1
    p = run("build", tmp_path / "x.npy", "--index", ix_dir, "--overwrite", "--no-tune")
    assert p.returncode == 0, p.stderr
    with Index.open(str(ix_dir)) as ix:
        assert len(ix) == 200


def test_ctrl_c_marks_the_build_incomplete(tmp_path):
    # one vector per insert (a WAL fsync each): the insert phase lasts long enough to be
    # interrupted once its progress bar appears
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((100_000, 8), np.float32))
    ix_dir = tmp_path / "ix"
    p = subprocess.Popen([*SANNY, "build", str(tmp_path / "x.npy"), "--index", str(ix_dir), "--batch", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"insert:" not in seen:
        chunk = p.stderr.read1(4096)
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    p.send_signal(signal.SIGINT)
    rest = p.stderr.read()
    assert p.wait(timeout=120) == 130
    last = (seen + rest).decode(errors="replace").replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("sanny build: interrupted") and "incomplete" in last
    assert "Traceback" not in (seen + rest).decode(errors="replace")
    assert os.path.exists(ix_dir / BUILDING)
    one_line_error(run("info", ix_dir), "incomplete", "--overwrite")
    one_line_error(run("search", tmp_path / "x.npy", "--index", ix_dir, "--dataset", "x"), "incomplete")
