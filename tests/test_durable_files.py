"""Every file of an index directory is under a required checksum (manifest.json, pca.npz,
CURRENT, snapshots, the WAL); a checkpoint keeps the previous snapshot, so ``open(recover=True)``
/ ``sanny repair`` can fall back to it plus the WAL and say what it kept; a damaged (not torn)
last WAL record is kept as ``.damaged`` with a warning; a failed open releases the lock."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, IndexCorrupt, snapshot

from cli_helpers import run
from conftest import EXACT, keys_for


def build(root, X, pca=False):
    """60 vectors, checkpoint, 20 more, checkpoint, 10 more (in the WAL only)."""
    cfg = IndexConfig(dim=16, S=2, inner=EXACT, **({"pca_dim": 12} if pca else {}))
    ix = Index.create(str(root), cfg)
    if pca:
        ix.train(X[:200])
    ix.insert(keys_for(60), X[:60])
    ix.save()
    ix.insert(keys_for(20, start=60), X[60:80])
    ix.remove(["k3"])
    ix.save()
    ix.insert(keys_for(10, start=80), X[80:90])
    ix.close(save=False)
    return str(root)


def answers(root, Q):
    with Index.open(root) as ix:
        return ix.search(Q, 5)[0].tolist(), len(ix)


def flip(path, pos, bit=0x01):
    data = bytearray(open(path, "rb").read())
    data[pos] ^= bit
    open(path, "wb").write(bytes(data))


def open_fails(root) -> str:
    """Open fails with IndexCorrupt, and again with the same message (the lock was released)."""
    with pytest.raises(IndexCorrupt) as first:
        Index.open(root)
    with pytest.raises(IndexCorrupt) as again:
        Index.open(root)
    assert str(again.value) == str(first.value) and "already open" not in str(first.value)
    return str(first.value)


def test_every_manifest_bit_flip_is_caught_and_repaired(tmp_path, small16):
    X, Q = small16
    root = build(tmp_path / "idx", X)
    want = answers(root, Q)
    path = os.path.join(root, "manifest.json")
    size = os.path.getsize(path)
    for pos in range(0, size, max(1, size // 120)):  # ~120 positions over the whole file
        flip(path, pos, 1 << (pos % 8))
        assert "manifest.json" in open_fails(root)
        flip(path, pos, 1 << (pos % 8))
    flip(path, size // 2, 0x04)
    with Index.open(root, recover=True) as ix:
        assert any("manifest.json" in d for d in ix.recovery.damaged) and not ix.recovery.lost
    assert answers(root, Q) == want


def test_damaged_pca_is_named_releases_the_lock_and_is_repaired(tmp_path, small16):
    X, Q = small16
    root = build(tmp_path / "idx", X, pca=True)
    want = answers(root, Q)
    flip(os.path.join(root, "pca.npz"), os.path.getsize(os.path.join(root, "pca.npz")) // 2)
    assert "pca.npz is damaged" in open_fails(root)
    p = run("info", root)  # one line, no traceback
    assert p.returncode == 2 and "pca.npz" in p.stderr and "Traceback" not in p.stderr
    with Index.open(root, recover=True) as ix:
        assert "pca.npz restored from" in " ".join(ix.recovery.kept)
    assert answers(root, Q) == want


def test_damaged_current_is_rewritten(tmp_path, small16):
    X, Q = small16
    root = build(tmp_path / "idx", X)
    want = answers(root, Q)
    flip(os.path.join(root, "CURRENT"), 20)
    assert "CURRENT" in open_fails(root)
    p = run("repair", root)
    assert p.returncode == 0, p.stderr
    assert "CURRENT rewritten" in p.stdout
    assert answers(root, Q) == want


@pytest.mark.parametrize("victim", ["vectors.npy", "keys.json", snapshot.CHECKSUMS])
def test_damaged_snapshot_falls_back_to_the_previous_one_plus_the_wal(tmp_path, small16, victim):
    X, Q = small16
    root = build(tmp_path / "idx", X)
    want = answers(root, Q)
    snap = snapshot.current(root, check=False)[0]
    assert len([n for n in os.listdir(root) if n.startswith("snap-")]) == 2  # the previous one is kept
    flip(os.path.join(snap, victim), os.path.getsize(os.path.join(snap, victim)) - 3)
    open_fails(root)
    p = run("repair", root)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fell back to the previous snapshot" in p.stdout and "LOST" not in p.stdout
    assert os.path.isdir(os.path.join(root, "damaged-" + os.path.basename(snap)))
    assert answers(root, Q) == want  # every write: the previous snapshot + wal.log.prev + wal.log
    with Index.open(root) as ix:
        np.testing.assert_array_equal(ix.get(["k70", "k85"]), X[[70, 85]])
        assert not ix.exists(["k3"])[0]


def test_what_cannot_be_recovered_is_said(tmp_path, small16):
    X, Q = small16
    root = build(tmp_path / "idx", X)
    snap = snapshot.current(root, check=False)[0]
    flip(os.path.join(snap, "vectors.npy"), 200)
    os.remove(os.path.join(root, "wal.log.prev"))  # the writes between the two snapshots
    with Index.open(root, recover=True) as ix:
        assert ix.recovery.lost and "seq" in ix.recovery.lost[0]
        assert ix.exists(["k10", "k85"]).all() and not ix.exists(["k70"])[0]
    p = run("repair", root)  # already repaired: nothing more to do
    assert p.returncode == 0 and "no damage found" in p.stdout


def test_no_intact_snapshot_is_a_clear_error(tmp_path, small16):
    X, _ = small16
    root = build(tmp_path / "idx", X)
    for n in os.listdir(root):
        if n.startswith("snap-"):
            os.remove(os.path.join(root, n, snapshot.CHECKSUMS))
    with pytest.raises(IndexCorrupt, match="no intact snapshot"):
        Index.open(root, recover=True)
    open_fails(root)


def _wal_with_records(root, X):
    ix = Index.create(str(root), IndexConfig(dim=16, S=2, inner=EXACT))
    for i in range(5):
        ix.insert([f"w{i}"], X[i])
    ix.close(save=False)
    return os.path.join(str(root), "wal.log")


@pytest.mark.parametrize("where", [0, 5, 17, -30, -1])  # the header, the keys, the vector
def test_damaged_last_wal_record_is_kept_and_warned(tmp_path, small16, caplog, where):
    X, _ = small16
    wal = _wal_with_records(tmp_path / "idx", X)
    data = open(wal, "rb").read()
    last = data.rfind(b"SNW2")
    pos = last + where if where >= 0 else len(data) + where
    flip(wal, pos)
    damaged = open(wal, "rb").read()
    with caplog.at_level(logging.WARNING), Index.open(str(tmp_path / "idx")) as ix:
        assert ix.exists(["w0", "w1", "w2", "w3"]).all() and not ix.exists(["w4"])[0]
    assert "ACKNOWLEDGED WRITE MAY BE LOST" in caplog.text
    assert open(wal + ".damaged", "rb").read() == damaged


@pytest.mark.parametrize("tail", ["short", "zeros", "zero-sector"])
def test_torn_last_wal_record_is_still_a_torn_write(tmp_path, small16, caplog, tail):
    X, _ = small16
    root = tmp_path / "idx"
    ix = Index.create(str(root), IndexConfig(dim=16, S=2, inner=EXACT))
    ix.insert(["a"], X[0])
    ix.insert([f"big{i}" for i in range(64)], X[1:65])  # ~4 KB: spans whole sectors
    ix.close(save=False)
    wal = os.path.join(str(root), "wal.log")
    data = open(wal, "rb").read()
    last = data.rfind(b"SNW2")
    if tail == "short":
        data = data[:-100]
    elif tail == "zeros":
        data = data[:last] + b"\0" * (len(data) - last)
    else:  # the file grew, one sector of the data never landed
        a = (last // 512 + 2) * 512
        data = data[:a] + b"\0" * 512 + data[a + 512:]
    open(wal, "wb").write(data)
    with caplog.at_level(logging.WARNING), Index.open(str(root)) as ix:
        assert ix.exists(["a"])[0] and not ix.exists(["big0"])[0]
    assert "torn tail" in caplog.text and "MAY BE LOST" not in caplog.text
    assert not os.path.exists(wal + ".damaged")
