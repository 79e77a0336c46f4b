"""``sanny soak`` rows for the attacks an index must survive beyond crashes (see
:mod:`sanny.bench.soak`): damaged metadata and snapshots, a damaged last WAL record, values that
would overflow, control characters in keys, a checkpoint on a full disk; and (``soak_cluster``)
a hung worker with a write pending, open worker ports. Each returns a :class:`~sanny.bench.soak.Row`."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.errors import IndexCorrupt, StorageFull

from .soak import DIM, Row, _config, _missing, _tmpfs, vec


def _base(root: str, pca: bool = True) -> list[int]:
    """An index with two checkpoints and WAL records after each; returns the live key numbers."""
    cfg = IndexConfig(dim=DIM, S=2, inner=InnerParams(kind="exact"), **({"pca_dim": 6} if pca else {}))
    ix = Index.create(root, cfg, checkpoints=False)
    if pca:
        ix.train(np.concatenate([vec(i) for i in range(1000, 1200)]))
    for lo, hi in ((0, 40), (40, 70), (70, 90)):
        ix.insert([f"k{i}" for i in range(lo, hi)], np.concatenate([vec(i) for i in range(lo, hi)]))
        if hi < 90:
            ix.save()
    ix.close(save=False)
    return list(range(90))


def _durable_files(root: str) -> list[str]:
    out = ["manifest.json", "pca.npz", "CURRENT", "wal.log.prev"]  # wal.log: wal_last_record, wal_flips
    for d in sorted(n for n in os.listdir(root) if n.startswith("snap-")):
        for sub, _, files in os.walk(os.path.join(root, d)):
            out += [os.path.relpath(os.path.join(sub, f), root) for f in files]
    return [f for f in out if os.path.getsize(os.path.join(root, f))]


def metadata_flips(work: str, trials: int, seed: int = 0) -> Row:
    """One flipped bit in a durable file (manifest, PCA, CURRENT, a file of either snapshot,
    its checksums, wal.log.prev) or a deleted CHECKSUMS.json: the index must refuse to open
    (IndexCorrupt, the lock released) or open with every key intact; then ``open(recover=True)``
    must give back every acknowledged key with its vector."""
    rng = np.random.default_rng(seed)
    base = os.path.join(work, "meta-base")
    keys = _base(base)
    files = _durable_files(base)
    row = Row(f"durable-file bit flips x{trials}")
    refused = silent = 0
    for t in range(trials):
        root = os.path.join(work, f"meta-{t}")
        shutil.copytree(base, root)
        victim = files[int(rng.integers(0, len(files)))]
        path = os.path.join(root, victim)
        if t % 10 == 9:
            snap = next(n for n in sorted(os.listdir(root), reverse=True) if n.startswith("snap-"))
            victim = f"{snap}/CHECKSUMS.json (deleted)"
            os.remove(os.path.join(root, snap, "CHECKSUMS.json"))
        else:
            data = bytearray(open(path, "rb").read())
            pos = int(rng.integers(0, len(data)))
            data[pos] ^= 1 << int(rng.integers(0, 8))
            open(path, "wb").write(bytes(data))
        row.bad_tried += 1
        try:
            with _quiet():
                Index.open(root).close(save=False)
            ok = _missing(root, keys) == 0
            silent += not ok
        except IndexCorrupt as e:
            try:
                Index.open(root).close(save=False)
                ok = False  # the second open must fail the same way
            except IndexCorrupt as again:
                ok = str(again) == str(e)
            refused += 1
        with _quiet():
            Index.open(root, recover=True).close(save=False)
        lost = _missing(root, keys)
        row.bad_handled += ok
        row.tried += 1
        row.survived += ok and lost == 0
        row.lost += lost
        shutil.rmtree(root)
    row.note = f"{refused} refused to open (IndexCorrupt), {silent} opened with a wrong answer; all repaired"
    return row


def wal_last_record(work: str, trials: int, seed: int = 0) -> Row:
    """A flipped byte in the last WAL record (a complete, acknowledged write): open keeps the
    file as ``wal.log.damaged`` and warns that an acknowledged write may be lost."""
    rng = np.random.default_rng(seed)
    base = os.path.join(work, "last-base")
    ix = Index.create(base, _config(), checkpoints=False)
    for i in range(10):
        ix.insert([f"k{i}"], vec(i))
    ix.close(save=False)
    wal = open(os.path.join(base, "wal.log"), "rb").read()
    last = wal.rfind(b"SNW2")
    row = Row(f"last WAL record flipped x{trials}")
    for t in range(trials):
        root = os.path.join(work, f"last-{t}")
        shutil.copytree(base, root)
        data = bytearray(wal)
        data[int(rng.integers(last, len(data)))] ^= 1 << int(rng.integers(0, 8))
        open(os.path.join(root, "wal.log"), "wb").write(bytes(data))
        warned = _Capture()
        with warned:
            Index.open(root).close(save=False)
        kept = os.path.exists(os.path.join(root, "wal.log.damaged")) and \
            open(os.path.join(root, "wal.log.damaged"), "rb").read() == bytes(data)
        ok = kept and "ACKNOWLEDGED WRITE MAY BE LOST" in warned.text
        row.tried += 1
        row.bad_tried += 1
        row.bad_handled += ok
        row.survived += ok and _missing(root, list(range(9))) == 0
        shutil.rmtree(root)
    row.note = "each kept as wal.log.damaged with a warning"
    return row


def bad_values(work: str) -> Row:
    """Finite vectors whose distances would overflow float32, and keys with control characters
    (NUL, newline, ESC), over gRPC: INVALID_ARGUMENT naming the field, nothing written."""
    import grpc

    from sanny.engine.api.server import run_server
    from sanny.engine.api.wire import to_matrix
    from sanny.v1 import sanny_pb2 as pb
    from sanny.v1 import sanny_pb2_grpc as pb_grpc

    ix = Index.create(os.path.join(work, "values"), _config(), checkpoints=False)
    ix.insert([f"k{i}" for i in range(20)], np.concatenate([vec(i) for i in range(20)]))
    huge = np.full((1, DIM), 1e20, np.float32)
    cases = [("Upsert", pb.UpsertRequest(keys=["huge"], vectors=to_matrix(huge)), "vectors"),
             ("Upsert", pb.UpsertRequest(keys=["big"], vectors=to_matrix(huge / 1e2)), "vectors"),
             ("Search", pb.SearchRequest(queries=to_matrix(huge), k=3), "queries"),
             *[("Insert", pb.InsertRequest(keys=[k], vectors=to_matrix(vec(1))), "keys")
               for k in ("a\0b", "line\nbreak", "esc\x1b[2J", "tab\t", "del\x7f")]]
    row = Row("overflowing values, control-char keys")
    try:
        with run_server(ix, vald=False) as (_, port), grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.SannyStub(ch)
            for method, req, field in cases:
                row.bad_tried += 1
                try:
                    getattr(stub, method)(req, timeout=30)
                except grpc.RpcError as e:
                    row.bad_handled += e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details().startswith(field)
            row.tried, row.survived = 1, int(len(ix) == 20)
    finally:
        ix.close(save=False)
    return row


def save_disk_full(work: str) -> Row:
    """A checkpoint into a full disk: StorageFull (RESOURCE_EXHAUSTED over gRPC), no debris;
    after space is freed the same checkpoint succeeds and every write is there."""
    row = Row("checkpoint on a full disk")
    with _tmpfs("8m") as mnt:
        if mnt is None:
            row.note = "skipped: cannot mount a tmpfs (needs root)"
            return row
        root = os.path.join(mnt, "idx")
        ix = Index.create(root, IndexConfig(dim=32, S=4, inner=InnerParams(kind="hnsw")), checkpoints=False)
        x = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
        ix.insert([f"k{i}" for i in range(2000)], x)
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, shutil.disk_usage(mnt).free - 100_000))
        row.tried = row.bad_tried = 1
        try:
            ix.save()
        except StorageFull:
            row.bad_handled = int(not [n for n in os.listdir(root) if n.endswith(".tmp")])
        os.remove(ballast)
        ix.save()
        ix.close(save=False)
        with Index.open(root, checkpoints=False) as again:
            row.lost = 2000 - int(again.exists([f"k{i}" for i in range(2000)]).sum())
        row.survived = int(row.bad_handled and not row.lost)
    return row


def rows(work: str, quick: bool) -> list[Row]:
    out = [metadata_flips(work, 20 if quick else 200), wal_last_record(work, 8 if quick else 40),
           bad_values(work), save_disk_full(work)]
    if not quick:
        from .soak_cluster import hung_worker, worker_doors
        out += [hung_worker(work), worker_doors(work)]
    return out


class _Capture(logging.Handler):
    """Log records of ``sanny`` as text, while in a ``with`` block."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record):
        self.text += record.getMessage() + "\n"

    def __enter__(self):
        logging.getLogger("sanny").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("sanny").removeHandler(self)


@contextlib.contextmanager
def _quiet():
    """Damage is expected here: the library's warnings would flood the soak's output."""
    lg = logging.getLogger("sanny")
    level = lg.level
    lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lg.setLevel(level)
