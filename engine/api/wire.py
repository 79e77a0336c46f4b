"""numpy <-> ``sanny.v1`` messages, shared by the gRPC service and the client.

A ``Matrix`` is ``rows x dim`` float32 in one packed ``repeated float``. On the wire a packed
float field is exactly a little-endian float32 array, so :func:`to_matrix` writes those bytes
and lets protobuf parse them (about 15x faster than assigning a Python list of floats), and
:func:`from_matrix` hands the repeated field to numpy, which reads it as a buffer.
"""
from __future__ import annotations

import numpy as np

from sanny.v1 import sanny_pb2 as pb

from sanny.workers.errors import InvalidArgument


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def to_matrix(x) -> pb.Matrix:
    """A 2-D array (a 1-D one is one row) as a ``Matrix``."""
    a = np.asarray(x, dtype="<f4")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got {a.ndim}-D")
    rows, dim = a.shape
    buf = bytearray()
    if rows:
        buf += b"\x08" + _varint(rows)           # field 1 (rows), varint
    if dim:
        buf += b"\x10" + _varint(dim)            # field 2 (dim), varint
    payload = np.ascontiguousarray(a).tobytes()
    if payload:
        buf += b"\x1a" + _varint(len(payload)) + payload  # field 3 (values), packed floats
    return pb.Matrix.FromString(bytes(buf))


def from_matrix(m: pb.Matrix, field: str) -> np.ndarray:
    """The ``rows x dim`` float32 array of ``m``; ``InvalidArgument`` naming ``field`` when the
    value count does not match the declared shape. Dimension, emptiness and NaN/Inf are the
    caller's checks (``validate.vectors``)."""
    n = len(m.values)
    if n != m.rows * m.dim:
        raise InvalidArgument(f"{field}.values", f"has {n} floats, expected rows * dim = {m.rows} * {m.dim}")
    return np.array(m.values, dtype=np.float32).reshape(m.rows, m.dim)


def neighbors(keys: np.ndarray, dists: np.ndarray) -> list[pb.Neighbors]:
    """One ``Neighbors`` per query row, dropping the ``None``/``inf`` padding."""
    out = []
    for ks, ds in zip(keys, dists):
        live = [i for i, k in enumerate(ks) if k is not None]
        out.append(pb.Neighbors(keys=[ks[i] for i in live], distances=ds[live].tolist()))
    return out


def from_neighbors(results, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keys[m, k] object, distances[m, k] float32)`` padded with ``None`` / ``inf``, as
    :meth:`Index.search` returns them."""
    m = len(results)
    keys = np.full((m, k), None, dtype=object)
    dists = np.full((m, k), np.inf, dtype=np.float32)
    for i, r in enumerate(results):
        n = min(len(r.keys), k)
        keys[i, :n] = list(r.keys)[:n]
        dists[i, :n] = np.array(r.distances, dtype=np.float32)[:n]
    return keys, dists
