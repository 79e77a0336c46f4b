"""experiments.split_check: best S>=2 vs best S=1 per recall threshold, from rows.jsonl."""
import json

from experiments.split_check import best, table


def _row(S, T, recall, batch, single, mode="union"):
    return {"algorithm": "sanny", "build_params": {"S": S}, "query_params": {"T": T, "candidates": mode},
            "recall": recall, "qps_batch": batch, "qps_single": single}


def test_best_picks_the_fastest_setting_that_reaches_the_threshold():
    rows = [_row(1, 16, 0.94, 9000, 3000), _row(1, 24, 0.96, 7000, 2500), _row(1, 48, 0.99, 4000, 1500)]
    assert best(rows, lambda r: True, 0.95, "qps_batch")["query_params"]["T"] == 24
    assert best(rows, lambda r: True, 0.999, "qps_batch") is None


def test_table_ratios_come_from_the_rows(tmp_path):
    rows = [_row(1, 24, 0.96, 8000, 2000), _row(2, 32, 0.97, 6000, 2200, "lead"),
            _row(2, 8, 0.80, 99999, 99999, "lead"),  # below every threshold: never the best
            {"algorithm": "hnsw", "build_params": {}, "query_params": {}, "recall": 1.0,
             "qps_batch": 1e9, "qps_single": 1e9}]  # other algorithms are ignored
    with open(tmp_path / "rows.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    lines = table(str(tmp_path), thresholds=(0.95,)).splitlines()
    batch, single = lines[2], lines[3]
    assert "8,000" in batch and "6,000" in batch and batch.endswith("| 0.75x |")
    assert "2,000" in single and "2,200" in single and single.endswith("| 1.10x |")
