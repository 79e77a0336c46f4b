"""Write-ahead log: every write is appended and fsync'd before the call returns.

Record = ``MAGIC | u32 payload length | u32 crc32(payload) | payload`` with payload
``u64 seq | u8 op | u32 n | u32 dim | n x (u32 len, utf-8 key) | n*dim float32``.
Replay stops at the first record that is short or fails its CRC (a write cut by a crash: it
was never acknowledged) and truncates the file there, so later appends start clean.
"""
from __future__ import annotations

import os
import struct
import zlib
from typing import Iterator

import numpy as np

from sanny.workers.fsio import fsync_dir

MAGIC = b"SNW1"
HEAD = struct.Struct("<4sII")
BODY = struct.Struct("<QBII")
PUT, DEL = 1, 2


def encode(seq: int, op: int, keys: list[str], vectors: np.ndarray | None) -> bytes:
    dim = 0 if vectors is None else vectors.shape[1]
    parts = [BODY.pack(seq, op, len(keys), dim)]
    for k in keys:
        b = k.encode("utf-8")
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    if vectors is not None:
        parts.append(np.ascontiguousarray(vectors, "<f4").tobytes())
    payload = b"".join(parts)
    return HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> tuple[int, int, list[str], np.ndarray | None]:
    seq, op, n, dim = BODY.unpack_from(payload, 0)
    pos = BODY.size
    keys = []
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        keys.append(payload[pos: pos + ln].decode("utf-8"))
        pos += ln
    vecs = None
    if dim:
        vecs = np.frombuffer(payload, "<f4", count=n * dim, offset=pos).reshape(n, dim).astype(np.float32)
    return seq, op, keys, vecs


class WriteAheadLog:
    def __init__(self, path: str):
        self.path = path
        new = not os.path.exists(path)
        self.f = open(path, "ab")
        if new:
            fsync_dir(os.path.dirname(os.path.abspath(path)))

    def append(self, seq: int, op: int, keys: list[str], vectors: np.ndarray | None = None) -> None:
        self.f.write(encode(seq, op, keys, vectors))
        self.f.flush()
        os.fsync(self.f.fileno())

    def reset(self) -> None:
        """Empty the log (after a checkpoint made everything in it durable elsewhere)."""
        self.f.truncate(0)
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()

    @staticmethod
    def replay(path: str) -> Iterator[tuple[int, int, list[str], np.ndarray | None]]:
        """Yield intact records in order, then cut off any torn tail."""
        if not os.path.exists(path):
            return
        good = 0
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + HEAD.size <= len(data):
            magic, ln, crc = HEAD.unpack_from(data, pos)
            end = pos + HEAD.size + ln
            if magic != MAGIC or end > len(data):
                break
            payload = data[pos + HEAD.size: end]
            if zlib.crc32(payload) != crc:
                break
            yield decode(payload)
            pos = good = end
        if good < len(data):
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
