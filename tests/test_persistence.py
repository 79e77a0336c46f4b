"""Durability: checkpoint round trip, WAL replay, torn WAL tails, damaged directories, locking."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, IndexCorrupt, InvalidArgument
from sanny.engine import snapshot

from conftest import EXACT, NGT, keys_for, tree_digest

CHILD_TIMEOUT_S = 60  # hang guard for child processes


def _fill(idx, X, ops="all"):
    """A mix of writes; returns the expected {key: vector} afterwards."""
    idx.insert(keys_for(150), X[:150])
    expected = {f"k{i}": X[i] for i in range(150)}
    if ops == "all":
        idx.remove(["k3", "k4", "k100"])
        idx.upsert(["k5", "extra"], X[[160, 161]])
        idx.update(["k6"], X[162:163])
        for k in ("k3", "k4", "k100"):
            del expected[k]
        expected.update(k5=X[160], extra=X[161], k6=X[162])
    return expected


def _results(idx, Q):
    ids, d = idx.search_ids(Q, 8)
    keys = idx.keys_of(ids)
    return keys.tolist(), d


def _check_same(idx, expected, Q, before):
    assert len(idx) == len(expected)
    keys = sorted(expected)
    assert idx.exists(keys).all()
    np.testing.assert_array_equal(idx.get(keys), np.stack([expected[k] for k in keys]))
    k2, d2 = _results(idx, Q)
    assert k2 == before[0]
    np.testing.assert_allclose(d2, before[1], rtol=1e-6)


@pytest.mark.parametrize("inner", [EXACT, NGT], ids=["exact", "ngt"])
def test_close_open_round_trip(tmp_path, small16, inner):
    X, Q = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=4, inner=inner))
    expected = _fill(idx, X)
    before = _results(idx, Q)
    idx.close()
    assert os.path.getsize(os.path.join(root, "wal.log")) == 0   # checkpointed on close
    idx = Index.open(root)
    try:
        _check_same(idx, expected, Q, before)
        assert idx.config.S == 4 and idx.config.inner.kind == inner.kind
    finally:
        idx.close()


@pytest.mark.parametrize("inner,ops", [(EXACT, "all"), (NGT, "inserts"), (NGT, "all")],
                         ids=["exact-all", "ngt-inserts", "ngt-all"])
def test_wal_replay_without_save(tmp_path, small16, inner, ops):
    X, Q = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=4, inner=inner))
    expected = _fill(idx, X, ops)
    before = _results(idx, Q)
    idx.close(save=False)
    assert os.path.getsize(os.path.join(root, "wal.log")) > 0
    idx = Index.open(root)
    try:
        _check_same(idx, expected, Q, before)
    finally:
        idx.close(save=False)


def test_wal_replay_after_checkpoint(tmp_path, small16):
    """Writes after a save() come back from the WAL on top of the snapshot, exactly once."""
    X, Q = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    idx.insert(keys_for(100), X[:100])
    idx.save()
    idx.insert(keys_for(50, start=100), X[100:150])
    idx.remove(["k0"])
    before = _results(idx, Q)
    idx.close(save=False)
    for _ in range(2):                      # replaying twice changes nothing
        idx = Index.open(root)
        assert len(idx) == 149 and not idx.exists(["k0"])[0]
        assert _results(idx, Q)[0] == before[0]
        idx.close(save=False)


CHILD = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from conftest import small_data
    from sanny.engine import Index
    X = small_data()
    idx = Index.open(sys.argv[1])
    idx.insert([f"c{i}" for i in range(20)], X[:20])
    idx.remove(["c3"])
    print("done", flush=True)
    os._exit(0)                 # no close, no save: only the WAL has these writes
""")


def test_wal_replay_after_process_exit_without_close(tmp_path):
    from conftest import small_data
    X = small_data()
    root = str(tmp_path / "idx")
    Index.create(root, IndexConfig(dim=X.shape[1], S=2, inner=EXACT)).close()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = subprocess.run([sys.executable, str(script), root, os.path.dirname(__file__)],
                         capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr
    idx = Index.open(root)
    try:
        assert len(idx) == 19 and not idx.exists(["c3"])[0]
        np.testing.assert_array_equal(idx.get(["c0", "c19"]), X[[0, 19]])
    finally:
        idx.close()


def _wal(root):
    return os.path.join(root, "wal.log")


@pytest.mark.parametrize("tail", ["garbage", "torn_record", "bad_crc"])
def test_torn_wal_tail_ignored(tmp_path, small16, tail):
    X, Q = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    idx.insert(keys_for(30), X[:30])
    idx.insert(["last"], X[30])
    idx.close(save=False)
    data = open(_wal(root), "rb").read()
    if tail == "garbage":
        data += b"\x00\xffnot a record" * 7
        survivors = 31
    elif tail == "torn_record":        # a second copy of the log, cut mid-record
        data += data[: len(data) // 3]
        survivors = 31
    else:                               # flip a byte in the last record's vector payload
        data = data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:]
        survivors = 30
    with open(_wal(root), "wb") as f:
        f.write(data)
    idx = Index.open(root)
    assert len(idx) == survivors
    assert idx.exists(["last"])[0] == (survivors == 31)
    np.testing.assert_array_equal(idx.get(keys_for(30)), X[:30])
    # the damaged tail was cut off: writes after it survive the next replay
    idx.insert(["after"], X[40])
    idx.close(save=False)
    idx = Index.open(root)
    try:
        assert len(idx) == survivors + 1
        np.testing.assert_array_equal(idx.get(["after"])[0], X[40])
    finally:
        idx.close()


# -- damaged directories ------------------------------------------------------------------


@pytest.fixture
def saved_index(tmp_path, small16):
    X, _ = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    idx.insert(keys_for(50), X[:50])
    idx.close()
    return root


def _open_fails(root, *words):
    with pytest.raises(IndexCorrupt) as e:
        Index.open(root)
    msg = str(e.value)
    for w in words:
        assert w in msg, msg
    return msg


def test_open_missing_dir(tmp_path):
    root = str(tmp_path / "nope")
    _open_fails(root, "does not exist")
    assert not os.path.exists(root)          # nothing created


def test_open_missing_manifest(saved_index):
    os.remove(os.path.join(saved_index, "manifest.json"))
    before = tree_digest(saved_index, skip=())
    _open_fails(saved_index, "manifest.json", "missing")
    assert tree_digest(saved_index, skip=()) == before


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b'{"format": 99, "config": {}}',
                                     b"[1, 2, 3]"])
def test_open_corrupt_manifest(saved_index, content):
    with open(os.path.join(saved_index, "manifest.json"), "wb") as f:
        f.write(content)
    before = tree_digest(saved_index, skip=())
    _open_fails(saved_index, "manifest.json")
    assert tree_digest(saved_index, skip=()) == before


@pytest.mark.parametrize("current", ["snap-000000000999", "../elsewhere", "", None])
def test_open_current_points_nowhere(saved_index, current):
    path = os.path.join(saved_index, "CURRENT")
    if current is None:
        os.remove(path)
    else:
        with open(path, "w") as f:
            f.write(current)
    before = tree_digest(saved_index, skip=())
    _open_fails(saved_index, "CURRENT")
    assert tree_digest(saved_index, skip=()) == before


@pytest.mark.parametrize("victim", ["keys.json", "vectors.npy"])
def test_open_damaged_snapshot(saved_index, victim):
    snap = os.path.basename(snapshot.current(saved_index, check=False)[0])
    with open(os.path.join(saved_index, snap, victim), "wb") as f:
        f.write(b"\x00garbage")
    before = tree_digest(saved_index)        # work/ is scratch, LOCK the flock file
    msg = _open_fails(saved_index, snap, "damaged")
    assert tree_digest(saved_index) == before
    assert _open_fails(saved_index) == msg   # lock released: the same diagnosis, not 'already open'


def test_open_missing_worker_snapshot(saved_index):
    snap = os.path.basename(snapshot.current(saved_index, check=False)[0])
    shutil.rmtree(os.path.join(saved_index, snap, "worker-1"))
    before = tree_digest(saved_index)
    _open_fails(saved_index, "damaged")
    assert tree_digest(saved_index) == before


def test_open_twice_is_refused(saved_index, small16):
    X, Q = small16
    first = Index.open(saved_index)
    try:
        msg = _open_fails(saved_index, "already open")
        assert saved_index in msg
        first.insert(["still-works"], X[60])          # the first handle is unaffected
        assert first.exists(["still-works"])[0]
    finally:
        first.close()
    second = Index.open(saved_index)                   # free again once closed
    try:
        assert len(second) == 51
    finally:
        second.close()


def test_open_while_held_by_other_process(saved_index, tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from sanny.engine import Index
        idx = Index.open(sys.argv[1])
        print("open", flush=True)
        sys.stdin.readline()
        idx.close()
    """))
    child = subprocess.Popen([sys.executable, str(script), saved_index], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open"
        _open_fails(saved_index, "already open")
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(timeout=CHILD_TIMEOUT_S)
        Index.open(saved_index).close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_create_refuses_non_empty_dir(saved_index, small16):
    before = tree_digest(saved_index, skip=())
    with pytest.raises(InvalidArgument) as e:
        Index.create(saved_index, IndexConfig(dim=16, S=2, inner=EXACT))
    assert e.value.field == "path"
    assert tree_digest(saved_index, skip=()) == before


def test_create_overwrite_refuses_an_index_open_elsewhere(saved_index, small16):
    """overwrite=True deletes a directory only if no one has it open (flock on LOCK): an index
    open in this or another process is left as it is, and its handle keeps working."""
    X, _ = small16
    first = Index.open(saved_index)
    try:
        before = tree_digest(saved_index, skip=("LOCK",))
        with pytest.raises(IndexCorrupt, match="open in another process: not overwritten"):
            Index.create(saved_index, IndexConfig(dim=16, S=2, inner=EXACT), overwrite=True)
        assert tree_digest(saved_index, skip=("LOCK",)) == before
        first.insert(["still-here"], X[60])
        assert first.exists(["still-here"])[0]
    finally:
        first.close()
    fresh = Index.create(saved_index, IndexConfig(dim=16, S=2, inner=EXACT), overwrite=True)  # closed: allowed
    try:
        assert len(fresh) == 0
    finally:
        fresh.close()


def test_manifest_records_config(saved_index):
    with open(os.path.join(saved_index, "manifest.json")) as f:
        man = json.load(f)
    assert man["config"]["dim"] == 16 and man["config"]["S"] == 2
    assert man["layout"]["columns"] == [list(range(8)), list(range(8, 16))]


# -- crash during a checkpoint (fault injection) ------------------------------------------


class Crash(Exception):
    pass


def _inject(monkeypatch, point):
    def boom(*a, **k):
        raise Crash(point)

    if point == "writing":            # while the new snapshot folder is being written
        from sanny.engine.store import VectorStore
        monkeypatch.setattr(VectorStore, "save", boom)
    elif point == "rename":           # snapshot written and fsync'd, not yet renamed
        monkeypatch.setattr(os, "rename", boom)
    elif point == "current":          # renamed, CURRENT not yet switched
        monkeypatch.setattr(os, "replace", boom)
    elif point == "wal_reset":        # CURRENT switched, WAL not yet emptied
        from sanny.engine.wal import WriteAheadLog
        monkeypatch.setattr(WriteAheadLog, "reset", boom)


def _crash_in_save(tmp_path, small16, monkeypatch, point, new_writes):
    X, Q = small16
    root = str(tmp_path / "idx")
    idx = Index.create(root, IndexConfig(dim=16, S=2, inner=EXACT))
    idx.insert(keys_for(60), X[:60])
    idx.save()
    if new_writes:
        idx.insert(keys_for(20, start=60), X[60:80])
        idx.remove(["k0"])
    expected = _results(idx, Q)
    n = len(idx)
    crashed = False
    with monkeypatch.context() as m:
        _inject(m, point)
        try:
            idx.save()
        except Crash:
            crashed = True
    # with new writes the checkpoint must reach the injected point (else this tests nothing);
    # without, an engine may legitimately skip the no-op checkpoint altogether
    assert crashed or not new_writes
    idx.close(save=False)             # the process "dies" here: nothing more is written
    again = Index.open(root)
    try:
        assert len(again) == n
        assert _results(again, Q)[0] == expected[0]
        np.testing.assert_array_equal(again.get(["k1", "k59"]), X[[1, 59]])
    finally:
        again.close()


@pytest.mark.parametrize("point", ["writing", "rename", "current", "wal_reset"])
def test_crash_during_checkpoint_keeps_data(tmp_path, small16, monkeypatch, point):
    _crash_in_save(tmp_path, small16, monkeypatch, point, new_writes=True)


@pytest.mark.parametrize("point", ["writing", "rename", "current", "wal_reset"])
def test_crash_during_checkpoint_without_new_writes(tmp_path, small16, monkeypatch, point):
    """Regression: a save() at the same WAL seq as the live snapshot (save twice, train right
    after create) used to delete the live snapshot before renaming the new one into place."""
    _crash_in_save(tmp_path, small16, monkeypatch, point, new_writes=False)
