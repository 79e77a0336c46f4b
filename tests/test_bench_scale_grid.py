"""bench/scale_grid.json (the grid of the --prefix scale series) is a valid grid that sweeps
Sanny and every peer from low to high effort in a few settings each, and ``max_n`` leaves a
grid entry out above its size."""
import os

import pytest

from sanny.bench import grids

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = os.path.join(HERE, "..", "bench", "scale_grid.json")
PEERS = ("hnsw", "hnsw_sq", "ivfpq_fs", "usearch", "scann", "symqg", "ngt")
EFFORT = {"sanny": "T", "hnsw": "efSearch", "hnsw_sq": "efSearch", "ivfpq_fs": "nprobe", "usearch": "expansion_search",
          "scann": "leaves_to_search", "symqg": "ef", "ngt": "epsilon"}


def test_scale_grid_expands_to_one_build_per_algorithm_with_rising_effort():
    plan = grids.expand(grids.resolve(SCALE, dim=384))
    assert [name for name, _, _ in plan] == ["sanny", "sanny", *PEERS]
    assert [b for _, b, _ in plan[:2]] == [{"S": 1, "pca_dim": 128},
                                          {"S": 1, "kind": "symqg", "hnsw_ef_construction": 100}]
    for i, (name, _, qs) in enumerate(plan):
        key = "ef_search" if i == 1 else EFFORT[name]  # Sanny's symqg: T = k, its beam rises
        effort = [q[key] for q in qs]
        assert effort == sorted(effort) and (name == "hnsw" or 5 <= len(qs) <= 8), (name, effort)
    assert plan[0][2][0]["T"] <= 10 and plan[2][2][0]["efSearch"] == 8


def test_max_n_leaves_an_entry_out_above_its_size():
    grid = {"flat": [{}],
            "hnsw": [{"build": {"M": 8}, "query": {"efSearch": 16}, "max_n": 100_000},
                     {"build": {"M": 16}, "query": {"efSearch": 16}}],
            "scann": [{"build": {"num_leaves": 100}, "query": {"leaves_to_search": 4}, "max_n": 100_000}]}
    assert grids.resolve(grid, 384, n=100_000) == grid          # up to max_n: all of it
    assert grids.resolve(grid, 384) == grid                     # n unknown: all of it
    big = grids.resolve(grid, 384, n=1_000_000)
    assert big == {"flat": [{}], "hnsw": [grid["hnsw"][1]]}      # scann dropped, one hnsw build left
    assert [b for _, b, _ in grids.expand(big)] == [{}, {"M": 16}]
    assert grids.resolve(grid, 384, names=["scann"], n=1_000_000) == {}


@pytest.mark.parametrize("bad", [0, -5, "100000", 1.5, True])
def test_max_n_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_n"):
        grids.expand({"flat": [{"max_n": bad}]})
    with pytest.raises(ValueError, match="max_n"):
        grids.resolve({"flat": [{"max_n": bad}]}, 384, n=10)


def test_scale_grid_runs_the_slow_builds_only_up_to_100k():
    """NGT and usearch builds would take the 1M step past ~45 minutes on 2 cores (100k builds x
    ~12): they stop at 100k; Sanny (both builds), SymphonyQG, faiss HNSW / HNSW-SQ, IVF-PQ and
    ScaNN go on."""
    assert sorted(grids.resolve(SCALE, dim=384, n=100_000)) == sorted(["sanny", *PEERS])
    at_1m = grids.resolve(SCALE, dim=384, n=1_000_000)
    assert sorted(at_1m) == ["hnsw", "hnsw_sq", "ivfpq_fs", "sanny", "scann", "symqg"]
    assert len(at_1m["sanny"]) == 2
