"""Every peer behind the algorithm interface: right shapes, -1 padding, recall that rises with
the search effort and is near-exact at the generous end."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from sanny.bench import algorithms, synthetic
from sanny.bench.datasets import load
from sanny.bench.metrics import recall

CASES = {  # name: (library, build params, low-effort query, high-effort query)
    "hnsw_sq": ("faiss", {"M": 16, "efConstruction": 100}, {"efSearch": 8, "k_factor": 1}, {"efSearch": 128, "k_factor": 4}),
    "ivfpq_fs": ("faiss", {"nlist": 32, "m": 8}, {"nprobe": 1, "k_factor": 1}, {"nprobe": 32, "k_factor": 50}),
    "usearch": ("usearch", {"connectivity": 16, "expansion_add": 128}, {"expansion_search": 10}, {"expansion_search": 512}),
    "scann": ("scann", {"num_leaves": 32, "reorder": 100}, {"leaves_to_search": 1}, {"leaves_to_search": 32, "reorder": 200}),
    "symqg": ("rabitqlib", {"max_degree": 32, "ef_construction": 100}, {"ef": 10}, {"ef": 256}),
}


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("peers") / "p-32-euclidean.hdf5")
    synthetic.write(path, 3000, 32, queries=50, seed=11, k=20)
    return load(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_peer_recall_rises_with_effort(ds, name):
    lib, build, low, high = CASES[name]
    if importlib.util.find_spec(lib) is None:
        pytest.skip(f"{lib} not installed (pip install sanny[bench])")
    algo = algorithms.get(name)("euclidean", **build)
    algo.fit(ds.train)
    try:
        algo.set_query_arguments(**low)
        r_low = recall(ds, algo.batch_query(ds.test, 10))
        algo.set_query_arguments(**high)
        ids = algo.batch_query(ds.test, 10)
        assert ids.shape == (50, 10)
        r_high = recall(ds, ids)
        assert r_high >= 0.97 and r_high >= r_low - 0.02  # graph search: more effort, not always monotone
        one = algo.query(ds.test[3], 10)
        assert np.array_equal(np.asarray(one)[:10], ids[3])
    finally:
        algo.done()


def test_scann_reorder_depth_is_a_query_argument(ds):
    """The build's ``reorder`` is only the default: a query's ``reorder`` re-ranks that many
    candidates exactly (the grids raise it with ``leaves_to_search``)."""
    if importlib.util.find_spec("scann") is None:
        pytest.skip("scann not installed (pip install sanny[bench])")
    algo = algorithms.get("scann")("euclidean", num_leaves=32, reorder=10)
    algo.fit(ds.train)
    try:
        algo.set_query_arguments(leaves_to_search=32)
        shallow = recall(ds, algo.batch_query(ds.test, 10))
        algo.set_query_arguments(leaves_to_search=32, reorder=3000)  # every row re-ranked: exact
        assert algo.query_params == {"leaves_to_search": 32, "reorder": 3000}
        assert recall(ds, algo.batch_query(ds.test, 10)) == 1.0 > shallow
        algo.set_query_arguments(leaves_to_search=32)  # back to the build's depth
        assert recall(ds, algo.batch_query(ds.test, 10)) == shallow
    finally:
        algo.done()
