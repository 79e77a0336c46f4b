"""``sanny bench-ingest`` on a tiny generated float16 angular file: every ingest path and the
latency phase report positive numbers, the busy-loop processes are gone afterwards, and the
Markdown / PNG come from the JSON (``--report-only`` rewrites the same table). No timing
assertions."""
from __future__ import annotations

import json
import os

import pytest

from sanny.bench import synthetic
from sanny.bench.ingest import PATHS, vald_available
from sanny.bench.ingest_latency import busy_loops
from sanny.engine.cli import main

N, QUERIES = 300, 40


@pytest.fixture(scope="module")
def tiny_hdf5(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "tiny-24-angular.hdf5")
    synthetic.write(path, 500, 24, queries=QUERIES, metric="angular", seed=3, k=20, float16=True)
    return path


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_bench_ingest_command(tiny_hdf5, tmp_path):
    out = str(tmp_path / "out")
    assert main(["bench-ingest", tiny_hdf5, "--out", out, "--n", str(N), "--batch", "64", "--repeats", "1",
                 "--busy", "1", "--inner", "exact", "--queries", str(QUERIES), "-k", "5", "--ef-search", "12", "--baseline-ef", "12"]) == 0

    with open(os.path.join(out, "ingest.json")) as f:
        doc = json.load(f)
    assert (doc["n"], doc["dim"], doc["metric"]) == (N, 24, "angular")
    assert doc["settings"]["batch"] == 64 and doc["settings"]["busy"] == 1 and doc["settings"]["ef_search"] == 12
    paths = [p for p in PATHS if p != "vald" or vald_available()]
    assert [(r["inner"], r["path"]) for r in doc["ingest"]] == [("exact", p) for p in paths]
    for r in doc["ingest"]:
        assert len(r["runs"]) == 1
        assert r["rate"]["median"] > 0 and r["rate"]["min"] > 0 and r["insert_s"]["median"] > 0
        assert ("build_s" in r) == (r["path"] == "embedded")
    assert doc["ingest"][0]["build_s"]["median"] >= 0

    lat, peer = doc["latency"]
    assert lat["inner"] == "exact" and lat["recall"] == 1.0  # exact inner: exact answers
    # the reference: faiss HNSW over the same vectors, timed the same way (quiet and busy)
    assert peer["inner"] == "faiss HNSW efSearch=12 (peer)" and peer["recall"] >= 0.9
    assert len(peer["runs"]) == 1 and peer["p90_ratio"]["median"] > 0 and all(gone(p) for p in peer["busy_pids"])
    (run,) = lat["runs"]
    for phase in ("quiet", "busy"):
        assert run[phase]["queries"] == QUERIES
        assert 0 < run[phase]["p50_ms"] <= run[phase]["p90_ms"] <= run[phase]["p99_ms"]
    assert lat["p90_ratio"]["median"] > 0
    assert len(lat["busy_pids"]) == 1
    assert all(gone(pid) for pid in lat["busy_pids"])
    assert not os.path.exists(os.path.join(out, "work"))  # index directories removed

    table = open(os.path.join(out, "ingest.md")).read()
    assert "| exact | embedded |" in table and "p90 busy/quiet" in table
    assert os.path.getsize(os.path.join(out, "ingest.png")) > 0

    os.remove(os.path.join(out, "ingest.md"))
    os.remove(os.path.join(out, "ingest.png"))
    assert main(["bench-ingest", "--out", out, "--report-only"]) == 0
    assert open(os.path.join(out, "ingest.md")).read() == table
    assert os.path.getsize(os.path.join(out, "ingest.png")) > 0

    # bench-report takes the directory as a section of BENCHMARKS.md, numbers from the JSON
    md_path = str(tmp_path / "BENCH.md")
    assert main(["bench-report", out, "--out", md_path]) == 0
    report = open(md_path).read()
    rate = doc["ingest"][0]["rate"]["median"]
    assert report.startswith("# Benchmarks") and "\n## Ingest and latency: " in report
    assert "| exact | embedded |" in report and f"{rate:,.0f}" in report
    assert "![ingest.png](out/ingest.png)" in report


def test_busy_loops_stopped_when_the_body_fails():
    with pytest.raises(RuntimeError, match="measurement failed"):
        with busy_loops(2) as pids:
            assert len(pids) == 2 and not any(gone(p) for p in pids)
            raise RuntimeError("measurement failed")
    assert all(gone(p) for p in pids)


def test_report_only_needs_the_json(tmp_path):
    assert main(["bench-ingest", "--out", str(tmp_path), "--report-only"]) == 2

