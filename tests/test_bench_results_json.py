"""bench.results: results.json written by write_json reads back with read_json unchanged."""
from __future__ import annotations

from sanny.bench.results import read_json, write_json


def test_rows_round_trip(tmp_path):
    rows = [{"algorithm": "sanny", "recall": 0.95, "build": {"S": 4}, "qps_single": None}]
    write_json(rows, str(tmp_path / "results.json"))
    assert read_json(str(tmp_path / "results.json")) == rows
