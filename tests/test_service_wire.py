"""numpy <-> Matrix: the fast byte-level encoding equals protobuf's own, and decoding checks
the declared shape."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.engine import InvalidArgument
from sanny.engine.api.wire import from_matrix, from_neighbors, neighbors, to_matrix
from sanny.v1 import sanny_pb2 as pb


@pytest.mark.parametrize("shape", [(3, 5), (1, 1), (200, 130), (0, 4), (2, 0)])
def test_to_matrix_equals_protobuf_encoding(shape):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    slow = pb.Matrix(rows=shape[0], dim=shape[1], values=x.ravel().tolist())
    fast = to_matrix(x)
    assert fast == slow and fast.SerializeToString() == slow.SerializeToString()
    np.testing.assert_array_equal(from_matrix(fast, "v"), x)


def test_special_values_survive():
    x = np.array([[np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38]], np.float32)
    y = from_matrix(to_matrix(x), "v")
    assert y.tobytes() == x.tobytes()


def test_declared_shape_is_checked():
    with pytest.raises(InvalidArgument) as e:
        from_matrix(pb.Matrix(rows=2, dim=3, values=[1.0] * 5), "queries")
    assert e.value.field == "queries.values"


def test_neighbors_round_trip_with_padding():
    keys = np.array([["a", "b", None], [None, None, None]], dtype=object)
    d = np.array([[0.5, 1.0, np.inf], [np.inf] * 3], np.float32)
    msgs = neighbors(keys, d)
    assert [list(m.keys) for m in msgs] == [["a", "b"], []]
    k2, d2 = from_neighbors(msgs, 3)
    assert k2.tolist() == keys.tolist()
    np.testing.assert_array_equal(d2, d)
