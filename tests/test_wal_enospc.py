"""Disk full on a real (tiny tmpfs) disk, then kill -9: nothing acknowledged is lost, nothing
that failed comes back.

A child process writes until the disk is full, the parent frees space, the child writes more and
is SIGKILLed; the parent reopens and compares with what the child reported as acknowledged.
Needs root to mount a tmpfs; skipped otherwise.
"""
import os
import queue
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from sanny.engine import Index
from sanny.engine.wal import WriteAheadLog
from sanny.engine.wal_format import scan

GUARD_S = 60  # hang guard for the child (not a speed assertion)


def _mount(path, size):
    os.makedirs(path)
    try:
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                             capture_output=True, text=True, timeout=GUARD_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test: {e}")
    if out.returncode:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test (needs root): {out.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path, request):
    path = str(tmp_path / "disk")
    _mount(path, getattr(request, "param", "256k"))
    yield path
    subprocess.run(["umount", "-l", path], check=False, timeout=GUARD_S)


class Child:
    """A Python child whose stdout lines are read by a thread (so reads never block forever)."""

    def __init__(self, code, *args):
        self.p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def lines_until(self, last):
        """Every line up to and including ``last``."""
        out = []
        while True:
            try:
                line = self.q.get(timeout=GUARD_S)
            except queue.Empty:
                pytest.fail(f"child stalled after {out[-3:]}")
            if line is None:
                pytest.fail(f"child exited ({self.p.wait()}): {self.p.stderr.read()[-3000:]}")
            out.append(line)
            if line == last:
                return out

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        assert self.p.wait(timeout=GUARD_S) == -signal.SIGKILL

    def cleanup(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for s in (self.p.stdin, self.p.stdout, self.p.stderr):
            s.close()


WAL_CHILD = """
    import sys
    import numpy as np
    from sanny.workers.errors import StorageFull
    from sanny.engine.wal import PUT, WriteAheadLog
    wal, seq, fails = WriteAheadLog(sys.argv[1]), 0, 0

    def put():
        global seq, fails
        seq += 1
        x = np.random.default_rng(seq).normal(size=(48, 32)).astype(np.float32)  # ~6.5 KB
        try:
            wal.append(seq, PUT, [f"k{seq}-{j}" for j in range(48)], x)
            print("ack", seq, flush=True)
        except StorageFull as e:
            fails += 1
            print("fail", seq, flush=True)

    while fails < 2 and seq < 1000:   # fill the disk, then try once more
        put()
    print("full", flush=True)
    sys.stdin.readline()              # the parent frees space
    for _ in range(5):
        put()
    print("done", flush=True)
    sys.stdin.readline()              # killed here
"""


def _acks(lines):
    return [int(l.split()[1]) for l in lines if l.startswith("ack")], \
           [int(l.split()[1]) for l in lines if l.startswith("fail")]


def test_wal_disk_full_then_sigkill(small_disk):
    ballast = os.path.join(small_disk, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\0" * 96 * 1024)
    path = os.path.join(small_disk, "wal.log")
    child = Child(WAL_CHILD, path)
    try:
        acked, failed = _acks(child.lines_until("full"))
        assert len(failed) == 2 and acked, (acked, failed)
        data = open(path, "rb").read()           # rolled back: the file ends on a record
        sc = scan(data)
        assert sc.good == len(data) and len(sc.records) == len(acked)
        os.remove(ballast)
        child.send("go")
        more, failed2 = _acks(child.lines_until("done"))
        assert len(more) == 5 and not failed2
        child.kill9()
    finally:
        child.cleanup()
    recs = list(WriteAheadLog.replay(path))
    assert [r[0] for r in recs] == acked + more   # every acknowledged one, no failed one
    last = recs[-1]
    np.testing.assert_array_equal(last[3], np.random.default_rng(last[0]).normal(size=(48, 32)).astype(np.float32))


INDEX_CHILD = """
    import os, sys
    import numpy as np
    from sanny.engine import Index, IndexConfig, InnerParams
    from sanny.workers.errors import StorageFull
    root, ballast = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 16)).astype(np.float32)
    first = [f"first-{i:04d}-" + "x" * 100 for i in range(50)]   # long keys: a remove > one page
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=InnerParams(kind="exact")))
    idx.insert(first, X[:50])
    print("acked first", flush=True)
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)   # fill the disk
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:
        pass
    os.close(fd)
    try:
        idx.insert([f"big-{i}" for i in range(100)], X[50:150])
        print("acked big", flush=True)
    except StorageFull:
        print("failed big", flush=True)
    try:
        idx.remove(first)
        print("acked remove", flush=True)
    except StorageFull:
        print("failed remove", flush=True)
    ok = len(idx) == 50 and idx.exists(first).all() and not idx.exists(["big-0", "big-99"]).any()
    print("memory", "ok" if ok else "WRONG", flush=True)
    print("full", flush=True)
    sys.stdin.readline()
    for b in range(4):
        idx.insert([f"late-{b}-{i}" for i in range(5)], X[150 + 5 * b: 155 + 5 * b])
    print("acked late", flush=True)
    print("done", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.parametrize("small_disk", ["2m"], indirect=True)
def test_index_insert_on_full_disk_then_sigkill(small_disk):
    root, ballast = os.path.join(small_disk, "idx"), os.path.join(small_disk, "ballast")
    child = Child(INDEX_CHILD, root, ballast)
    try:
        lines = child.lines_until("full")
        assert lines == ["acked first", "failed big", "failed remove", "memory ok", "full"], lines
        os.remove(ballast)
        child.send("go")
        assert child.lines_until("done") == ["acked late", "done"]
        child.kill9()
    finally:
        child.cleanup()
    X = np.random.default_rng(5).normal(size=(300, 16)).astype(np.float32)
    first = [f"first-{i:04d}-" + "x" * 100 for i in range(50)]
    late = [f"late-{b}-{i}" for b in range(4) for i in range(5)]
    idx = Index.open(root)
    try:
        assert len(idx) == 70                                  # exactly the acknowledged keys
        assert idx.exists(first).all() and idx.exists(late).all()   # the failed remove undone
        assert not idx.exists([f"big-{i}" for i in range(100)]).any()
        np.testing.assert_array_equal(idx.get(late), X[150:170])
        np.testing.assert_array_equal(idx.get(first[:3]), X[:3])
    finally:
        idx.close(save=False)
    shutil.rmtree(root)
