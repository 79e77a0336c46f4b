"""register(): the index is the progress record (present keys are never re-extracted), writes
are grouped, --redo replaces, and a concurrent writer's keys are kept. No CNN needed: the
"extractor" here maps a file name to a fixed vector."""
from __future__ import annotations

import numpy as np

from sanny.engine.extract.extractor import Batch
from sanny.engine.extract.register import register

DIM = 8


def fake_batches(calls):
    def batches_for(files, keys):
        calls.append(list(keys))
        for a in range(0, len(files), 3):
            fs = files[a: a + 3]
            yield Batch(keys[a: a + 3], np.array([[float(f[-1])] * DIM for f in fs], np.float32))
    return batches_for


def test_second_run_extracts_only_new_keys(make_index):
    ix = make_index(dim=DIM, S=2)
    files = [f"/imgs/p{i}" for i in range(7)]
    keys = [f"p{i}" for i in range(7)]
    calls = []
    rep = register(ix, files[:5], keys[:5], fake_batches(calls), write_batch=4)
    assert (rep.written, rep.already) == (5, 0) and len(ix) == 5
    rep = register(ix, files, keys, fake_batches(calls), write_batch=4)
    assert (rep.written, rep.already) == (2, 5)
    assert calls[-1] == ["p5", "p6"]
    np.testing.assert_array_equal(ix.get(["p6"])[0], np.full(DIM, 6.0))


def test_redo_replaces_existing_vectors(make_index):
    ix = make_index(dim=DIM, S=2)
    register(ix, ["/a/x1"], ["k"], fake_batches([]))
    rep = register(ix, ["/a/x9"], ["k"], fake_batches([]), redo=True)
    assert rep.written == 1 and len(ix) == 1
    np.testing.assert_array_equal(ix.get(["k"])[0], np.full(DIM, 9.0))


def test_keys_inserted_meanwhile_by_someone_else_are_kept(make_index):
    ix = make_index(dim=DIM, S=2)
    files, keys = [f"/i/f{i}" for i in range(4)], [f"k{i}" for i in range(4)]

    def racing(fs, ks):
        ix.insert(["k2"], np.full((1, DIM), 7.0, np.float32))  # another writer, after our check
        yield from fake_batches([])(fs, ks)

    rep = register(ix, files, keys, racing, write_batch=10)
    assert rep.written == 3 and len(ix) == 4
    np.testing.assert_array_equal(ix.get(["k2"])[0], np.full(DIM, 7.0))
