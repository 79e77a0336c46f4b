"""The report's generated comparison: Sanny against the best peer and the split (S >= 2)
against S = 1 per recall threshold, with spreads from the repeats, one generated sentence, and
the stage profile rendered when the result directory has one."""
from __future__ import annotations

import json

from sanny.bench import ratios, report, stage_profile


def _row(algo, build, query, recall, qb, qs, spread=0.1):
    return {"dataset": "d", "algorithm": algo, "build_params": build, "query_params": query, "recall": recall,
            "qps_batch": qb, "qps_batch_min": qb * (1 - spread), "qps_batch_max": qb * (1 + spread),
            "qps_single": qs, "qps_single_min": qs * (1 - spread), "qps_single_max": qs * (1 + spread),
            "build_s": 1.0, "memory_bytes": 1, "index_bytes": 1, "n": 100, "dim": 8, "k": 10}


ROWS = [
    _row("sanny", {"S": 1}, {"T": 10}, 0.96, 1000, 400),
    _row("sanny", {"S": 1}, {"T": 40}, 0.995, 500, 200),
    _row("sanny", {"S": 2}, {"T": 20}, 0.97, 500, 600),
    _row("symqg", {}, {"ef": 24}, 0.96, 800, 500),
    _row("symqg", {}, {"ef": 64}, 0.99, 1000, 100),  # faster at 0.99 than at 0.95: best is per threshold
    _row("flat", {}, {}, 1.0, 5000, 5000),  # the exact baseline is no peer
]


def test_ratios_per_threshold_with_spread():
    c95, c99 = ratios.comparisons(ROWS)
    b, s = c95["qps_batch"], c95["qps_single"]
    assert b["sanny"]["qps_batch"] == 1000 and b["peer"]["qps_batch"] == 1000  # symqg's best >= 0.95
    assert b["vs_peer"] == "1.00× (0.82–1.22)"
    assert s["vs_peer"] == "1.20× (0.98–1.47)" and s["split"]["query_params"] == {"T": 20}
    assert b["split_vs_one"].startswith("0.50×") and s["split_vs_one"].startswith("1.50×")
    assert c99["qps_batch"]["split"] is None and c99["qps_batch"]["split_vs_one"] == "-"
    assert c99["qps_batch"]["vs_peer"].startswith("0.50×")


def test_sentence_says_where_the_split_loses():
    md = "\n".join(ratios.markdown(ROWS))
    assert "0.50× batch at 0.95, 1.50× single at 0.95" in md and "still costs speed" in md
    assert "profile below" not in md and "1/S of the graph memory" in md
    rows = [r if r["build_params"].get("S") != 2 else _row("sanny", {"S": 2}, {"T": 20}, 0.97, 2000, 600)
            for r in ROWS]
    assert "matches or beats" in "\n".join(ratios.markdown(rows))
    assert ratios.markdown([r for r in ROWS if r["algorithm"] != "sanny"]) == []


def test_report_renders_ratios_and_profile(tmp_path):
    d = tmp_path / "res"
    d.mkdir()
    (d / "results.json").write_text(json.dumps(ROWS))
    doc = {"queries": 5, "rounds": 2, "provenance": {"argv": ["DATA.hdf5", "--out", "res"]},
           "rows": [{"setting": "S=1 symqg", "stages_us": {"search_ids (whole call)": 40.0, "liveness": 2.5}},
                    {"setting": "S=2 symqg union", "stages_us": {
                        "search_ids (whole call)": 90.0, "worker 0 search": 20.0, "worker 1 search": 21.0,
                        "union + exact re-rank": 30.0, "search_ids, subspaces overlapped": 99.0,
                        "search_ids, subspaces in turn": 88.0}}]}
    (d / stage_profile.FILE).write_text(json.dumps(doc))
    md = report.build_report([str(d)], str(tmp_path / "B.md"))
    assert "### Sanny against the best peer, and the split against S=1" in md
    assert "| search_ids (whole call) | 40.0 | 90.0 |" in md and "| liveness | 2.5 | - |" in md
    assert "python -m sanny.bench.stage_profile DATA.hdf5 --out res" in md
    assert ("the single-query profile below: S=2 symqg union's 2 subspace searches take 41 µs of its 90 µs, "
            "the union and exact re-rank 30 µs, against 40 µs for S=1 symqg; overlapping its searches on the "
            "other core takes 99 µs against 88 µs in turn (the hand-off costs more") in md


def test_stage_profile_times_every_stage(tmp_path):
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.hdf5"
    with h5py.File(path, "w") as f:
        f["train"] = rng.standard_normal((1200, 160)).astype(np.float32)
        f["test"] = rng.standard_normal((6, 160)).astype(np.float32)
        f["neighbors"] = np.zeros((6, 10), np.int32)
        f["distances"] = np.zeros((6, 10), np.float32)
        f.attrs["distance"] = "euclidean"
    doc = stage_profile.run(str(path), str(tmp_path / "out"), queries=6, rounds=1)
    assert json.loads((tmp_path / "out" / stage_profile.FILE).read_text())["rows"] == doc["rows"]
    one, pca, split = (r["stages_us"] for r in doc["rows"])
    assert "top-k (no re-rank: exact inner distances)" in one and "bare SymphonyQG search_batch (same ef)" in one
    assert "exact re-rank" in pca and "PCA projection" in pca  # 160-d: auto PCA
    assert {"worker 0 search", "worker 1 search", "union + exact re-rank"} <= set(split)
    assert {"bare SymphonyQG search (its one-query call)", "batch of all: search_ids, per query",
            "batch of all: bare SymphonyQG search_batch, per query"} <= set(one)
    if stage_profile.parallel.cores() >= 2:
        assert {"search_ids, subspaces overlapped", "search_ids, subspaces in turn"} <= set(split)
    assert all(v > 0 for r in (one, pca, split) for v in r.values())
