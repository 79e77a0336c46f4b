"""Repeated timings, provenance, resume and budget of the benchmark harness (tiny generated data)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest

from sanny.bench import grids, run_bench, runner, synthetic
from sanny.bench.algorithms.base import Algorithm
from sanny.bench.datasets import load

GRID = {"ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.1]}}], "flat": [{}]}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rep") / "tiny-32-euclidean.hdf5")
    synthetic.write(path, 1500, 32, queries=40, seed=5, k=20)
    return path


class Exact(Algorithm):
    """Brute force in numpy: a deterministic stand-in that counts its calls."""
    name = "exact"

    def fit(self, X):
        self.X, self.calls = X, 0

    def query(self, q, k):
        self.calls += 1
        return np.argsort(((self.X - q) ** 2).sum(1))[:k]


def test_measure_stores_median_between_min_and_max(data_file):
    ds = load(data_file)
    algo = Exact("euclidean")
    algo.fit(ds.train)
    row = runner.measure(algo, ds, k=10, repeats=4, single_queries=15, single_budget_s=100.0)
    assert row["repeats"] == 4 and row["single_n"] == 15 and row["recall"] == 1.0
    for key in ("qps_batch", "qps_single", "p50_ms", "p99_ms"):
        assert row[f"{key}_min"] <= row[key] <= row[f"{key}_max"]
    # warm-up batch + 4 timed batches of 40, one warm-up query, 4 single passes of 15
    assert algo.calls == 5 * 40 + 1 + 4 * 15


def test_spread_is_median_min_max():
    assert runner.spread("x", [3.0, 1.0, 10.0]) == {"x": 3.0, "x_min": 1.0, "x_max": 10.0}
    assert runner.spread("x", [None]) == {"x": None, "x_min": None, "x_max": None}


def test_rows_carry_provenance(data_file, tmp_path):
    rows = run_bench(data_file, str(tmp_path), grid=GRID, single_queries=5, repeats=3)
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    sha = hashlib.sha256(open(data_file, "rb").read()).hexdigest()
    assert len(rows) == 3
    for r in rows:
        p = r["provenance"]
        assert p["commit"] == head and isinstance(p["dirty"], bool)
        assert p["dataset_sha256"] == sha and p["dataset_file"] == os.path.basename(data_file)
        assert p["versions"]["numpy"] == np.__version__ and p["versions"]["faiss-cpu"] and p["versions"]["ngt"]
        assert p["cpu"]["count"] == os.cpu_count() and p["date"]
        assert "OMP_NUM_THREADS" in p["threads"]["env"]
        assert r["k"] == 10 and r["queries"] == 40 and r["repeats"] == 3
        assert r["qps_batch_min"] <= r["qps_batch"] <= r["qps_batch_max"]
    saved = json.load(open(tmp_path / "results.json"))
    assert saved[0]["provenance"]["commit"] == head


def test_resume_skips_done_settings(data_file, tmp_path, monkeypatch):
    out = str(tmp_path)
    run_bench(data_file, out, grid=GRID, single_queries=5, repeats=1)
    measured = []
    real = runner.measure
    monkeypatch.setattr(runner, "measure", lambda algo, *a, **kw: measured.append(str(algo)) or real(algo, *a, **kw))
    bigger = {"ngt": [{"build": {"graph": "anng"}, "query": {"epsilon": [0.0, 0.1, 0.2]}}], "flat": [{}]}
    rows = run_bench(data_file, out, grid=bigger, single_queries=5, repeats=1, resume=True)
    assert measured == ["ngt(graph=anng,edge_size_for_creation=10,edge_size_for_search=40,epsilon=0.2)"]
    assert sorted(r["query_params"].get("epsilon", -1) for r in rows) == [-1, 0.0, 0.1, 0.2]
    assert len(runner.read_rows_log(out)) == 4
    measured.clear()
    run_bench(data_file, out, grid=bigger, single_queries=5, repeats=1)  # no --resume: all again
    assert len(measured) == 4


def test_budget_keeps_ends_of_each_sweep():
    plan = grids.expand({"hnsw": [{"build": {"M": [8, 16]}, "query": {"efSearch": [8, 16, 32, 64, 128]}}],
                         "flat": [{}]})
    cut = grids.apply_budget(plan, 4)
    hnsw = [(b["M"], q["efSearch"]) for a, b, qs in cut if a == "hnsw" for q in qs]
    assert len(hnsw) == 4 and hnsw[0] == (8, 8) and hnsw[-1] == (16, 128)
    assert [a for a, _, _ in cut].count("flat") == 1
    assert grids.apply_budget(plan, None) == plan
    with pytest.raises(ValueError, match="budget"):
        grids.apply_budget(plan, 0)


def test_default_grid_sweeps_start_low():
    g = grids.default(384, 49000)
    assert min(q["efSearch"] for e in g["hnsw"] for q in grids.product(e["query"])) == 8
    counts = {a: sum(len(q) for _, _, q in grids.expand({a: g[a]})) for a in g if a != "flat"}
    # 8-12 settings per peer; Sanny up to 22 (two S=1 winners with beam sweeps sized by n and
    # dim up to recall 0.99, NGT, the lead split, the symqg split): its S=2 lead split gets as fine a T sweep near
    # recall 0.95 as S=1, and the S=2 union adds T=5 (S=1 refuses T < k) as the low end
    # (``--budget N`` gives an equal-size grid)
    assert counts["sanny"] <= 22 and all(8 <= c <= 12 for a, c in counts.items() if a != "sanny"), counts
    assert min(q["T"] for _, _, qs in grids.expand({"sanny": g["sanny"]}) for q in qs) == 5


def test_quantized_peers_sweep_probes_with_a_shallow_and_a_deep_rerank():
    """IVF-PQ fast-scan and ScaNN reach 0.99 on the shared sets only with a deep exact re-rank
    (resnet: ~2000 candidates) or many lists (minilm: ~1/4 of them, where a shallow re-rank is
    2.5x cheaper at 0.97): a shallow sweep and a deep one, probes rising in each."""
    for dim, n in ((384, 49000), (2048, 17382)):
        g = grids.default(dim, n)
        for name, probe, depth, deepest in (("ivfpq_fs", "nprobe", "k_factor", 200),
                                            ("scann", "leaves_to_search", "reorder", 3000)):
            (_, _, qs), = grids.expand({name: g[name]})
            steps = [(q[probe], q[depth]) for q in qs]
            shallow = [s for s in steps if s[1] == steps[0][1]]
            deep = [s for s in steps if s[1] > steps[0][1]]
            assert shallow == sorted(shallow) and deep == sorted(deep) and len(shallow) >= 4, (name, steps)
            assert len({d for _, d in deep}) >= 3 and deep[-1][1] >= deepest, (name, steps)
            assert steps[0][0] == 1 and 8 <= len(steps) <= 12, (name, steps)
            nlist = g[name][0]["build"]["nlist" if name == "ivfpq_fs" else "num_leaves"]
            assert shallow[-1][0] >= nlist // 4 and deep[-1][0] >= nlist // 4, (name, steps, nlist)
