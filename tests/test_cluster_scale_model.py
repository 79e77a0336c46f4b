"""experiments/scale_model + scale_fit on fixed constants and tiny inputs: the model's arithmetic, the
fits and the validation plumbing, not this machine's speed (no timed assertions)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from experiments import scale_fit, scale_model
from experiments.scale_fit import T, coord_features, fit, hop_features, residuals, sub_features
from experiments.scale_model import compare, groups_of, predict, within

SUB = [1e-5, 3e-7, 2e-6, 1e-7, 5e-7]            # a + a' w + L (b + c w) + e L log2(s)
COORD = [1e-4, 1e-5, 2e-5, 1e-8, 1e-10, 3e-5, 4e-6]
M = {"sub": SUB, "coord": COORD, "hop": [3e-4, 1e-4], "graph_bytes_per_vector": 160.0}


def sub(n, w, s=1):
    L = math.log2(n)
    return SUB[0] + SUB[1] * w + L * (SUB[2] + SUB[3] * w) + SUB[4] * L * math.log2(s)


def coord(S, G, R, d):
    x = [1, G, S > 1, S * T, S * T * d, (R > 1) * G, (R > 1) * G * R]
    return float(np.dot(COORD, x))


def test_embedded_latency_is_coordinator_plus_every_cell_in_turn():
    p = predict(M, 40000, 64, R=2, S=4, embedded=True)
    # 2 x 4 = 8 subspace indexes in one process, each over 20000 rows of width 16
    assert p["workers_s"] == pytest.approx(8 * sub(20000, 16, 8))
    assert p["coord_s"] == pytest.approx(coord(4, 4, 2, 64))
    assert p["hop_s"] == 0 and p["latency_s"] == pytest.approx(p["coord_s"] + p["workers_s"])
    assert p["nodes"] == 1


def test_remote_latency_waits_for_one_cell_and_the_round_trips():
    p = predict(M, 40000, 64, R=2, S=4, groups=2)
    assert p["workers_s"] == pytest.approx(2 * sub(20000, 16, 2))     # S/G subspaces in turn
    assert p["hop_s"] == pytest.approx(3e-4 + 3 * 1e-4)                # R x G = 4 calls at once
    assert p["coord_s"] == pytest.approx(coord(4, 2, 2, 64))
    far = predict(M, 40000, 64, R=2, S=4, groups=2, delay=0.25e-3)
    assert far["latency_s"] - p["latency_s"] == pytest.approx(0.5e-3)
    assert p["qps"] == pytest.approx(1 / p["latency_s"])


def test_memory_per_node_divides_by_shards_and_groups():
    one = predict(M, 10**8, 2048, R=1, S=16, F=2, groups=16)
    four = predict(M, 10**8, 2048, R=4, S=16, F=2, groups=16)
    assert four["worker_node_bytes"] == pytest.approx(one["worker_node_bytes"] / 4)
    # slice + faiss' own copy of the vectors + links, one subspace of 128 dims per node
    assert one["worker_node_bytes"] == pytest.approx(10**8 * (8 * 128 + 160))
    two = predict(M, 10**8, 2048, R=1, S=16, F=2, groups=8)
    assert two["worker_node_bytes"] == pytest.approx(2 * one["worker_node_bytes"])
    assert four["nodes"] == 4 * 16 * 2 and one["coordinator_bytes"] == 4 * 10**8 * 2048


def test_groups_must_divide_subspaces():
    with pytest.raises(ValueError):
        predict(M, 1000, 64, S=4, groups=3)


def test_fits_recover_known_coefficients():
    sub_pts = [{"x": {"n": n, "w": w, "s": s}, "s": sub(n, w, s)}
               for n in (1000, 8000, 64000) for w in (8, 32, 64) for s in (1, 4)]
    assert fit(sub_pts, sub_features) == pytest.approx(SUB, rel=1e-6, abs=1e-12)
    grid = [(S, G, R, d) for d in (32, 128) for S in (1, 2, 8) for G in sorted({1, S}) for R in (1, 2, 4)]
    coord_pts = [{"x": {"S": S, "G": G, "R": R, "d": d}, "s": coord(S, G, R, d)} for S, G, R, d in grid]
    assert fit(coord_pts, coord_features) == pytest.approx(COORD, rel=1e-6, abs=1e-13)
    hop_pts = [{"x": {"k": 1}, "s": 3e-4}, {"x": {"k": 2}, "s": 4e-4}]
    assert fit(hop_pts, hop_features) == pytest.approx([3e-4, 1e-4])
    r = residuals(SUB, sub_pts, sub_features)
    assert r["median_abs"] == pytest.approx(0, abs=1e-9) and r["worst"] == pytest.approx(0, abs=1e-9)
    off = residuals(SUB, [{"x": {"n": 1000, "w": 8, "s": 1}, "s": sub(1000, 8) / 2}], sub_features)
    assert off["worst"] == pytest.approx(1.0)


def test_terms_never_go_below_zero():
    assert scale_fit.term([-1.0, 0.0, 0.0, 0.0, 0.0], sub_features, n=100, w=8) == 0.0


def test_validation_rows_compare_with_the_matching_prediction():
    emb = {"n": 20000, "d": 64, "R": 2, "S": 4, "workers": 0}
    rem = {"n": 20000, "d": 64, "R": 2, "S": 4, "workers": 2}
    assert groups_of(emb) == 4 and groups_of(rem) == 1
    want = predict(M, 20000, 64, 2, 4, 1, 1, False)["latency_s"]
    row = compare(M, rem, want / 1.25)
    assert row["G"] == 1 and row["predicted_s"] == pytest.approx(want)
    assert row["error"] == pytest.approx(0.25)
    assert compare(M, emb, 1.0)["predicted_s"] == pytest.approx(predict(M, 20000, 64, 2, 4, embedded=True)["latency_s"])
    assert within([row]) and not within([row], target=0.2)
    assert not within([row, {**row, "error": -0.31}])


def test_every_validation_configuration_is_a_grid_this_machine_can_run():
    for cfg in scale_model.VALIDATION:
        assert cfg["S"] % groups_of(cfg) == 0 and cfg["d"] % cfg["S"] == 0
        assert cfg["workers"] <= 2 and (cfg["workers"] == 0 or cfg["workers"] % cfg["R"] == 0)


def test_table_and_predictions_plumbing():
    row = {**compare(M, scale_model.VALIDATION[1], 1e-3), "spread": {"median": 1e-3, "min": 9e-4, "max": 2e-3}}
    text = scale_model.table([row])
    assert "embedded R=1 S=4 G=4 n=20000 d=64" in text and "1.000 (0.900-2.000)" in text
    big = scale_model.predictions(M)
    assert {p["R"] * p["groups"] * p["F"] for p in big} == {64}
    assert all(p["latency_s"] > 0 and p["S"] % p["groups"] == 0 for p in big)


def test_stub_worker_measures_the_real_coordinator(tmp_path):
    """The coordinator term's stub: a real Index over stub workers answers every query (R x G
    cells, union, re-rank), with T distinct ids per subspace."""
    from sanny.engine import Index, IndexConfig
    from sanny.bench.synthetic import clustered

    x = clustered(400, 16, 0)
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=16, S=4, workers=2, shards=2, T=T),
                      worker_factory=lambda spec, site: scale_fit.StubWorker(spec, 200, site.rank))
    try:
        ix.insert([str(i) for i in range(400)], x)
        keys, d = ix.search(x[:1], 5)  # single queries: what the coordinator term times
        assert keys.shape == (1, 5) and np.isfinite(d).all()
        assert ix.last_stats["union"] > T
    finally:
        ix.close(save=False)
    from sanny.workers import InnerParams, WorkerSpec

    w = scale_fit.StubWorker(WorkerSpec([0, 1], [4, 4], "l2", InnerParams()), 100, 0)
    ids, dd = w.search(np.zeros((1, 8)), T)
    assert ids.shape == (2, 1, T) and all(len(set(r)) == T for r in ids[:, 0])
    assert (np.diff(dd, axis=2) >= 0).all()


def test_interleaved_times_every_key_in_turn():
    calls = []
    t = scale_fit.interleaved({"a": lambda i: calls.append(("a", i)), "b": lambda i: calls.append(("b", i))},
                              3, rounds=2)
    # one warm-up pass of each, then two rounds that run a's calls, then b's
    assert [k for k, _ in calls] == ["a"] * 3 + ["b"] * 3 + (["a"] * 3 + ["b"] * 3) * 2
    assert [i for k, i in calls[:3]] == [0, 1, 2]
    assert set(t) == {"a", "b"} and all(v["min"] <= v["median"] <= v["max"] for v in t.values())


def test_run_times_validation_and_micro_measurements_together():
    cfg = {"n": 300, "d": 8, "R": 2, "S": 2, "workers": 0}
    seen = {}

    def fit_setup(stack, fns, calls):
        fns[("micro",)] = lambda i: None
        return lambda times: (seen.update(times), M)[1]

    m, rows = scale_model.run(configs=[cfg, {**cfg, "R": 1}], calls=4, rounds=2, fit_setup=fit_setup)
    assert m is M and set(seen) == {("micro",), ("validate", 0), ("validate", 1)}
    assert len(rows) == 2 and rows[1]["R"] == 1 and rows[0]["G"] == 2
    r = rows[0]
    assert r["predicted_s"] == pytest.approx(predict(M, 300, 8, 2, 2, embedded=True)["latency_s"])
    assert r["measured_s"] == r["spread"]["median"] == seen[("validate", 0)]["median"]
    assert r["error"] == pytest.approx(r["predicted_s"] / r["measured_s"] - 1)
    assert r["error_best"] == pytest.approx(r["predicted_s"] / r["spread"]["min"] - 1)


def test_remote_index_serves_from_worker_processes_and_stops_them(tmp_path):
    from sanny.bench.synthetic import clustered

    x = clustered(200, 8, 0)
    with scale_fit.remote_index(str(tmp_path), x, 2, 1, 2, 2, "exact") as (ix, procs):
        assert len(procs) == 2 and ix.has_remote_workers
        keys, _ = ix.search(x[:1], 3)
        assert keys[0][0] == "0"
    assert all(p.proc.poll() is not None for p in procs)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    checks = [{**compare(M, c, 1e-3)} for c in scale_model.VALIDATION[:3] + scale_model.VALIDATION[5:6]]
    scale_model._plot(scale_model.predictions(M), checks, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 0


def test_micro_measurements_give_points_for_their_fits():
    import contextlib

    with contextlib.ExitStack() as stack:
        fns = {}
        sub = scale_fit.sub_setup(stack, fns, grid=[(300, 8, 1), (300, 4, 2)], calls=3)
        coord = scale_fit.coord_setup(stack, fns, grid=[(1, 1, 1, 8), (2, 1, 2, 8)], calls=3)
        hop = scale_fit.hop_setup(stack, fns, grid=((1, 1, 1),), calls=3)
        assert len(fns) == 2 + 2 + 2
        times = scale_fit.interleaved(fns, 3, rounds=2)
    sub_pts, graph = sub(times)
    assert [p["x"] for p in sub_pts] == [{"n": 300, "w": 8, "s": 1}, {"n": 300, "w": 4, "s": 2}]
    assert graph > 0 and all(p["s"] > 0 for p in sub_pts)
    assert sub_pts[1]["s"] == pytest.approx(times[("sub", 300, 4, 2)]["median"] / 2)  # per subspace
    coord_pts = coord(times)
    assert [p["x"] for p in coord_pts] == [{"S": 1, "G": 1, "R": 1, "d": 8}, {"S": 2, "G": 1, "R": 2, "d": 8}]
    hop_pts = hop(times)
    assert hop_pts[0]["x"] == {"k": 1} and hop_pts[0]["s"] == max(hop_pts[0]["remote"] - hop_pts[0]["local"], 0.0)
    m = scale_fit.model(sub_pts, graph, coord_pts, hop_pts)
    assert {"sub", "coord", "hop", "sub_fit", "coord_fit", "hop_fit"} <= set(m)
