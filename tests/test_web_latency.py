"""experiments/web_latency.py end to end on a small run: every request through the page's HTTP
endpoint answers 10 neighbours over both backends, and the report renders from its json."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("flask_wtf")
pytest.importorskip("urllib3")

from experiments import web_latency  # noqa: E402


def test_small_run_writes_json_and_table(tmp_path):
    out = str(tmp_path / "wl")
    assert web_latency.main(["--repeats", "2", "--warmup", "1", "--n", "50", "--out", out]) == 0
    res = json.load(open(out + ".json"))
    assert set(res["backends"]) == {"embedded", "server"}
    for row in res["backends"].values():
        assert len(row["runs_ms"]) == 2 and row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert 0 < row["features_ms_median"] < row["max_ms"]
    assert 900_000 <= res["pixels"] and res["png_bytes"] > 10**6  # a real 1-MP, photo-sized PNG
    md = open(out + ".md").read()
    assert "| embedded |" in md and "| server |" in md and res["command"] in md
    (tmp_path / "wl.md").unlink()
    assert web_latency.main(["--report", out]) == 0 and open(out + ".md").read() == md
