"""``sanny demo`` (the README's main job) on a small size: through the gRPC server and client,
recall against exact search, the benchmark table and plot."""
from __future__ import annotations

import os

from sanny.bench.demo import run_demo


def test_demo_small(tmp_path, capsys):
    out = str(tmp_path / "demo")
    res = run_demo(out, n=3000, dim=48)
    assert res["recall"] >= 0.95 and res["qps"] > 0 and res["build_s"] > 0
    text = capsys.readouterr().out
    assert "recall@10 =" in text and "| sanny |" in text and "| hnsw |" in text
    assert os.path.exists(os.path.join(out, "bench", "pareto.png"))
    assert os.path.exists(os.path.join(out, "index", "manifest.json"))
