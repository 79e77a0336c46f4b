"""bench.default_check: the no-flag build's recall and QPS on a file's test queries, its
leave-one-out gap, and the report holding it against the best hand-picked row of one run."""
from __future__ import annotations

import json

from sanny.bench import default_check
from sanny.bench.results import write_json
from sanny.bench.synthetic import write
from sanny.engine import cli


def row(qp: dict, recall: float, qps: float) -> dict:
    return {"algorithm": "sanny", "build_params": {"S": 1, "kind": "symqg"}, "query_params": qp,
            "recall": recall, "qps_batch": qps, "qps_batch_min": qps - 1, "qps_batch_max": qps + 1}


def test_check_and_report(tmp_path, capsys):
    data = str(tmp_path / "d.hdf5")
    write(data, 2000, 16, queries=50, seed=1)
    assert cli.main(["build", data, "--index", str(tmp_path / "ix")]) == 0
    c = default_check.check(data, str(tmp_path / "ix"), repeats=2)
    assert 0 <= c["recall"] <= 1 and c["qps_batch_min"] <= c["qps_batch"] <= c["qps_batch_max"]
    assert c["gap"] == c["loo_recall"] - c["recall"] and c["real_sweep"]
    folder = tmp_path / "res"
    (folder / "bench-d").mkdir(parents=True)
    (folder / "check-d.json").write_text(json.dumps(c))
    write_json([row({"T": 10, "ef_search": 24}, 0.96, 1000.0), row({"T": 10, "ef_search": 16}, 0.93, 3000.0),
                row({"T": 24, "ef_search": 24, **default_check.MARK}, 0.97, 900.0)],
               str(folder / "bench-d" / "results.json"))
    text = default_check.report(str(folder))
    assert (folder / "defaults.md").read_text() == text
    assert f"| d.hdf5 | {c['setting']['kind']} S=1" in text
    assert "| d | S=1 kind=symqg T=10 ef_search=24 | 1,000 (999-1,001) | 900 (899-901) | 0.90x |" in text

    t = default_check.interleaved(data, str(tmp_path / "ix"), str(folder / "bench-d"), rounds=2)
    assert t["hand_picked"] == "S=1 kind=symqg T=10 ef_search=24" and t["rounds"] == 2
    assert all(0.5 <= r <= 1 for r in t["recall"].values())
    assert t["ratio_min"] <= t["ratio_median"] <= t["ratio_max"]
    (folder / "check-d.json").write_text(json.dumps({**c, "interleaved": t}))
    assert "2 rounds |" in default_check.report(str(folder))
