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
    assert "recall@10 =" in text and "| Sanny |" in text and "| faiss HNSW |" in text
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(table) == len(set(table)) == 1 + 4  # header + one row per algorithm, none repeated
    last = text.rstrip().splitlines()[-1]
    assert last == res["verdict"] and last.startswith("at recall >= 0.95: Sanny ")
    assert os.path.exists(os.path.join(out, "bench", "pareto.png"))
    assert os.path.exists(os.path.join(out, "index", "manifest.json"))


def rows(*specs):
    return [{"algorithm": a, "recall": r, "qps_batch": b, "qps_single": s, "build_params": {}, "query_params": {"x": i}}
            for i, (a, r, b, s) in enumerate(specs)]


def test_verdict_is_one_sentence_of_best_ratios():
    from sanny.bench.demo import summary, verdict

    rs = rows(("sanny", 0.96, 3000, 500), ("sanny", 0.99, 1000, 900), ("sanny", 0.90, 9000, 2000),
              ("hnsw", 0.97, 1500, 1000), ("hnsw", 0.94, 5000, 3000))
    assert verdict(rs) == "at recall >= 0.95: Sanny 2.0x faiss HNSW batch, 0.9x faiss HNSW single-query."
    assert "did not get there" in verdict(rows(("sanny", 0.9, 1, 1), ("hnsw", 0.99, 1, 1)))
    lines = summary(rs).splitlines()
    assert len(lines) == 4 and "| Sanny | 3,000 | 0.960 | x=0 | 900 |" in lines
