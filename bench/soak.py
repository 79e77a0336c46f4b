"""Reliability run (``sanny soak``): faults are injected, then the survivors are checked.

Modelled on crasher + checker suites: a child process writes and prints each key only after the
write returned (acknowledged); it is SIGKILLed at a point chosen by the parent from what it has
read (no sleeps); the index is reopened and every acknowledged key must hold its vector. Writes
answered with an error must not exist afterwards (a *phantom*). Bad inputs (oversized requests,
malformed bytes, WAL byte flips) must get a clear error, never a crash. Each check returns a
:class:`Row`; :func:`run` collects them into one table.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import grpc
import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine.wal import repair
from sanny.workers.errors import IndexCorrupt, StorageFull, WriteFailed

from .procs import status_bytes

DIM = 8
CHILD = """
import sys, threading, numpy as np
from sanny.engine import Index
ix = Index.open(sys.argv[1]); start = int(sys.argv[2]); out = threading.Lock()
def vec(i): return np.random.default_rng(i).normal(size=(1, 8)).astype(np.float32)
def writer(t):
    for i in range(start + t, start + 200000, 2):
        ix.insert([f"k{i}"], vec(i))
        with out:
            sys.stdout.write(f"{i}\\n"); sys.stdout.flush()
ts = [threading.Thread(target=writer, args=(t,)) for t in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
"""


def vec(i: int) -> np.ndarray:
    return np.random.default_rng(i).normal(size=(1, DIM)).astype(np.float32)


@dataclass
class Row:
    fault: str
    tried: int = 0
    survived: int = 0
    lost: int = 0        # acknowledged writes missing or wrong afterwards
    phantoms: int = 0    # writes answered with an error that exist afterwards
    bad_tried: int = 0   # bad inputs sent
    bad_handled: int = 0  # ... answered with a clear error (not INTERNAL, no crash)
    note: str = ""
    extra: dict = field(default_factory=dict)


def _config() -> IndexConfig:
    return IndexConfig(dim=DIM, S=2, inner=InnerParams(kind="exact"))


def _missing(root: str, acked) -> int:
    """Acknowledged keys absent or holding another vector after reopening ``root``."""
    with Index.open(root) as ix:
        keys = [f"k{i}" for i in acked]
        present = ix.exists(keys) if keys else np.zeros(0, bool)
        lost = int((~present).sum())
        ok = [i for i, p in zip(acked, present) if p]
        if ok:
            got = ix.get([f"k{i}" for i in ok])
            lost += int(sum(not np.allclose(g, vec(i)[0]) for g, i in zip(got, ok)))
    return lost


def crash_loop(work: str, rounds: int, seed: int = 0) -> Row:
    """SIGKILL a writing coordinator (two writer threads: group commit + ordered apply) ``rounds``
    times at a point drawn from the acknowledged count; reopen and check after each."""
    rng = np.random.default_rng(seed)
    root = os.path.join(work, "crash")
    Index.create(root, _config()).close()
    row, acked, start = Row(f"coordinator SIGKILL x{rounds}"), [], 0
    for _ in range(rounds):
        want = int(rng.integers(5, 60))
        p = subprocess.Popen([sys.executable, "-c", CHILD, root, str(start)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        got = []
        for line in p.stdout:  # bounded: the child writes at most 200,000 keys
            got.append(int(line))
            if len(got) >= want:
                break
        p.kill()
        p.wait()
        p.stdout.close()
        acked += got
        start = max(got, default=start) + 4  # past anything in flight
        lost = _missing(root, acked)
        row.tried += 1
        row.survived += lost == 0 and len(got) > 0
        row.lost += lost
    row.note = f"{len(acked)} acknowledged keys checked"
    return row


@contextlib.contextmanager
def _tmpfs(size: str):
    mnt = tempfile.mkdtemp(prefix="sanny-soak-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt], capture_output=True)
    try:
        yield mnt if r.returncode == 0 else None
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", mnt], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


def disk_full(work: str) -> Row:
    """Fill a small tmpfs, write into ENOSPC (rolled back, reported), free space, write more,
    crash (no save), reopen: every acknowledged key there, none of the failed ones."""
    row = Row("disk full (ENOSPC, tmpfs)")
    with _tmpfs("2m") as mnt:
        if mnt is None:
            row.note = "skipped: cannot mount a tmpfs (needs root)"
            return row
        root = os.path.join(mnt, "idx")
        ix = Index.create(root, _config())
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for _ in range(4096):  # bounded: 4096 x 1 KiB > the tmpfs
                os.write(fd, b"\0" * 1024)
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, os.path.getsize(filler) - 16 * 1024))
        acked, failed = [], []
        for i in range(20000):
            try:
                ix.insert([f"k{i}"], vec(i))
                acked.append(i)
            except (StorageFull, WriteFailed):
                failed.append(i)
                if len(failed) == 3:
                    os.truncate(filler, max(0, os.path.getsize(filler) - 256 * 1024))
            if len(failed) >= 3 and len(acked) >= 20 and acked[-1] > failed[-1] + 20:
                break
        ix.wal.close()
        ix._release()  # a crash: no checkpoint
        row.tried = len(failed)
        row.lost = _missing(root, acked)
        with Index.open(root) as again:
            row.phantoms = int(again.exists([f"k{i}" for i in failed]).sum()) if failed else 0
        row.survived = row.tried if row.lost == 0 and row.phantoms == 0 else 0
        row.note = f"{len(acked)} acknowledged, {len(failed)} refused with StorageFull"
    return row


def wal_flips(work: str, trials: int, seed: int = 0) -> Row:
    """Flip one byte of a 30-record WAL: open must refuse (IndexCorrupt naming the offset) or lose
    at most the last record (a torn tail); after ``repair`` every other record is back."""
    rng = np.random.default_rng(seed)
    base = os.path.join(work, "flip-base")
    ix = Index.create(base, _config())
    for i in range(30):
        ix.insert([f"k{i}"], vec(i))
    ix.wal.close()
    ix._release()
    row = Row(f"WAL byte flips x{trials}")
    size = os.path.getsize(os.path.join(base, "wal.log"))
    for t in range(trials):
        root = os.path.join(work, f"flip-{t}")
        shutil.copytree(base, root)
        path = os.path.join(root, "wal.log")
        off = int(rng.integers(0, size))
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ (1 << int(rng.integers(0, 8)))]))
        row.bad_tried += 1
        try:
            Index.open(root).close(save=False)
        except IndexCorrupt:
            repair(root)
        lost = _missing(root, list(range(30)))
        row.bad_handled += lost <= 1
        row.tried += 1
        row.survived += lost <= 1
        row.extra.setdefault("records lost to the flipped one", []).append(lost)
        shutil.rmtree(root)
    return row


def _oversized(stub, pb) -> list[tuple[str, object, object]]:
    m = lambda rows, dim=DIM: pb.Matrix(rows=rows, dim=dim, values=np.zeros(rows * dim, np.float32).tolist())  # noqa: E731
    return [("512 queries x candidates=100000", stub.Search, pb.SearchRequest(queries=m(512), k=10, candidates=100_000)),
            ("20000 queries x k=10000", stub.Search, pb.SearchRequest(queries=m(20_000), k=10_000)),
            ("10 MB key", stub.Insert, pb.InsertRequest(keys=["x" * (10 << 20)], vectors=m(1))),
            ("200000 keys", stub.Exists, pb.ExistsRequest(keys=[f"k{i}" for i in range(200_000)])),
            ("GetVector 150000 keys", stub.GetVector, pb.GetVectorRequest(keys=[f"k{i}" for i in range(150_000)]))]


def bad_requests(work: str, malformed: int, seed: int = 0) -> tuple[Row, Row]:
    """Oversized requests (rejected from their shape: code, latency and RSS rise recorded) and
    malformed protobuf bytes (INVALID_ARGUMENT, never INTERNAL) against a served index."""
    from sanny.engine.api.server import run_server
    from sanny.v1 import sanny_pb2 as pb
    from sanny.v1 import sanny_pb2_grpc as pb_grpc

    ix = Index.create(os.path.join(work, "served"), _config())
    ix.insert([f"k{i}" for i in range(200)], np.concatenate([vec(i) for i in range(200)]))
    over, bad = Row("oversized requests"), Row("malformed protobuf bytes")
    rng = np.random.default_rng(seed)
    try:
        with run_server(ix, vald=False) as (_, port), grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.SannyStub(ch)
            worst_ms, rss0 = 0.0, status_bytes("VmRSS") or 0
            for _name, call, req in _oversized(stub, pb):
                over.bad_tried += 1
                t = time.perf_counter()
                try:
                    call(req, timeout=60)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                worst_ms = max(worst_ms, (time.perf_counter() - t) * 1000)
                over.bad_handled += code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
            over.extra = {"slowest rejection ms (client-measured, incl. encoding)": round(worst_ms, 1),
                          "RSS rise MB": round(((status_bytes("VmRSS") or 0) - rss0) / 2**20, 1)}
            methods = ["Search", "Insert", "Remove", "Exists", "GetVector", "SearchByKey", "Upsert"]
            for i in range(malformed):
                data = rng.integers(0, 256, size=int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
                call = ch.unary_unary(f"/sanny.v1.Sanny/{methods[i % len(methods)]}",
                                      request_serializer=lambda b: b, response_deserializer=lambda b: b)
                bad.bad_tried += 1
                try:
                    call(data, timeout=30)
                    code = grpc.StatusCode.OK  # bytes that happen to parse as a valid request
                except grpc.RpcError as e:
                    code = e.code()
                bad.bad_handled += code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
            alive = stub.IndexInfo(pb.IndexInfoRequest(), timeout=30).count == 200
            for r in (over, bad):
                r.tried, r.survived = 1, int(alive)
    finally:
        ix.close(save=False)
    return over, bad


def mixed_load(work: str, clients: int, seconds: float) -> Row:
    """``clients`` x ``seconds`` of 80/20 search/upsert through the gRPC service."""
    from .mixed_load import run as drive
    ix = Index.create(os.path.join(work, "mixed"), IndexConfig(dim=32, S=4))
    ix.insert([str(i) for i in range(2000)], np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32))
    try:
        r = drive(ix, clients, seconds)
    finally:
        ix.close(save=False)
    total = r["search"] + r["write"] + r["errors"]
    return Row(f"mixed load {clients} clients x {seconds:g} s", tried=total, survived=total - r["errors"],
               note=f"{r['searches_per_s']:.0f} searches/s, {r['writes_per_s']:.0f} writes/s")


def worker_stop(work: str) -> Row:
    """SIGSTOP one gRPC worker: searches fail fast (not hang), a write is acknowledged (WAL +
    store), after SIGCONT the worker catches up and every key is found again."""
    from sanny.workers.errors import DeadlineExceeded, WorkerUnavailable
    from sanny.workers.deadline import deadline
    from sanny.workers.transports import factory_from_config
    from .procs import Proc

    row = Row("worker SIGSTOP / SIGCONT")
    procs = [Proc(f"w{i}", ["worker", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, f"w{i}")],
                  os.path.join(work, f"w{i}.log"), r"listening on [\d.]+:(\d+)") for i in range(2)]
    try:
        for p in procs:
            p.wait_ready()
        table = {"transport": "grpc", "addresses": [p.address for p in procs], "timeout": 2.0}
        ix = Index.create(os.path.join(work, "stop-idx"), IndexConfig(dim=DIM, S=2, workers=2, inner=InnerParams(kind="exact")),
                          worker_factory=factory_from_config({"workers": table}))
        try:
            ix.insert([f"k{i}" for i in range(100)], np.concatenate([vec(i) for i in range(100)]))
            os.kill(procs[1].pid, signal.SIGSTOP)
            row.tried = 1
            try:
                with deadline(10):
                    ix.search(vec(0), 1)
                failed_fast = False
            except (WorkerUnavailable, DeadlineExceeded):
                failed_fast = True
            ix.insert([f"k{i}" for i in range(100, 120)], np.concatenate([vec(i) for i in range(100, 120)]))
            os.kill(procs[1].pid, signal.SIGCONT)
            got, _ = ix.search(np.concatenate([vec(i) for i in range(120)]), 1)
            row.lost = sum(g != f"k{i}" for i, g in enumerate(got[:, 0]))
            row.survived = int(failed_fast and row.lost == 0)
        finally:
            ix.close(save=False)
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
            p.stop()
    return row


def run(quick: bool = True, work: str | None = None) -> list[Row]:
    with contextlib.ExitStack() as stack:
        work = work or stack.enter_context(tempfile.TemporaryDirectory(prefix="sanny-soak-"))
        rows = [crash_loop(work, 5 if quick else 20), disk_full(work), wal_flips(work, 8 if quick else 40),
                *bad_requests(work, 40 if quick else 400)]
        if not quick:
            rows += [worker_stop(work), mixed_load(work, 32, 60.0)]
    return rows


def table(rows: list[Row]) -> str:
    head = f"{'fault':36} {'tried':>6} {'survived':>8} {'acked lost':>10} {'phantoms':>8} {'bad in':>6} {'handled':>7}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        extra = "; ".join(f"{k}: {v}" for k, v in r.extra.items())
        lines.append(f"{r.fault:36} {r.tried:6d} {r.survived:8d} {r.lost:10d} {r.phantoms:8d} "
                     f"{r.bad_tried:6d} {r.bad_handled:7d}  {'; '.join(x for x in (r.note, extra) if x)}")
    tot = Row("total", *(sum(getattr(r, f) for r in rows) for f in ("tried", "survived", "lost", "phantoms",
                                                                       "bad_tried", "bad_handled")))
    lines.append(f"{tot.fault:36} {tot.tried:6d} {tot.survived:8d} {tot.lost:10d} {tot.phantoms:8d} "
                 f"{tot.bad_tried:6d} {tot.bad_handled:7d}")
    peak = (status_bytes("VmHWM") or 0) / 2**20
    lines.append(f"RSS peak of this process (server + clients): {peak:.0f} MB")
    return "\n".join(lines)
