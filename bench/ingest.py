"""Ingest rate for ``sanny bench-ingest``: the first N vectors of an ann-benchmarks file written
in batches of B through one of three paths, each into a fresh index:

- ``embedded``: ``Index.insert`` in this process, then ``Index.build()`` timed on its own;
- ``grpc``: ``sanny.v1`` Insert through :class:`~sanny.engine.api.client.Client`;
- ``vald``: ``vald.v1`` MultiInsert through the vald-client-python stubs.

The served paths use ``run_server`` on 127.0.0.1 port 0 in this process, over the same kind of
fresh index. Every write returns only once its WAL record is durable (the engine's contract),
so a rate is acknowledged, durable writes per second. Client-side encoding (the protobuf
messages) is inside the timed loop: it is part of what a client pays per vector.
"""
from __future__ import annotations

import os
import shutil
import statistics
import time
from dataclasses import dataclass

import numpy as np

from .datasets import file_metric, normalize

PATHS = ("embedded", "grpc", "vald")
CALL_TIMEOUT = 600.0  # s; a client deadline far above any one batch
TRAIN_SAMPLE = 20000  # vectors used to fit PCA when --pca-dim is set (untimed)


@dataclass
class Data:
    name: str
    train: np.ndarray  # [n, dim] float32 (angular: unit rows)
    test: np.ndarray   # [q, dim] float32 (angular: unit rows)
    metric: str        # ann-benchmarks' name: euclidean / angular

    @property
    def n(self) -> int:
        return len(self.train)

    @property
    def dim(self) -> int:
        return self.train.shape[1]


def load(path: str, n: int | None = None, queries: int | None = None) -> Data:
    """``train[:n]`` and ``test[:queries]`` as float32 (float16 on disk is cast); angular rows
    normalised. No ground truth is read: the latency phase computes its own for the prefix."""
    import h5py

    with h5py.File(path, "r") as f:
        metric = file_metric(f, path)
        train = np.asarray(f["train"][:n], np.float32)
        test = np.asarray(f["test"][:queries], np.float32)
    if metric == "angular":
        train, test = normalize(train), normalize(test)
    return Data(os.path.splitext(os.path.basename(path))[0], train, test, metric)


def config(data: Data, inner: str, pca_dim: int = 0, T: int | None = None):
    """S=1, the given inner kind and PCA; ``cosine`` for angular data (as the bench does)."""
    from sanny.engine import IndexConfig, InnerParams

    cfg = IndexConfig(dim=data.dim, S=1, metric="cosine" if data.metric == "angular" else "l2",
                      inner=InnerParams(kind=inner), pca_dim=pca_dim)
    if T is not None:
        cfg.T = int(T)
    cfg.check()
    return cfg


def spread(values) -> dict:
    vals = [float(v) for v in values]
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def fresh(root: str, cfg, data: Data):
    """A new, empty (and, with PCA, trained: untimed) index at ``root``."""
    from sanny.engine import Index

    shutil.rmtree(root, ignore_errors=True)
    ix = Index.create(root, cfg, overwrite=True)
    if cfg.needs_training:
        sample = np.random.default_rng(0).permutation(data.n)[:TRAIN_SAMPLE]
        ix.train(data.train[np.sort(sample)])
    return ix


def _spans(n: int, batch: int):
    return [(a, min(a + batch, n)) for a in range(0, n, batch)]


def _keys(a: int, b: int) -> list[str]:
    return [str(i) for i in range(a, b)]


# -- writers: each writes data.train in batches and advances the progress bar ---------------
def write_embedded(ix, data: Data, batch: int, bar) -> None:
    for a, b in _spans(data.n, batch):
        ix.insert(_keys(a, b), data.train[a:b])
        bar.update(b - a)


def write_grpc(address: str, data: Data, batch: int, bar) -> None:
    from sanny.engine.api.client import Client

    with Client(address, timeout=CALL_TIMEOUT) as c:
        c.wait_ready()
        for a, b in _spans(data.n, batch):
            if c.insert(_keys(a, b), data.train[a:b]) != b - a:
                raise RuntimeError(f"gRPC insert of rows {a}..{b} acknowledged a different count")
            bar.update(b - a)


def write_vald(address: str, data: Data, batch: int, bar) -> None:
    import grpc
    from vald.v1.payload import payload_pb2 as p
    from vald.v1.vald import insert_pb2_grpc

    opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(address, options=opts) as channel:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT)
        stub = insert_pb2_grpc.InsertStub(channel)
        for a, b in _spans(data.n, batch):
            reqs = [p.Insert.Request(vector=p.Object.Vector(id=str(i), vector=data.train[i].tolist()))
                    for i in range(a, b)]
            locs = stub.MultiInsert(p.Insert.MultiRequest(requests=reqs), timeout=CALL_TIMEOUT)
            if len(locs.locations) != b - a:
                raise RuntimeError(f"Vald MultiInsert of rows {a}..{b} returned {len(locs.locations)} locations")
            bar.update(b - a)


def vald_available() -> bool:
    try:
        from vald.v1.vald import insert_pb2_grpc  # noqa: F401
    except ImportError:
        return False
    return True


def ingest_once(path: str, root: str, cfg, data: Data, batch: int, bar, keep_open: bool = False):
    """One timed ingest into a fresh index: ``(run dict, open index or None)``. ``insert_s`` is the
    insert phase (first write to last acknowledgement); ``build_s`` the embedded path's final
    ``Index.build()``. With ``keep_open`` the built index is returned open (the caller closes it)."""
    from sanny.engine.api.server import run_server

    if path not in PATHS:
        raise ValueError(f"unknown ingest path {path!r}: use one of {PATHS}")
    ix = fresh(root, cfg, data)
    try:
        run = {}
        if path == "embedded":
            t0 = time.perf_counter()
            write_embedded(ix, data, batch, bar)
            run["insert_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            ix.build()
            run["build_s"] = time.perf_counter() - t0
        else:
            writer = write_grpc if path == "grpc" else write_vald
            with run_server(ix, "127.0.0.1:0", grace=1.0, vald=path == "vald") as (_server, port):
                t0 = time.perf_counter()
                writer(f"127.0.0.1:{port}", data, batch, bar)
                run["insert_s"] = time.perf_counter() - t0
        if len(ix) != data.n:
            raise RuntimeError(f"{path}: the index holds {len(ix)} vectors after writing {data.n}")
        run["rate"] = data.n / run["insert_s"]
    except BaseException:
        ix.close(save=False)
        raise
    if keep_open:
        return run, ix
    ix.close(save=False)
    shutil.rmtree(root, ignore_errors=True)
    return run, None


def summarise(inner: str, path: str, runs: list[dict]) -> dict:
    row = {"inner": inner, "path": path, "runs": runs, "rate": spread(r["rate"] for r in runs),
           "insert_s": spread(r["insert_s"] for r in runs)}
    if all("build_s" in r for r in runs):
        row["build_s"] = spread(r["build_s"] for r in runs)
    return row
