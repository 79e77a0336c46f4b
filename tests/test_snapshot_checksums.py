"""Snapshot integrity: per-file checksums, debris of a failed save, duplicate keys."""
import json
import os

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, IndexCorrupt
from sanny.engine import snapshot
from sanny.engine.store import VectorStore

from conftest import EXACT, NGT, keys_for


def make(tmp_path, X, inner=EXACT, n=60):
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=inner))
    idx.insert(keys_for(n), X[:n])
    idx.close()
    return root


def snap_dir(root):
    return snapshot.current(root, check=False)[0]


def snap_files(root):
    snap = snap_dir(root)
    return sorted(os.path.relpath(os.path.join(d, f), snap) for d, _, fs in os.walk(snap) for f in fs)


@pytest.mark.parametrize("inner", [EXACT, NGT], ids=["exact", "ngt"])
def test_every_snapshot_file_is_checked(tmp_path, small16, inner):
    X, _ = small16
    root = make(tmp_path, X, inner)
    files = snap_files(root)
    assert snapshot.CHECKSUMS in files and "keys.json" in files and "vectors.npy" in files
    assert any(f.startswith("worker-1" + os.sep) for f in files)
    snap = snap_dir(root)
    for rel in files:
        path = os.path.join(snap, rel)
        data = open(path, "rb").read()
        if not data:
            continue
        pos = len(data) // 2
        open(path, "wb").write(data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:])
        with pytest.raises(IndexCorrupt) as e:
            Index.open(root)
        assert rel in str(e.value) and os.path.basename(snap) in str(e.value)
        open(path, "wb").write(data)
    Index.open(root).close()                          # all restored: opens again


def test_missing_snapshot_file_is_named(tmp_path, small16):
    X, _ = small16
    root = make(tmp_path, X)
    os.remove(os.path.join(snap_dir(root), "vectors.npy"))
    with pytest.raises(IndexCorrupt, match="vectors.npy is missing"):
        Index.open(root)


def test_snapshot_without_checksums_still_opens(tmp_path, small16):
    """Indexes saved before checksums existed open as before (unchecked)."""
    X, _ = small16
    root = make(tmp_path, X)
    os.remove(os.path.join(snap_dir(root), snapshot.CHECKSUMS))
    idx = Index.open(root)
    try:
        np.testing.assert_array_equal(idx.get(["k7"])[0], X[7])
    finally:
        idx.close()


def test_leftover_tmp_does_not_break_saves(tmp_path, small16):
    """A ``snap-*.tmp`` left by a failed save (same seq, next generation) used to make
    every later save fail until a new write arrived."""
    X, _ = small16
    root = make(tmp_path, X)
    name = os.path.basename(snap_dir(root))
    _, seq, gen = name.split("-")
    debris = os.path.join(root, f"snap-{seq}-{int(gen) + 1}.tmp")
    os.makedirs(os.path.join(debris, "worker-0"))
    open(os.path.join(debris, "keys.json"), "w").write("[")
    idx = Index.open(root)
    try:
        idx.save()                                    # no new write since the failed save
        assert not os.path.exists(debris)
        idx.insert(["new"], X[100])
        idx.save()
    finally:
        idx.close()
    assert not [n for n in os.listdir(root) if n.endswith(".tmp")]
    idx = Index.open(root)
    try:
        assert len(idx) == 61
    finally:
        idx.close()


def test_failed_save_then_save_again(tmp_path, small16, monkeypatch):
    X, _ = small16
    root = make(tmp_path, X)
    idx = Index.open(root)
    try:
        idx.insert(["new"], X[100])
        with monkeypatch.context() as m:
            def boom(self, path):
                open(os.path.join(path, "keys.json"), "w").write("[")   # half-written, then fail
                raise OSError(28, "No space left on device")
            m.setattr(VectorStore, "save", boom)
            with pytest.raises(OSError):
                idx.save()
        assert not [n for n in os.listdir(root) if n.endswith(".tmp")]  # the failed save left no debris
        idx.save()
    finally:
        idx.close()
    idx = Index.open(root)
    try:
        assert len(idx) == 61 and idx.exists(["new"])[0]
    finally:
        idx.close()


def test_duplicate_key_in_keys_json_is_refused(tmp_path, small16):
    X, _ = small16
    root = make(tmp_path, X)
    snap = snap_dir(root)
    path = os.path.join(snap, "keys.json")
    keys = json.load(open(path))
    keys[10] = keys[3]                                # "k3" on two ids
    json.dump(keys, open(path, "w"))
    snapshot.write_checksums(snap)                    # as if saved that way: checksums agree
    with pytest.raises(IndexCorrupt, match="'k3' appears more than once"):
        Index.open(root)


def test_non_string_key_in_keys_json_is_refused(tmp_path, small16):
    X, _ = small16
    root = make(tmp_path, X)
    snap = snap_dir(root)
    path = os.path.join(snap, "keys.json")
    keys = json.load(open(path))
    keys[0] = 17
    json.dump(keys, open(path, "w"))
    snapshot.write_checksums(snap)
    with pytest.raises(IndexCorrupt, match="not a list of keys"):
        Index.open(root)
