"""``python -m experiments.grid_memory`` end to end on a tiny generated dataset: an R=2 x S=2 grid
of 4 `sanny worker` processes, each in its own network namespace, answers exactly like the
embedded process (exact inner index), every worker holds 1/4 of the slices, the memory figures
are there, the outputs are written, and every process and namespace it made is gone.

Needs root and a kernel that allows network namespaces (CI runs as root): skipped otherwise."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from sanny.bench.demo import make_features, write_hdf5
from experiments.grid_memory import main
from sanny.bench.netns import SUBNET, unavailable
from sanny.bench.procs import descendants

N, DIM = 2000, 32


@pytest.fixture(scope="module")
def tiny_hdf5(tmp_path_factory):
    why = unavailable()
    if why:
        pytest.skip(f"network namespaces unavailable here: {why}")
    path = str(tmp_path_factory.mktemp("data") / "tiny-32-euclidean.hdf5")
    train, test = make_features(N, DIM, n_test=100, seed=0)
    write_hdf5(path, train, test)
    return path


def test_grid_memory_end_to_end(tiny_hdf5, tmp_path):
    before = set(descendants(os.getpid()))
    out = str(tmp_path / "out")
    assert main([tiny_hdf5, "--out", out, "--inner", "exact", "--keep-vectors", "both"]) == 0

    for name in ("grid-memory.json", "grid-memory.md", "grid-memory.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    assert not os.path.exists(os.path.join(out, "work"))  # indexes, worker dirs and logs removed
    with open(os.path.join(out, "grid-memory.json")) as f:
        doc = json.load(f)
    assert doc["provenance"]["commit"] and doc["provenance"]["dataset_sha256"]
    rows = doc["rows"]
    assert [r["keep_vectors"] for r in rows] == [True, False]
    table = open(os.path.join(out, "grid-memory.md")).read()
    for r in rows:
        assert (r["R"], r["S"], r["F"], r["inner"], r["n"]) == (2, 2, 1, "exact", N)
        assert f"| exact | {r['keep_vectors']} |" in table
        # exact inner index: the grid's answers are the embedded engine's, query for query
        assert r["same_answers"] == 1.0
        assert r["recall_grid"] == r["recall_embedded"] >= 0.9
        ws = r["workers"]
        assert len(ws) == 4
        assert {(w["shard"], w["group"]) for w in ws} == {(0, 0), (0, 1), (1, 0), (1, 1)}
        for w in ws:  # each holds half the rows of half the dimensions: 1/4 of the slice data
            assert w["count"] == N // 2 and sum(w["widths"]) == DIM // 2
            assert 4 * w["slice_bytes"] == r["embedded_bytes"]["slice_bytes"]
            assert w["address"].startswith(f"{SUBNET}.") and not w["address"].startswith(f"{SUBNET}.1:")
            assert 0 < w["baseline_rss_mb"] and 0 < w["loaded_rss_mb"] <= w["hwm_mb"] and 0 < w["rss_mb"] <= w["hwm_mb"]
        for p in (r["embedded"], r["embedded_baseline"], r["coordinator"]):
            assert 0 < p["rss_mb"] <= p["hwm_mb"]
        assert r["ratio_rss"] > 0 and r["ratio_loaded"] > 0 and r["ratio_hwm"] > 0 and r["ratio_net"] is not None

    # every process it started (build-time workers, served topologies) and every namespace is gone
    assert set(descendants(os.getpid())) <= before
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith(f"sanny{os.getpid()}-")]
