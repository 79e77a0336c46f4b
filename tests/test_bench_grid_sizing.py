"""The default grid's beam sweeps are sized by n and dim (``grids.ef_ceiling``), high enough
that graph searches reach recall 0.99 on data of the shared sets' kinds, not set by hand."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import brute_force, keys_for, recall
from sanny.bench import grids
from sanny.bench.algorithms import get


def test_ceiling_is_a_power_of_two_growing_with_n_and_dim():
    sizes = [1000, 5000, 17382, 49000, 10**6, 10**8]
    dims = [32, 64, 384, 2048, 4096]
    for n in sizes:
        row = [grids.ef_ceiling(n, d) for d in dims]
        assert row == sorted(row)
        for c in row:
            assert c & (c - 1) == 0 and 160 <= c <= 8192
    for d in dims:
        col = [grids.ef_ceiling(n, d) for n in sizes]
        assert col == sorted(col)
    assert grids.ef_ceiling(0, 384) == grids.ef_ceiling(100_000, 384)  # unknown n: a 100k guess
    # headroom over the beams that reached 0.99 on the shared sets (49k x 384, 17k x 2048)
    assert grids.ef_ceiling(49000, 384) >= 4 * 128 and grids.ef_ceiling(17382, 2048) >= 8 * 64


@pytest.mark.parametrize("dim,n", [(384, 49000), (2048, 17382), (128, 10**6), (96, 2000)])
def test_default_sweeps_end_at_the_ceiling(dim, n):
    g = grids.default(dim, n)
    top = grids.ef_ceiling(n, dim)
    for name, key in (("hnsw", "efSearch"), ("symqg", "ef"), ("usearch", "expansion_search")):
        (_, _, qs), = grids.expand({name: g[name]})
        beams = [q[key] for q in qs]
        assert beams == sorted(beams) and beams[-1] == top and beams[0] <= 10, (name, beams)
        assert all(b <= 1.5 * a for a, b in zip(beams[2:], beams[3:])), beams  # no doubling above the low steps
    sanny = [q for _, b, qs in grids.expand({"sanny": g["sanny"]}) if b.get("kind") == "symqg" and b["S"] == 1
             for q in qs]
    assert max(q["ef_search"] for q in sanny) == top // 2 and min(q["ef_search"] for q in sanny) == 16


def _kind(name, n, dim, seed):
    """Data of the shared sets' kinds: CNN-like (non-negative, one dominant direction, low rank)
    or text-like (unit vectors around topic centres)."""
    rng = np.random.default_rng(seed)
    if name == "cnn":
        basis = np.abs(rng.standard_normal((24, dim))).astype(np.float32)
        x = np.maximum(rng.standard_normal((n, 24)) * np.linspace(4, 0.5, 24), 0) @ basis
        x += 0.2 * rng.random((n, dim))
        return x.astype(np.float32), "l2"
    centres = rng.standard_normal((40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.9 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), "cosine"


@pytest.mark.parametrize("kind,dim", [("cnn", 512), ("text", 384)])
def test_top_of_the_sweep_reaches_recall_099(make_index, kind, dim):
    """faiss HNSW (the peer's build) and Sanny's S=1 symqg at the sweep's lowest and highest
    beams: the sweep spans the range (low end below 0.99, top at or above it)."""
    from sanny.engine import InnerParams

    n = 4000
    data, metric = _kind(kind, n + 100, dim, seed=11)
    X, Q = data[:n], data[n:]
    gt, _ = brute_force(Q, X, 10, metric)
    g = grids.default(dim, n)
    algo = get("hnsw")(metric if metric == "l2" else "angular", **g["hnsw"][0]["build"])
    algo.fit(X)
    low_high = []
    for ef in (g["hnsw"][0]["query"]["efSearch"][0], g["hnsw"][0]["query"]["efSearch"][-1]):
        algo.set_query_arguments(efSearch=ef)
        low_high.append(recall(algo.batch_query(Q, 10), gt))
    algo.done()
    assert low_high[0] < 0.99 <= low_high[1], low_high
    idx = make_index(dim=dim, metric=metric, inner=InnerParams(kind="symqg", hnsw_ef_construction=200))
    idx.insert(keys_for(n), X)
    idx.build()
    efs = g["sanny"][1]["query"]["ef_search"]
    low, high = (recall(idx.search_ids(Q, 10, T=10, ef_search=ef)[0], gt) for ef in (efs[0], efs[-1]))
    assert low < 0.99 <= high, (low, high)
