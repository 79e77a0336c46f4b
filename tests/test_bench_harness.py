"""The benchmark harness end to end on a tiny generated ann-benchmarks file: rows, recall
definition, Pareto table, plots, and the growing-prefix mode."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from sanny.bench import run_bench
from sanny.bench.datasets import load
from sanny.bench.metrics import recall
from sanny.bench.demo import make_features, write_hdf5

GRID = {
    "sanny": [{"build": {"S": 2}, "query": {"T": [10, 40], "epsilon": 0.1}}],
    "ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": 0.1}}],
    "flat": [{}],
}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    train, test = make_features(3000, 32, n_test=60, seed=3)
    path = str(tmp_path_factory.mktemp("bench") / "tiny-32-euclidean.hdf5")
    write_hdf5(path, train, test)
    return path


def test_recall_is_the_distance_threshold_definition(data_file):
    ds = load(data_file)
    truth = ds.neighbors[:, :10].astype(np.int64)
    assert recall(ds, truth) == 1.0
    half = truth.copy()
    half[:, 5:] = -1                        # missing results count for nothing
    assert recall(ds, half) == pytest.approx(0.5)
    dup = np.repeat(truth[:, :1], 10, axis=1)  # one right id repeated counts once
    assert recall(ds, dup) == pytest.approx(0.1)


def test_run_writes_rows_table_and_plot(data_file, tmp_path):
    out = str(tmp_path / "out")
    rows = run_bench(data_file, out, grid=GRID, single_queries=10, single_budget_s=0.5)
    assert {r["algorithm"] for r in rows} == {"sanny", "ngt", "flat"}
    assert len(rows) == 4                   # two sanny settings, one ngt, one flat
    flat = next(r for r in rows if r["algorithm"] == "flat")
    assert flat["recall"] == 1.0            # exact search is exact
    for r in rows:
        assert r["qps_batch"] > 0 and r["qps_single"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
        assert r["build_s"] >= 0 and r["n"] == 3000 and r["dim"] == 32
    sanny = sorted((r for r in rows if r["algorithm"] == "sanny"), key=lambda r: r["query_params"]["T"])
    assert sanny[1]["recall"] >= sanny[0]["recall"] and sanny[1]["recall"] > 0.9
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    saved = saved["rows"] if isinstance(saved, dict) else saved
    assert len(saved) == 4
    table = open(os.path.join(out, "pareto.md")).read()
    assert "| flat | 0.95 |" in table and "| sanny |" in table
    with open(os.path.join(out, "pareto.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_prefixes_recompute_ground_truth_and_plot_scaling(data_file, tmp_path):
    out = str(tmp_path / "pre")
    rows = run_bench(data_file, out, grid={"flat": [{}]}, prefixes=[1000, 3000], single_queries=5,
                     single_budget_s=0.2)
    assert sorted(r["n"] for r in rows) == [1000, 3000]
    assert all(r["recall"] == 1.0 for r in rows)  # exact search vs the recomputed prefix truth
    assert os.path.exists(os.path.join(out, "scaling.png"))


def test_prefix_series_leaves_out_entries_above_their_max_n(data_file, tmp_path):
    out = str(tmp_path / "maxn")
    grid = {"flat": [{}],
            "hnsw": [{"build": {"M": 8, "efConstruction": 40}, "query": {"efSearch": 16}, "max_n": 1000}]}
    rows = run_bench(data_file, out, grid=grid, prefixes=[1000, 3000], single_queries=5,
                     single_budget_s=0.2)
    assert sorted((r["algorithm"], r["n"]) for r in rows) == [("flat", 1000), ("flat", 3000), ("hnsw", 1000)]
