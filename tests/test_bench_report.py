"""bench-report and bench-compare: numbers in the outputs are the ones in the result files."""
from __future__ import annotations

import json
import os

import pytest

from sanny.bench import compare, report, results
from sanny.engine.cli import main


def _row(algo, recall, qps, qps_single=None, build_s=1.0, params=None):
    return {"dataset": "toy", "algorithm": algo, "build_params": {}, "query_params": params or {"x": qps},
            "recall": recall, "qps_batch": qps, "qps_batch_min": qps * 0.9, "qps_batch_max": qps * 1.1,
            "qps_single": qps_single or qps / 2, "qps_single_min": None, "qps_single_max": None,
            "p50_ms": 0.1, "p99_ms": 0.3, "build_s": build_s, "memory_bytes": 2**20, "index_bytes": None,
            "n": 1000, "dim": 8, "k": 10, "queries": 50, "repeats": 3,
            "provenance": {"commit": "abc123", "dirty": False, "date": "2026-01-01T00:00:00+00:00",
                           "versions": {"python": "3.11"}, "cpu": {"model": "X", "count": 2, "usable": 2},
                           "argv": ["bench", "toy.hdf5", "--out", "r"], "dataset_file": "toy.hdf5",
                           "dataset_sha256": "f00d"}}


ROWS_A = [_row("sanny", 0.93, 1234.0), _row("sanny", 0.991, 777.0), _row("hnsw", 0.96, 5000.0, build_s=2.5)]
ROWS_B = [_row("sanny", 0.93, 2468.0), _row("sanny", 0.991, 700.0), _row("hnsw", 0.96, 2500.0, build_s=2.5)]


def _write(dirpath, rows, peers=None):
    os.makedirs(dirpath, exist_ok=True)
    results.write_all(rows, dirpath)
    if peers:
        json.dump(peers, open(os.path.join(dirpath, "peers.json"), "w"))
    return dirpath


def test_report_tables_hold_the_file_numbers(tmp_path):
    d = _write(str(tmp_path / "r"), ROWS_A, {"scann": {"status": "unavailable", "reason": "no wheel for this CPU"},
                                               "hnsw": {"status": "ok"}})
    open(os.path.join(d, "pareto.png"), "wb").write(b"png")
    out = str(tmp_path / "BENCH.md")
    md = report.build_report([d], out)
    assert open(out).read() == md
    # sanny at 0.90: best median 1,234 with min-max 1,111-1,357; at 0.99 777; hnsw 5,000 at 0.90/0.95
    assert "| sanny | 0.90 | 1,234 (1,111–1,357) |" in md
    assert "| sanny | 0.99 | 777 (699–855) |" in md
    assert "| hnsw | 0.95 | 5,000 (4,500–5,500) |" in md and "| hnsw | 0.99 |" not in md
    assert "| 2 (1) |" in md                    # sanny: two settings, one build
    assert "`abc123`" in md and "sha256 `f00d`" in md and "sanny bench toy.hdf5 --out r" in md
    assert "| scann | **did not run**: no wheel for this CPU |" in md
    assert "](r/pareto.png)" in md


def test_report_lists_every_command_and_the_runs_notes(tmp_path):
    resumed = _row("hnsw", 0.97, 4000.0)
    resumed["provenance"] = {**resumed["provenance"], "argv": ["bench", "toy.hdf5", "--out", "r", "--resume"]}
    d = _write(str(tmp_path / "r"), [*ROWS_A, resumed])
    open(os.path.join(d, report.NOTES_FILE), "w").write("The second command added one setting.\n")
    md = report.build_report([d], str(tmp_path / "BENCH.md"))
    assert "sanny bench toy.hdf5 --out r\nsanny bench toy.hdf5 --out r --resume\n" in md
    assert "The second command added one setting." in md


def test_compare_ratios(tmp_path):
    table = compare.ratios(ROWS_A, ROWS_B)
    got = {(r["algorithm"], r["threshold"]): r for r in table}
    assert got[("sanny", 0.90)]["qps_batch_ratio"] == pytest.approx(2.0)
    assert got[("sanny", 0.99)]["qps_batch_ratio"] == pytest.approx(700 / 777)
    assert got[("hnsw", 0.95)]["qps_batch_ratio"] == pytest.approx(0.5)
    assert got[("hnsw", 0.95)]["qps_single_ratio"] == pytest.approx(0.5)
    assert ("hnsw", 0.99) not in got


def test_cli_report_and_compare(tmp_path, capsys):
    a, b = _write(str(tmp_path / "a"), ROWS_A), _write(str(tmp_path / "b"), ROWS_B)
    out = str(tmp_path / "B.md")
    assert main(["bench-report", a, b, "--out", out]) == 0
    assert "1,234 (1,111–1,357)" in open(out).read()
    assert main(["bench-compare", a, os.path.join(b, "results.json")]) == 0
    text = capsys.readouterr().out
    assert "| toy | sanny | 0.90 | 1,234 | 2,468 | 2.00 |" in text
    with pytest.raises(SystemExit):
        main(["bench-compare", a, str(tmp_path / "missing")])


def test_commands_point_inside_the_repository(tmp_path):
    """Paths in a command line: inside the checkout relative to it, outside it their file name
    (the dataset is told apart by its recorded sha256); relative ones as given."""
    from sanny.bench.provenance import _ROOT, portable

    inside = os.path.join(_ROOT, "bench", "scale_grid.json")
    argv = ["bench", "/data/sets/toy.hdf5", "--out", "/home/u/runs/r/", "--grid", inside,
            "--grid=" + inside, "--out=/home/u/x", "rel/dir", "-k", "10"]
    assert portable(argv) == ["bench", "toy.hdf5", "--out", "r", "--grid", os.path.join("bench", "scale_grid.json"),
                              "--grid=" + os.path.join("bench", "scale_grid.json"), "--out=x", "rel/dir", "-k", "10"]
    old = _row("sanny", 0.93, 1234.0)  # a row written before commands were made portable
    old["provenance"] = {**old["provenance"], "argv": ["bench", "/data/sets/toy.hdf5", "--out", "/home/u/runs/r"]}
    md = report.build_report([_write(str(tmp_path / "r"), [old])], str(tmp_path / "BENCH.md"))
    assert "sanny bench toy.hdf5 --out r\n" in md and "/home/u" not in md and "/data/sets" not in md


def test_collected_provenance_has_a_portable_command(monkeypatch):
    from sanny.bench import provenance

    monkeypatch.setattr(provenance.sys, "argv", ["sanny", "bench", "/data/sets/toy.hdf5", "--out", "/home/u/r"])
    assert provenance.collect()["argv"] == ["bench", "toy.hdf5", "--out", "r"]
