"""bench.mixed_load: clients in threads or in their own processes drive a served index with
searches and upserts; every request is counted, none fails, and every upsert is in the index."""
from __future__ import annotations

import pytest

from sanny.bench.mixed_load import PATHS, engine_path, run

from conftest import keys_for


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_mixed_load_counts_every_request_and_writes_land(make_index, data32, processes):
    x, _ = data32
    ix = make_index(dim=32, S=2)
    ix.insert(keys_for(500), x[:500])
    ix.build()
    before = ix._coalescer.batches
    # bounded by count (the time bound is far away): 2 clients x 40 requests
    r = run(ix, clients=2, seconds=600, read=0.5, max_requests=40, processes=processes)
    assert r["errors"] == 0 and r["search"] + r["write"] == 80
    assert r["search"] > 0 and r["write"] > 0 and r["searches_per_s"] > 0
    assert ix._coalescer.batches - before >= 2  # warm-up search per client + measured ones
    written = [f"w{c}-{i}" for c in range(2) for i in range(40)]
    present = [k for k, e in zip(written, ix.exists(written)) if e]
    assert len(present) == r["write"]  # a client's upsert keys are distinct within 40 requests


def test_engine_paths_switch_batching_and_restore_it(make_index):
    ix = make_index(dim=8, S=2)
    for path in PATHS:
        with engine_path(ix, path):
            assert ix._coalescer.enabled == (path == "batched")
            assert (ix.insert.__name__ == "locked") == (path == "serialised")
    assert ix._coalescer.enabled and ix.insert.__name__ == "insert"
