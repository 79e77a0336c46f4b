"""Bad requests raise InvalidArgument naming the field, and leave the index untouched."""
import os

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InvalidArgument
from sanny.engine.validate import MAX_K, MAX_T

from conftest import EXACT, keys_for

DIM = 8


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(60)
    return rng.normal(size=(40, DIM)).astype(np.float32), rng.normal(size=(3, DIM)).astype(np.float32)


@pytest.fixture(scope="module", params=["l2", "cosine"])
def idx(request, tmp_path_factory, base):
    """One index per metric for the whole module: every test checks it is left unchanged, so
    sharing it is sound (a test that let a write through would fail its own check)."""
    X, _ = base
    root = tmp_path_factory.mktemp(request.param) / "idx"
    index = Index.create(str(root), IndexConfig(dim=DIM, S=2, metric=request.param, inner=EXACT))
    index.insert(keys_for(len(X)), X)
    yield index
    index.close(save=False)


def _state(index, probe):
    keys, d = index.search(probe, 5)
    wal = os.path.getsize(os.path.join(index.root, "wal.log"))
    return len(index), keys.tolist(), d.tolist(), wal


def _vec(n=1, **change):
    v = np.random.default_rng(61).normal(size=(n, DIM)).astype(np.float32)
    for (r, c), val in change.get("set", {}).items():
        v[r, c] = val
    return v


def _nan():
    return _vec(2, set={(1, 3): np.nan})


def _inf(sign=1):
    return _vec(2, set={(0, 0): sign * np.inf})


WRITES = {
    "wrong_dim": (lambda i: i.insert(["a"], np.ones((1, DIM + 1))), "vectors"),
    "wrong_dim_1d": (lambda i: i.insert(["a"], np.ones(DIM - 1)), "vectors"),
    "3d_array": (lambda i: i.insert(["a"], np.ones((1, 1, DIM))), "vectors"),
    "nan": (lambda i: i.insert(["a", "b"], _nan()), "vectors"),
    "inf": (lambda i: i.insert(["a", "b"], _inf()), "vectors"),
    "-inf": (lambda i: i.insert(["a", "b"], _inf(-1)), "vectors"),
    "overflow_to_inf": (lambda i: i.insert(["a"], np.full((1, DIM), 1e300)), "vectors"),
    "not_numeric": (lambda i: i.insert(["a"], [["x"] * DIM]), "vectors"),
    "ragged": (lambda i: i.insert(["a", "b"], [[1.0] * DIM, [1.0]]), "vectors"),
    "empty_batch": (lambda i: i.insert([], np.zeros((0, DIM))), "vectors"),
    "upsert_nan": (lambda i: i.upsert(["k0"], _nan()[1:]), "vectors"),
    "update_wrong_dim": (lambda i: i.update(["k0"], np.ones((1, 3))), "vectors"),
    "key_not_string": (lambda i: i.insert([1, 2], _vec(2)), "keys"),
    "key_bytes": (lambda i: i.insert([b"a"], _vec()), "keys"),
    "key_empty": (lambda i: i.insert([""], _vec()), "keys"),
    "key_none_in_list": (lambda i: i.insert(["a", None], _vec(2)), "keys"),
    "key_count_mismatch": (lambda i: i.insert(["a", "b", "c"], _vec(2)), "keys"),
    "duplicate_in_batch": (lambda i: i.insert(["a", "b", "a"], _vec(3)), "keys"),
    "upsert_duplicate_in_batch": (lambda i: i.upsert(["k0", "k0"], _vec(2)), "keys"),
    "remove_empty": (lambda i: i.remove([]), "keys"),
    "remove_duplicate": (lambda i: i.remove(["k0", "k0"]), "keys"),
    "remove_not_string": (lambda i: i.remove([0]), "keys"),
}

SEARCHES = {
    "query_wrong_dim": (lambda i, q: i.search(q[:, :-1], 3), "queries"),
    "query_nan": (lambda i, q: i.search(_nan(), 3), "queries"),
    "query_inf": (lambda i, q: i.search(_inf(), 3), "queries"),
    "query_empty": (lambda i, q: i.search(np.zeros((0, DIM)), 3), "queries"),
    "k_zero": (lambda i, q: i.search(q, 0), "k"),
    "k_negative": (lambda i, q: i.search(q, -1), "k"),
    "k_over_limit": (lambda i, q: i.search(q, MAX_K + 1), "k"),
    "k_float": (lambda i, q: i.search(q, 2.5), "k"),
    "k_bool": (lambda i, q: i.search(q, True), "k"),
    "T_below_k": (lambda i, q: i.search(q, 10, T=4), "T"),  # S=2: the union needs T >= 5
    "T_over_limit": (lambda i, q: i.search(q, 10, T=MAX_T + 1), "T"),
    "T_float": (lambda i, q: i.search(q, 10, T=20.0), "T"),
    "epsilon_nan": (lambda i, q: i.search(q, 3, epsilon=float("nan")), "epsilon"),
    "epsilon_minus_one": (lambda i, q: i.search(q, 3, epsilon=-1.0), "epsilon"),
    "epsilon_text": (lambda i, q: i.search(q, 3, epsilon="wide"), "epsilon"),
    "T_max_below_T": (lambda i, q: i.search(q, 3, T=20, adaptive=True, T_max=10), "T_max"),
    "T_max_over_limit": (lambda i, q: i.search(q, 3, adaptive=True, T_max=MAX_T + 1), "T_max"),
    "exists_empty": (lambda i, q: i.exists([]), "keys"),
    "get_not_string": (lambda i, q: i.get([3]), "keys"),
}


def _check(index, probe, call, field):
    before = _state(index, probe)
    with pytest.raises(InvalidArgument) as e:
        call()
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}:"), str(e.value)
    assert len(str(e.value)) > len(field) + 5        # a message, not just the name
    assert _state(index, probe) == before


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("case", sorted(WRITES))
def test_bad_write(idx, base, case):
    call, field = WRITES[case]
    _check(idx, base[1], lambda: call(idx), field)


@pytest.mark.parametrize("case", sorted(SEARCHES))
def test_bad_search(idx, base, case):
    call, field = SEARCHES[case]
    _check(idx, base[1], lambda: call(idx, base[1]), field)


def test_nan_row_reported(idx, base):
    with pytest.raises(InvalidArgument) as e:
        idx.insert(["a", "b"], _nan())
    assert "row 1" in str(e.value)


def test_wrong_dim_message_gives_both_dims(idx):
    with pytest.raises(InvalidArgument) as e:
        idx.insert(["a"], np.ones((1, DIM + 1)))
    assert str(DIM) in str(e.value) and str(DIM + 1) in str(e.value)


@pytest.mark.parametrize("op", ["insert", "query"])
def test_zero_vector_with_cosine(make_index, base, op):
    X, Q = base
    idx = make_index(dim=DIM, S=2, metric="cosine")
    idx.insert(keys_for(len(X)), X)
    zero = np.zeros((1, DIM), np.float32)
    if op == "insert":
        _check(idx, Q, lambda: idx.insert(["z"], zero), "vectors")
    else:
        _check(idx, Q, lambda: idx.search(zero, 3), "queries")


def test_zero_vector_fine_with_l2(make_index, base):
    X, _ = base
    idx = make_index(dim=DIM, S=2)
    idx.insert(["z"], np.zeros(DIM))
    keys, d = idx.search(np.zeros(DIM), 1)
    assert keys[0, 0] == "z" and d[0, 0] == 0.0


def test_k_larger_than_index_is_fine(idx, base):
    keys, d = idx.search(base[1], 100)
    assert keys.shape == (3, 100)
    assert sum(k is not None for k in keys[0]) == 40 and np.isinf(d[:, 40:]).all()


@pytest.fixture
def l2_idx(make_index, base):
    index = make_index(dim=DIM, S=2)
    index.insert(keys_for(len(base[0])), base[0])
    return index


# Regression: these used to escape as a bare TypeError.
@pytest.mark.parametrize("keys", [5, None, 2.5], ids=["int", "None", "float"])
def test_keys_not_a_list(l2_idx, base, keys):
    _check(l2_idx, base[1], lambda: l2_idx.insert(keys, _vec()), "keys")


@pytest.mark.parametrize("k", ["5", None, [3]], ids=["str", "None", "list"])
def test_k_not_a_number(l2_idx, base, k):
    _check(l2_idx, base[1], lambda: l2_idx.search(base[1], k), "k")


@pytest.mark.parametrize("call", ["remove", "exists", "get"])
def test_key_not_a_list_other_calls(l2_idx, base, call):
    _check(l2_idx, base[1], lambda: getattr(l2_idx, call)(7), "keys")


@pytest.mark.parametrize("value", [1e20, -3e19, 2e18])
def test_vectors_whose_distances_overflow_are_rejected(idx, base, value):
    """Finite components that overflow float32 distances would give empty answers silently."""
    _, Q = base
    before = _state(idx, Q)
    with pytest.raises(InvalidArgument, match="vectors.*overflow float32"):
        idx.insert(["huge"], _vec(1, set={(0, 2): value}))
    huge = np.full((1, DIM), value, np.float32)
    if idx.config.metric == "cosine":  # a query is normalised in float64 first: answered
        assert idx.search(huge, 3)[0][0][0] is not None
    else:
        with pytest.raises(InvalidArgument, match="queries.*overflow float32"):
            idx.search(huge, 3)
    assert _state(idx, Q) == before
    ok = np.full((1, DIM), 1e15, np.float32)  # large but safe: answered, not dropped
    assert idx.search(ok, 3)[0][0][0] is not None


@pytest.mark.parametrize("key", ["a\0b", "line\n", "tab\there", "esc\x1b[31m", "del\x7f", "c1\x85"])
def test_keys_with_control_characters_are_rejected(idx, base, key):
    _, Q = base
    before = _state(idx, Q)
    with pytest.raises(InvalidArgument, match="keys.*control character"):
        idx.upsert(["fine", key], _vec(2))
    assert _state(idx, Q) == before
    assert not idx.exists([key])[0]  # looking one up is still allowed (older indexes may hold one)
