"""WAL on-disk format: byte flips, torn tails, repair, format-1 logs.

A flipped byte followed by intact records must stop the open with ``IndexCorrupt`` naming the
offset and leave the file untouched; only a damaged *end* (a write never acknowledged) is cut.
``repair`` keeps every intact record after the damage.
"""
import os
import struct
import zlib

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, IndexCorrupt
from sanny.engine.wal import DEL, PUT, WriteAheadLog, repair
from sanny.engine.wal_format import BODY, FILE_HEAD, HEAD, scan

from conftest import EXACT, keys_for

N = 5


def vec(seq, n=3, dim=4):
    return np.random.default_rng(seq).normal(size=(n, dim)).astype(np.float32)


def write_log(path, n=N):
    wal = WriteAheadLog(path)
    for s in range(1, n + 1):
        if s == 3:
            wal.append(s, DEL, [f"s{s}-a"])
        else:
            wal.append(s, PUT, [f"s{s}-a", f"s{s}-b", f"s{s}-c"], vec(s))
    wal.close()
    data = open(path, "rb").read()
    return data, scan(data).records


def seqs(path):
    return [r[0] for r in WriteAheadLog.replay(path)]


def flip(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0x5A
    open(path, "wb").write(bytes(data))
    return bytes(data)


def test_round_trip_and_layout(tmp_path):
    path = str(tmp_path / "wal.log")
    data, spans = write_log(path)
    assert data.startswith(b"SANNYWAL") and len(spans) == N and spans[0][0] == FILE_HEAD.size
    assert spans[-1][1] == len(data)
    recs = list(WriteAheadLog.replay(path))
    assert [r[0] for r in recs] == list(range(1, N + 1))
    assert recs[2][1:3] == (DEL, ["s3-a"]) and recs[2][3] is None
    np.testing.assert_array_equal(recs[4][3], vec(5))
    assert recs[0][2] == ["s1-a", "s1-b", "s1-c"]


# where to flip, as (record index, offset inside the record)
SPOTS = {
    "first-magic": (0, 0),
    "first-length": (0, 5),
    "first-payload-crc": (0, 9),
    "first-header-crc": (0, 13),
    "first-payload": (0, HEAD.size + 3),
    "middle-payload": (2, HEAD.size + BODY.size + 1),
    "middle-length": (3, 4),
}


@pytest.mark.parametrize("spot", list(SPOTS))
def test_flip_before_valid_records_is_corrupt_and_untouched(tmp_path, spot):
    path = str(tmp_path / "wal.log")
    _, spans = write_log(path)
    rec, inside = SPOTS[spot]
    damaged = flip(path, spans[rec][0] + inside)
    with pytest.raises(IndexCorrupt, match=f"byte {spans[rec][0]}\\b"):
        seqs(path)
    with pytest.raises(IndexCorrupt, match=f"byte {spans[rec][0]}\\b"):
        WriteAheadLog(path)
    assert open(path, "rb").read() == damaged          # never truncated
    report = repair(path)
    assert report.kept == N - 1 and report.dropped[0][0] == spans[rec][0]
    assert seqs(path) == [s for s in range(1, N + 1) if s != rec + 1]
    assert open(report.backup, "rb").read() == damaged
    wal = WriteAheadLog(path)                          # usable again, and appends after repair
    wal.append(9, PUT, ["later"], vec(9, 1))
    wal.close()
    assert seqs(path)[-1] == 9


def test_flip_in_file_header_then_repair(tmp_path):
    path = str(tmp_path / "wal.log")
    write_log(path)
    flip(path, 2)
    with pytest.raises(IndexCorrupt, match="byte 0"):
        seqs(path)
    assert repair(path).kept == N
    assert seqs(path) == list(range(1, N + 1))


@pytest.mark.parametrize("spot", ["last-payload", "last-length", "last-magic"])
def test_damaged_last_record_is_a_torn_tail(tmp_path, spot):
    path = str(tmp_path / "wal.log")
    _, spans = write_log(path)
    inside = {"last-payload": HEAD.size + 20, "last-length": 4, "last-magic": 1}[spot]
    flip(path, spans[-1][0] + inside)
    assert seqs(path) == list(range(1, N))             # replay reads only
    WriteAheadLog(path).close()                        # opening for writes cuts the tail
    assert os.path.getsize(path) == spans[-1][0]


@pytest.mark.parametrize("cut", [1, HEAD.size - 1, HEAD.size + 2, -1])
def test_cut_short_tail_is_dropped(tmp_path, cut):
    path = str(tmp_path / "wal.log")
    data, spans = write_log(path)
    end = spans[-1][0] + cut if cut > 0 else len(data) + cut
    open(path, "wb").write(data[:end])
    assert seqs(path) == list(range(1, N))
    wal = WriteAheadLog(path)
    assert os.path.getsize(path) == spans[-1][0]
    wal.append(N, PUT, ["again"], vec(N, 1))
    wal.close()
    assert seqs(path) == list(range(1, N + 1))


def test_first_append_cut_short_is_an_empty_log(tmp_path):
    path = str(tmp_path / "wal.log")
    data, _ = write_log(path, 1)
    open(path, "wb").write(data[:10])                  # not even the file header made it
    assert seqs(path) == []
    WriteAheadLog(path).close()
    assert os.path.getsize(path) == 0


def test_unknown_version_is_refused(tmp_path):
    path = str(tmp_path / "wal.log")
    head = b"SANNYWAL" + struct.pack("<I", 7)
    open(path, "wb").write(head + struct.pack("<I", zlib.crc32(head)))
    with pytest.raises(IndexCorrupt, match="version 7"):
        seqs(path)
    with pytest.raises(IndexCorrupt, match="version 7"):
        WriteAheadLog(path)


def v1_record(seq, keys, x):
    parts = [BODY.pack(seq, PUT, len(keys), x.shape[1])]
    for k in keys:
        parts += [struct.pack("<I", len(k)), k.encode()]
    payload = b"".join(parts) + x.astype("<f4").tobytes()
    return struct.pack("<4sII", b"SNW1", len(payload), zlib.crc32(payload)) + payload


def test_format1_log_is_read_and_converted(tmp_path):
    path = str(tmp_path / "wal.log")
    old = b"".join(v1_record(s, [f"o{s}"], vec(s, 1)) for s in (1, 2, 3))
    open(path, "wb").write(old + b"SNW1\x00")          # with a torn tail, as format 1 left them
    assert seqs(path) == [1, 2, 3]
    wal = WriteAheadLog(path)
    wal.append(4, PUT, ["new"], vec(4, 1))
    wal.close()
    assert open(path, "rb").read().startswith(b"SANNYWAL")
    recs = list(WriteAheadLog.replay(path))
    assert [r[0] for r in recs] == [1, 2, 3, 4] and recs[1][2] == ["o2"]
    np.testing.assert_array_equal(recs[2][3], vec(3, 1))


def test_index_refuses_damaged_wal_until_repaired(tmp_path, small16):
    X, _ = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    for i in range(4):                                 # four records of 10 keys
        idx.insert(keys_for(10, start=10 * i), X[10 * i: 10 * i + 10])
    idx.close(save=False)
    wal = os.path.join(root, "wal.log")
    spans = scan(open(wal, "rb").read()).records
    flip(wal, spans[1][0] + HEAD.size + 40)            # damage the second record
    with pytest.raises(IndexCorrupt, match=f"byte {spans[1][0]}"):
        Index.open(root)
    report = repair(root)                              # (the failed open released the lock)
    assert report.kept == 3 and report.backup
    idx = Index.open(root)
    try:
        assert len(idx) == 30
        assert not idx.exists(keys_for(10, start=10)).any()
        np.testing.assert_array_equal(idx.get(keys_for(10, start=30)), X[30:40])
    finally:
        idx.close()


def test_repair_refuses_an_open_index(tmp_path, small16):
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    try:
        with pytest.raises(IndexCorrupt, match="open in another process"):
            repair(root)
    finally:
        idx.close()


def test_repair_of_an_intact_log_changes_nothing(tmp_path):
    path = str(tmp_path / "wal.log")
    data, _ = write_log(path)
    report = repair(path)
    assert report.kept == N and report.dropped == [] and report.backup is None
    assert open(path, "rb").read() == data
    assert not [f for f in os.listdir(tmp_path) if f != "wal.log"]
