"""The Index owns its state: every attribute a search reads or sets exists from construction,
a search adds none (the pipeline goes through the Index's methods), and the state lock says
which thread holds it without a private RLock API."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sanny.engine.locks import StateLock

from conftest import keys_for

WAIT = 60  # seconds: a bound on waiting for a state, never reached when the code works


@pytest.mark.parametrize("candidates", ["union", "lead"])
def test_a_search_adds_no_attribute_to_the_index(make_index, data32, candidates):
    x, q = data32
    ix = make_index(dim=32, S=4)
    assert ix.last_stats == {} and ix._params_cache == {}
    ix.insert(keys_for(500), x[:500])
    ix.build()
    before = dict(vars(ix))
    ids, _ = ix.search_ids(q[:3], 5, candidates=candidates)
    assert set(vars(ix)) == set(before)
    assert ix.last_stats["queries"] == 3 and ix.last_stats["union"] >= 5
    assert len(ix._params_cache) == 1 and ids.shape == (3, 5)


def test_query_columns_follow_the_layout(make_index, data32):
    x, q = data32
    one = make_index("one", dim=32, S=1)
    one.insert(keys_for(200), x[:200])
    assert one.query_columns == [None]  # the whole space in order: the query block goes as is
    split = make_index("split", dim=32, S=4)
    split.insert(keys_for(200), x[:200])
    assert [list(c) for c in split.query_columns] == [list(c) for c in split.columns]
    assert len(split.query_columns) == 4


def test_state_lock_knows_its_holder():
    lock = StateLock()
    assert not lock.held()
    seen = {}
    with lock:
        with lock:  # re-entrant
            assert lock.held() and lock.depth() == 2
        assert lock.held()
        other = threading.Thread(target=lambda: seen.update(held=lock.held(), got=lock.acquire(timeout=0)))
        other.start()
        other.join(WAIT)
    assert seen == {"held": False, "got": False}  # another thread neither holds nor gets it
    assert not lock.held() and lock.depth() == 0
    with pytest.raises(RuntimeError):
        lock.release()  # not held: the RLock's error, the count unchanged
    assert lock.depth() == 0 and lock.acquire(timeout=0) and lock.held()
    lock.release()


def test_a_search_from_inside_a_held_state_lock_runs_at_once(make_index, data32):
    """No batch may wait for a lock its own thread holds (a search during a write or save)."""
    x, q = data32
    ix = make_index(dim=32, S=2)
    ix.insert(keys_for(300), x[:300])
    want = ix.search_ids(q[:2], 5)
    before = ix._coalescer.batches
    with ix._lock:
        got = ix.search_ids(q[:2], 5)
    assert ix._coalescer.batches == before  # ran directly, not through the batcher
    np.testing.assert_array_equal(got[0], want[0])
