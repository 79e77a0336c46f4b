"""WAL file format, scanning (torn tail vs. damage) and repair; the log itself is ``wal.py``.

File (format 2) = ``FILE_HEAD`` then records; an empty file is an empty log (the header goes out
with the first record, so a checkpoint can empty the log with one truncate).

    FILE_HEAD = b"SANNYWAL" | u32 version (2) | u32 crc32(the 12 bytes before)
    record    = b"SNW2" | u32 payload length | u32 crc32(payload) | u32 crc32(the 12 bytes before)
                | payload
    payload   = u64 seq | u8 op | u32 n | u32 dim | n x (u32 len, utf-8 key) | n*dim float32 LE

The header checksum guards the length field, so a damaged length is seen as damage, not as a
record running past the end. A torn tail (the last record cut short, or damage with no valid
record after it: a write that was never acknowledged) ends the log; damage *followed* by a valid
record raises ``IndexCorrupt`` naming the offset; :func:`repair` keeps every valid record.
Format-1 logs (records ``SNW1`` with a payload CRC only, no file header) are read too.
"""
from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from sanny.workers.errors import IndexCorrupt
from sanny.workers.fsio import fsync_dir

log = logging.getLogger(__name__)

VERSION = 2
FILE_MAGIC = b"SANNYWAL"
FILE_HEAD = struct.Struct("<8sII")
MAGIC = b"SNW2"
HEAD = struct.Struct("<4sIII")
V1_MAGIC = b"SNW1"
V1_HEAD = struct.Struct("<4sII")
BODY = struct.Struct("<QBII")

Record = tuple[int, int, list[str], "np.ndarray | None"]


# -- format --------------------------------------------------------------------------------


def file_head() -> bytes:
    head = FILE_MAGIC + struct.pack("<I", VERSION)
    return head + struct.pack("<I", zlib.crc32(head))


def frame(payload: bytes) -> bytes:
    head = MAGIC + struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def encode(seq: int, op: int, keys: list[str], vectors: np.ndarray | None) -> bytes:
    """One framed record (without the file header)."""
    dim = 0 if vectors is None else vectors.shape[1]
    parts = [BODY.pack(seq, op, len(keys), dim)]
    for k in keys:
        b = k.encode("utf-8")
        parts += [struct.pack("<I", len(b)), b]
    if vectors is not None:
        parts.append(np.ascontiguousarray(vectors, "<f4").tobytes())
    return frame(b"".join(parts))


def decode(payload: bytes) -> Record:
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


def _check_v2(data: bytes, pos: int) -> tuple[str, int]:
    """('ok', end) for a valid record at ``pos``; ('short', -) when it runs past the end of the
    data; ('bad', where to look for the next record) otherwise."""
    if pos + HEAD.size > len(data):
        return "short", 0
    magic, ln, crc, hcrc = HEAD.unpack_from(data, pos)
    if magic != MAGIC or zlib.crc32(data[pos: pos + 12]) != hcrc:
        return "bad", pos + 1
    end = pos + HEAD.size + ln
    if end > len(data):
        return "short", 0
    return ("ok" if zlib.crc32(data[pos + HEAD.size: end]) == crc else "bad"), end


def _check_v1(data: bytes, pos: int) -> tuple[str, int]:
    if pos + V1_HEAD.size > len(data):
        return "short", 0
    magic, ln, crc = V1_HEAD.unpack_from(data, pos)
    end = pos + V1_HEAD.size + ln
    if magic != V1_MAGIC:
        return "bad", pos + 1
    if end > len(data):  # format 1 cannot tell a damaged length from a torn record
        return "short", 0
    return ("ok" if zlib.crc32(data[pos + V1_HEAD.size: end]) == crc else "bad"), end


def _next_valid(data: bytes, start: int, check, magic: bytes) -> int | None:
    pos = data.find(magic, start)
    while pos >= 0:
        if check(data, pos)[0] == "ok":
            return pos
        pos = data.find(magic, pos + 1)
    return None


@dataclass
class Scan:
    """What a log file holds: its format, the byte spans of its valid records (in order),
    where the intact prefix ends, and the damaged ranges (offset, end) that were skipped."""
    version: int
    records: list[tuple[int, int]] = field(default_factory=list)
    good: int = 0
    damaged: list[tuple[int, int]] = field(default_factory=list)
    tail: str = ""  # what ends the log early: "torn" (a write cut short) or "damaged"

    def payload(self, data: bytes, span: tuple[int, int]) -> bytes:
        return data[span[0] + (HEAD.size if self.version == 2 else V1_HEAD.size): span[1]]


def scan(data: bytes, path: str = "wal.log", salvage: bool = False) -> Scan:
    """Find the records of a log file. A torn tail ends the scan; damage with a valid record
    after it raises ``IndexCorrupt`` naming the offset, or, with ``salvage``, is skipped (and
    listed in ``damaged``) so every valid record is kept."""
    if data.startswith(V1_MAGIC):
        out, check, magic, pos = Scan(1), _check_v1, V1_MAGIC, 0
    else:
        out, check, magic, pos = Scan(VERSION), _check_v2, MAGIC, FILE_HEAD.size
        if len(data) < FILE_HEAD.size:
            return out  # empty, or a first append cut short: nothing was acknowledged
        fmagic, version, hcrc = FILE_HEAD.unpack_from(data)
        if fmagic == FILE_MAGIC and zlib.crc32(data[:12]) == hcrc and version != VERSION:
            raise IndexCorrupt(f"{path}: WAL format version {version}; this Sanny reads versions 1 and {VERSION}")
        if data[: FILE_HEAD.size] != file_head():
            nxt = _next_valid(data, 0, check, magic)
            if nxt is None:
                return out
            if not salvage:
                raise IndexCorrupt(f"{path}: the file header (byte 0) is damaged and valid records follow "
                                   f"at byte {nxt}; run `sanny repair-wal` to keep them")
            out.damaged.append((0, nxt))
            pos = nxt
    out.good = pos
    while pos < len(data):
        what, resume = check(data, pos)
        if what == "ok":
            out.records.append((pos, resume))
            pos = resume
            if not out.damaged:
                out.good = pos
            continue
        nxt = None if what == "short" else _next_valid(data, resume, check, magic)
        if nxt is None:
            out.tail = tail_kind(data, pos, what)
            break
        if not salvage:
            raise IndexCorrupt(f"{path}: damaged record at byte {pos} (valid records follow at byte "
                               f"{nxt}); nothing was changed: run `sanny repair-wal` to keep them")
        out.damaged.append((pos, nxt))
        pos = nxt
    if salvage and pos < len(data):
        out.damaged.append((pos, len(data)))
    return out


SECTOR = 512  # a torn write zero-fills whole sectors (the file grew, the data never landed)


def tail_kind(data: bytes, pos: int, what: str) -> str:
    """``torn`` for a last record cut short (it runs past the end of the file) or zero-filled
    (all zeros, or a whole sector of it past its first one is zero): a write that was never
    acknowledged. ``damaged`` for one complete in length whose bytes changed afterwards: an
    acknowledged write."""
    if what == "short" or not data[pos:].strip(b"\0"):
        return "torn"
    start = (pos // SECTOR + 1) * SECTOR
    if any(not data[a: a + SECTOR].strip(b"\0") for a in range(start, len(data), SECTOR)):
        return "torn"
    return "damaged"


def read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def rewrite(data: bytes, sc: Scan) -> bytes:
    if not sc.records:
        return b""
    if sc.version == VERSION:
        body = b"".join(data[a:b] for a, b in sc.records)
    else:
        body = b"".join(frame(sc.payload(data, r)) for r in sc.records)
    return file_head() + body


# -- repair --------------------------------------------------------------------------------


@dataclass
class RepairReport:
    path: str
    kept: int                       # valid records in the repaired log
    dropped: list[tuple[int, int]]  # byte ranges (offset, end) of the damaged file left out
    backup: str | None              # the damaged file, kept for inspection (None: nothing to do)


def repair(path: str) -> RepairReport:
    """Rewrite a damaged log keeping every valid record (damage is skipped by searching for the
    next record whose header and payload checksums hold). ``path``: wal.log or its index
    directory (refused while the index is open). The original is kept as ``wal.log.damaged-N``."""
    if os.path.isdir(path):
        with open(os.path.join(path, "LOCK"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IndexCorrupt(f"{path!r} is open in another process; close it before repairing") from None
            return repair(os.path.join(path, "wal.log"))
    data = read(path)
    sc = scan(data, path, salvage=True)
    if not sc.damaged and sc.version == VERSION:
        return RepairReport(path, len(sc.records), [], None)
    n = 1 + sum(1 for f in os.listdir(os.path.dirname(os.path.abspath(path)))
                if f.startswith(os.path.basename(path) + ".damaged-"))
    backup = f"{path}.damaged-{n}"
    os.link(path, backup)
    write_atomic(path, rewrite(data, sc))
    for a, b in sc.damaged:
        log.warning("%s: repair dropped bytes %d..%d (%d bytes)", path, a, b, b - a)
    log.warning("%s: repaired, %d valid records kept; the damaged file is %s", path, len(sc.records), backup)
    return RepairReport(path, len(sc.records), sc.damaged, backup)
