"""The served half of ``sanny soak`` (:mod:`sanny.bench.soak`): bad requests against the gRPC
service, a gRPC worker stopped with SIGSTOP, and mixed load through many clients."""
from __future__ import annotations

import contextlib
import os
import signal
import time

import grpc
import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams

from .procs import status_bytes
from .soak import DIM, Row, _config, vec


def _oversized(pb) -> list[tuple[str, str, object]]:
    """``(what, method, request)`` of each oversized request."""
    m = lambda rows: pb.Matrix(rows=rows, dim=DIM, values=np.zeros(rows * DIM, np.float32).tolist())  # noqa: E731
    return [("512 queries x candidates=100000", "Search", pb.SearchRequest(queries=m(512), k=10, candidates=100_000)),
            ("111 queries x candidates=100000 (a 0.01 MB request, ~2.8 GB to serve)", "Search",
             pb.SearchRequest(queries=m(111), k=10, candidates=100_000)),
            ("20000 queries x k=10000", "Search", pb.SearchRequest(queries=m(20_000), k=10_000)),
            ("10 MB key", "Insert", pb.InsertRequest(keys=["x" * (10 << 20)], vectors=m(1))),
            ("200000 keys", "Exists", pb.ExistsRequest(keys=[f"k{i}" for i in range(200_000)])),
            ("GetVector 150000 keys", "GetVector", pb.GetVectorRequest(keys=[f"k{i}" for i in range(150_000)]))]


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
            raw = [(f"/sanny.v1.Sanny/{m}", r.SerializeToString()) for _, m, r in _oversized(pb)]  # encoded before timing
            worst_ms, rss0 = 0.0, status_bytes("VmRSS") or 0
            for method, data in raw:
                call = ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
                over.bad_tried += 1
                t = time.perf_counter()
                try:
                    call(data, timeout=60)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                worst_ms = max(worst_ms, (time.perf_counter() - t) * 1000)
                over.bad_handled += code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
            over.extra = {"slowest rejection ms (pre-encoded, loopback round trip)": round(worst_ms, 1),
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
