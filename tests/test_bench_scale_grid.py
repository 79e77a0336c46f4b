"""bench/scale_grid.json (the grid of the --prefix scale series) is a valid grid that sweeps
Sanny and faiss HNSW from low to high effort."""
import os

from sanny.bench import grids

HERE = os.path.dirname(os.path.abspath(__file__))


def test_scale_grid_expands_to_one_build_per_algorithm_with_rising_effort():
    grid = grids.resolve(os.path.join(HERE, "..", "bench", "scale_grid.json"), dim=384)
    plan = grids.expand(grid)
    assert [name for name, _, _ in plan] == ["sanny", "hnsw"]
    (_, sanny_build, sanny_q), (_, _, hnsw_q) = plan
    assert sanny_build == {"S": 1, "pca_dim": 128}
    Ts = [q["T"] for q in sanny_q]
    efs = [q["efSearch"] for q in hnsw_q]
    assert Ts == sorted(Ts) and Ts[0] <= 10 and efs == sorted(efs) and efs[0] == 8
