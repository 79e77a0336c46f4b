"""``sanny soak`` rows with worker processes (full run only): a ``sanny worker`` stopped with
SIGSTOP while a write to it is pending, and attacks on worker ports."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.errors import IndexCorrupt, WorkerUnavailable

from .soak import DIM, Row, vec


def hung_worker(work: str, searches: int = 6) -> Row:
    """SIGSTOP one of two gRPC workers (``timeout`` 2 s, long calls 600 s) while a write to it is
    pending: every search meanwhile ends with UNAVAILABLE naming the worker well within its 20 s
    deadline (none DEADLINE_EXCEEDED), the write is acknowledged within the timeout bound, and
    after SIGCONT every key is found."""
    from sanny.workers.deadline import deadline
    from sanny.workers.transports import factory_from_config

    from .procs import Proc

    row = Row("hung worker (SIGSTOP) with a write pending")
    token = os.path.join(work, "hung-token")
    with open(token, "w") as f:
        f.write("soak-token")
    procs = [Proc(f"hw{i}", ["worker", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, f"hw{i}"),
                             "--token-file", token], os.path.join(work, f"hw{i}.log"), r"listening on [\d.]+:(\d+)")
             for i in range(2)]
    stopped = False
    try:
        for p in procs:
            p.wait_ready()
        table = {"transport": "grpc", "addresses": [p.address for p in procs], "timeout": 2.0,
                 "slow_timeout": 600.0, "token_file": token}
        ix = Index.create(os.path.join(work, "hung-idx"), IndexConfig(dim=DIM, S=2, workers=2, inner=InnerParams(kind="exact")),
                          worker_factory=factory_from_config({"workers": table}), checkpoints=False)
        try:
            ix.insert([f"k{i}" for i in range(100)], np.concatenate([vec(i) for i in range(100)]))
            os.kill(procs[1].pid, signal.SIGSTOP)
            stopped = True
            acked, t0, took = threading.Event(), time.perf_counter(), []
            writer = threading.Thread(target=lambda: (ix.upsert([f"k{i}" for i in range(100, 120)], np.concatenate(
                [vec(i) for i in range(100, 120)])), took.append(time.perf_counter() - t0), acked.set()), daemon=True)
            writer.start()
            waits, fast = [], 0
            for _ in range(searches):
                s0 = time.perf_counter()
                try:
                    with deadline(20):
                        ix.search(vec(0), 1)
                except WorkerUnavailable as e:
                    fast += procs[1].address in str(e)
                except Exception:  # noqa: BLE001 - DEADLINE_EXCEEDED or worse: not survived
                    pass
                waits.append(time.perf_counter() - s0)
            writer.join(120)
            os.kill(procs[1].pid, signal.SIGCONT)
            stopped = False
            got, _ = ix.search(np.concatenate([vec(i) for i in range(120)]), 1)
            row.tried = searches + 1
            row.lost = sum(g != f"k{i}" for i, g in enumerate(got[:, 0]))
            row.survived = fast + int(acked.is_set() and row.lost == 0)
            row.note = (f"searches answered UNAVAILABLE in {min(waits):.2f}-{max(waits):.2f} s (deadline 20 s); "
                        f"the write was acknowledged after {took[0] if took else float('nan'):.2f} s")
        finally:
            ix.close(save=False)
    finally:
        for p in procs:
            if stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGCONT)
            p.stop()
    return row


def worker_doors(work: str) -> Row:
    """Worker ports: a worker on a non-loopback address without a token refuses to start;
    with a token every RPC without it is UNAUTHENTICATED; a caller *with* the token saving again
    and again (no keep, keep of its own) evicts nothing the coordinator committed, so the
    coordinator reopens with every key."""
    import grpc

    from sanny.v1 import worker_pb2 as wpb
    from sanny.v1 import worker_pb2_grpc as wpb_grpc
    from sanny.workers.tls import bearer
    from sanny.workers.transports import factory_from_config

    from .procs import Proc

    row = Row("open worker ports")
    refused = subprocess.run([sys.executable, "-m", "sanny.engine", "worker", "--listen", "0.0.0.0:0", "--data-dir",
                              os.path.join(work, "open-w")], capture_output=True, text=True, timeout=120)
    row.bad_tried, row.bad_handled = 1, int(refused.returncode == 2 and "--token-file" in refused.stderr)
    token = os.path.join(work, "door-token")
    with open(token, "w") as f:
        f.write("door-token")
    p = Proc("dw", ["worker", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "dw"), "--token-file", token],
             os.path.join(work, "dw.log"), r"listening on [\d.]+:(\d+)")
    try:
        p.wait_ready()
        factory = lambda: factory_from_config({"workers": {"transport": "grpc", "addresses": [p.address],  # noqa: E731
                                                           "token_file": token}})
        root = os.path.join(work, "door-idx")
        ix = Index.create(root, IndexConfig(dim=DIM, S=2, workers=1, inner=InnerParams(kind="exact")),
                          worker_factory=factory(), checkpoints=False)
        ix.insert([f"k{i}" for i in range(50)], np.concatenate([vec(i) for i in range(50)]))
        ix.close()
        with grpc.insecure_channel(p.address) as ch:
            stub = wpb_grpc.SubspaceWorkerStub(ch)
            for name, req in (("Remove", wpb.WorkerRemoveRequest(seq=99)), ("Save", wpb.WorkerSaveRequest(tag="evil", seq=99))):
                row.bad_tried += 1
                try:
                    getattr(stub, name)(req, timeout=10)
                except grpc.RpcError as e:
                    row.bad_handled += e.code() == grpc.StatusCode.UNAUTHENTICATED
            epoch = stub.Stats(wpb.WorkerStatsRequest(), timeout=10, metadata=bearer("door-token")).position.epoch
            md = bearer("door-token") + (("sanny-epoch", epoch),)
            for i, keep in enumerate([(), (), ("thief-2",), ()]):  # a token holder, not the owner
                row.bad_tried += 1
                with contextlib.suppress(grpc.RpcError):
                    stub.Save(wpb.WorkerSaveRequest(tag=f"thief-{i}", seq=10**6, keep=keep), timeout=30, metadata=md)
                row.bad_handled += 1
        with Index.open(root, worker_factory=factory(), checkpoints=False) as again:
            got, _ = again.search(np.concatenate([vec(i) for i in range(50)]), 1)
            row.lost = sum(g != f"k{i}" for i, g in enumerate(got[:, 0]))
        row.tried, row.survived = 1, int(row.lost == 0)
        row.note = "reopened from the committed save after 4 saves by a token holder"
    except (IndexCorrupt, WorkerUnavailable) as e:
        row.tried, row.note = 1, f"coordinator could not reopen: {e}"
    finally:
        p.stop()
    return row
