"""insert / upsert / update / remove / get / exists / len / keys_of, and failed writes."""
import os

import numpy as np
import pytest

from sanny.engine import AlreadyExists, Index, NotFound

from conftest import NGT, brute_force, keys_for, recall


@pytest.fixture(params=["exact", "ngt"])
def idx(request, make_index, small16):
    X, _ = small16
    cfg = {"inner": NGT} if request.param == "ngt" else {}
    index = make_index(dim=16, S=4, **cfg)
    index.insert(keys_for(100), X[:100])
    return index


def wal_size(index):
    return os.path.getsize(os.path.join(index.root, "wal.log"))


def test_len_exists_get(idx, small16):
    X, _ = small16
    assert len(idx) == 100
    assert idx.exists(["k0", "k99", "k100", "nope"]).tolist() == [True, True, False, False]
    assert idx.exists("k5").tolist() == [True]
    np.testing.assert_array_equal(idx.get(["k3", "k0"]), X[[3, 0]])
    assert idx.get(["k7"]).dtype == np.float32


def test_insert_then_search_finds_it(idx, small16):
    X, Q = small16
    v = (Q[0] + 0.1).astype(np.float32)
    idx.insert(["new"], v)
    assert len(idx) == 101
    keys, d = idx.search(Q[:1], 1)
    assert keys[0, 0] == "new" and d[0, 0] == pytest.approx(0.1 * 4, abs=1e-3)


def test_remove(idx, small16):
    X, Q = small16
    gt, _ = brute_force(Q, X[:100], 5)
    gone = sorted({f"k{i}" for i in gt[:, :2].ravel()})
    idx.remove(gone)
    assert len(idx) == 100 - len(gone)
    assert not idx.exists(gone).any()
    with pytest.raises(NotFound):
        idx.get([gone[0]])
    keys, _ = idx.search(Q, 10)
    assert not set(gone) & set(keys.ravel().tolist())
    live = np.array([f"k{i}" not in gone for i in range(100)])
    gt2, _ = brute_force(Q, X[:100], 10, live=live)
    assert recall(keys, [[f"k{i}" for i in row] for row in gt2]) >= 0.95


def test_removed_key_never_returned_even_with_huge_T(idx, small16):
    X, Q = small16
    idx.remove(["k0"])
    keys, _ = idx.search(X[:1], 50, T=200)   # the removed vector itself as the query
    assert "k0" not in keys.ravel().tolist()
    assert all(k is not None for k in keys.ravel())


def near_zero(d, v):
    """Distance of a vector to itself: |x|^2 - 2<x,x> + |x|^2 in float32 leaves ~eps*|x|^2 in
    the squared distance, i.e. ~sqrt(eps)*|x| after the square root."""
    return abs(float(d)) <= 1e-3 * float(np.linalg.norm(v))


def test_upsert_replaces_vector(idx, small16):
    X, Q = small16
    far = np.full(16, 50.0, np.float32)
    idx.upsert(["k1"], far)
    assert len(idx) == 100
    np.testing.assert_array_equal(idx.get(["k1"])[0], far)
    keys, d = idx.search(far, 1)
    assert keys[0, 0] == "k1" and near_zero(d[0, 0], far)
    keys, d = idx.search(X[1], 3)            # the old vector: k1 is no longer there
    assert "k1" not in keys[0].tolist() and d[0, 0] > 0.5
    idx.upsert(["k1", "fresh"], np.stack([X[1], far + 1]))   # upsert adds new keys too
    assert len(idx) == 101
    keys, d = idx.search(X[1], 1)
    assert keys[0, 0] == "k1" and near_zero(d[0, 0], X[1])


def test_update_replaces_vector(idx, small16):
    X, _ = small16
    idx.update(["k2", "k3"], X[[3, 2]])      # swap two vectors
    np.testing.assert_array_equal(idx.get(["k2", "k3"]), X[[3, 2]])
    keys, _ = idx.search(X[2], 1)
    assert keys[0, 0] == "k3"
    assert len(idx) == 100


def test_keys_of(idx):
    ids, _ = idx.search_ids(idx.get(["k4"]), 1)
    assert idx.keys_of(ids).tolist() == [["k4"]]
    assert idx.keys_of(np.array([-1, ids[0, 0]])).tolist() == [None, "k4"]
    idx.remove(["k4"])
    assert idx.keys_of(ids).tolist() == [[None]]     # removed ids resolve to no key


def test_reinsert_after_remove(idx, small16):
    X, _ = small16
    idx.remove(["k9"])
    idx.insert(["k9"], X[50])
    np.testing.assert_array_equal(idx.get(["k9"])[0], X[50])
    keys, _ = idx.search(X[9], 100, T=100)
    assert keys[0].tolist().count("k9") == 1      # only the new copy, never the old one


def _state(index, probe):
    keys, d = index.search(probe, 5)
    return len(index), keys.tolist(), d.tolist()


def _assert_reopen_same(index, state, probe):
    root = index.root
    index.close(save=False)
    again = Index.open(root)
    try:
        assert _state(again, probe) == state
    finally:
        again.close(save=False)


def test_insert_duplicate_key_writes_nothing(idx, small16):
    X, Q = small16
    before, wal = _state(idx, Q[:3]), wal_size(idx)
    with pytest.raises(AlreadyExists) as e:
        idx.insert(["new1", "k7", "new2"], X[200:203])
    assert "k7" in str(e.value)
    assert not idx.exists(["new1", "new2"]).any()
    np.testing.assert_array_equal(idx.get(["k7"])[0], X[7])   # not overwritten
    assert _state(idx, Q[:3]) == before and wal_size(idx) == wal
    _assert_reopen_same(idx, before, Q[:3])


def test_update_unknown_key_writes_nothing(idx, small16):
    X, Q = small16
    before, wal = _state(idx, Q[:3]), wal_size(idx)
    with pytest.raises(NotFound) as e:
        idx.update(["k1", "ghost"], X[200:202])
    assert "ghost" in str(e.value)
    np.testing.assert_array_equal(idx.get(["k1"])[0], X[1])
    assert _state(idx, Q[:3]) == before and wal_size(idx) == wal
    _assert_reopen_same(idx, before, Q[:3])


def test_remove_unknown_key_writes_nothing(idx, small16):
    _, Q = small16
    before, wal = _state(idx, Q[:3]), wal_size(idx)
    with pytest.raises(NotFound) as e:
        idx.remove(["k1", "ghost"])
    assert "ghost" in str(e.value)
    assert idx.exists(["k1"]).all()
    assert _state(idx, Q[:3]) == before and wal_size(idx) == wal
    _assert_reopen_same(idx, before, Q[:3])


def test_get_unknown_key(idx):
    with pytest.raises(NotFound) as e:
        idx.get(["k0", "ghost"])
    assert "ghost" in str(e.value)
    assert isinstance(e.value, KeyError)


def test_cosine_get_returns_normalised(make_index):
    idx = make_index(dim=4, S=2, metric="cosine")
    idx.insert(["a"], [[3.0, 0, 4.0, 0]])
    np.testing.assert_allclose(idx.get(["a"])[0], [0.6, 0, 0.8, 0], rtol=1e-6)


def test_unicode_and_path_keys(make_index, small16):
    X, _ = small16
    idx = make_index(dim=16, S=2)
    names = ["images/猫.jpg", "a b/c,d.png", "ключ", "x" * 500]
    idx.insert(names, X[:4])
    assert idx.exists(names).all()
    keys, _ = idx.search(X[:4], 1)
    assert keys[:, 0].tolist() == names
    root = idx.root
    idx.close(save=False)          # keys survive the WAL encoding
    again = Index.open(root)
    try:
        assert again.exists(names).all()
        np.testing.assert_array_equal(again.get(names), X[:4])
    finally:
        again.close(save=False)


def test_concurrent_writers_and_readers(make_index, small16):
    """The Index is documented thread-safe: parallel single-key inserts and searches lose
    nothing and raise nothing."""
    import threading

    X, Q = small16
    idx = make_index(dim=16, S=4)
    idx.insert(keys_for(100), X[:100])
    errors = []

    def writer(t):
        try:
            for i in range(100 + t, 300, 4):
                idx.insert([f"k{i}"], X[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def reader():
        try:
            for _ in range(30):
                keys, d = idx.search(Q, 5)
                assert all(k is not None for k in keys.ravel()) and np.isfinite(d).all()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(idx) == 300
    np.testing.assert_array_equal(idx.get(keys_for(300)), X[:300])
    keys, _ = idx.search(X[100:300], 1)
    assert keys[:, 0].tolist() == keys_for(200, start=100)
