"""``sanny bench-churn`` at tiny scale: the runbook's bookkeeping, the files it writes, recall
against an exact oracle (the ``exact`` inner index must score 1.0 after every churn cycle, which
checks the live-set ground truth and the key -> row mapping of re-inserted rows) and the ratios
the report derives from the rows. No timing is asserted."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from sanny.bench import churn_compare, churn_report, synthetic
from sanny.bench.churn import Plan, burst_rows, row_of
from sanny.bench.churn_cli import run_churn_bench
from sanny.bench.report import build_report

N, DIM = 1500, 16


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "tiny.hdf5")
    synthetic.write(path, 2000, DIM, queries=50, seed=0)
    return path


def test_plan_keeps_the_live_count_and_never_reuses_a_key():
    plan = Plan(total=1200, n=1000, seed=1)
    ever = set(plan.key.values())
    for _ in range(5):  # 5 x 100 inserts from 200 held back: deleted rows come back under new keys
        before = dict(plan.key)
        w = plan.cycle(0.1)
        assert len(w["delete"]) == len(w["insert"][0]) == len(w["upsert"][0]) == 100
        assert len(plan.key) == 1000
        assert set(w["delete"]) <= set(before.values()) and not set(w["delete"]) & set(plan.key.values())
        assert not set(w["insert"][0]) & ever  # a new key each time a row is inserted
        assert set(w["upsert"][0]) <= set(before.values()) - set(w["delete"])
        assert all(plan.key[row_of(k)] == k for k in w["insert"][0] + w["upsert"][0])
        ever |= set(w["insert"][0])
    assert any("~" in k for k in plan.key.values())


@pytest.mark.parametrize("total", [20, 25])
def test_swap_burst_changes_vectors_and_ends_on_each_keys_own(total):
    n, i = 10, np.arange(total)
    rows = burst_rows(i, n, total, "swap")
    last = {int(k): int(r) for k, r in zip(i % n, rows)}  # each key's last write
    assert last == {k: k for k in range(n)}
    assert (rows[:n] != np.arange(n)).all()  # the first pass moves every key
    if total % (2 * n) == 0:
        prev = {}
        for k, r in zip(i % n, rows):
            assert prev.get(int(k)) != int(r)
            prev[int(k)] = int(r)
    same = burst_rows(i, n, total)
    assert (same == i % n).all()


def _check_doc(doc: dict, out: str, inner: str, mode: str, cycles: int) -> None:
    for name in churn_report.NAMES:
        assert os.path.getsize(os.path.join(out, name)) > 0
    rows = [r for r in doc["rows"] if r["inner"] == inner and r["mode"] == mode]
    for phase in ("after_writes", "settled"):
        got = sorted(r["cycle"] for r in rows if r["phase"] == phase)
        assert got == list(range(cycles + 1)), phase
    fresh = [r for r in rows if r["phase"] == "fresh"]
    assert {0, cycles} <= {r["cycle"] for r in fresh}
    for r in rows:
        assert 0.0 <= r["recall"] <= 1.0
        assert r["qps_batch"]["min"] <= r["qps_batch"]["median"] <= r["qps_batch"]["max"]
        assert r["rss_mb"] is not None and r["dir_mb"] > 0
        if r["phase"] != "burst_before":
            assert r["live"] == N
    for c in churn_report.cycle_table(doc["rows"], inner, mode):
        settled = next(r for r in rows if r["phase"] == "settled" and r["cycle"] == c["cycle"])
        ref = next(r for r in fresh if r["cycle"] == c["fresh_cycle"])
        assert c["qps_ratio"] == pytest.approx(settled["qps_batch"]["median"] / ref["qps_batch"]["median"])
        assert c["rss_ratio"] == pytest.approx(settled["rss_mb"] / ref["rss_mb"])
        assert c["dir_ratio"] == pytest.approx(settled["dir_mb"] / ref["dir_mb"])
        assert c["d_recall"] == pytest.approx(settled["recall"] - ref["recall"])
    churned = [r for r in rows if r["phase"] == "settled" and r["cycle"] > 0]
    assert all(r["writes"] == {"delete": N // 10, "insert": N // 10, "upsert": N // 10} for r in churned)


def test_embedded_churn_and_burst_write_json_md_png(dataset, tmp_path):
    out = str(tmp_path / "out")
    doc = run_churn_bench(dataset, out, inner=["exact", "hnsw"], modes=["embedded"], n=N, cycles=3, burst=2.0,
                          settle=1.0, step=0.5, repeats=2, queries=50, singles=5, batch=400, fresh_every=3,
                          burst_vectors="swap")
    with open(os.path.join(out, "churn.json")) as f:
        assert json.load(f)["rows"] == json.loads(json.dumps(doc["rows"]))
    _check_doc(doc, out, "exact", "embedded", 3)
    _check_doc(doc, out, "hnsw", "embedded", 3)
    exact = [r for r in doc["rows"] if r["inner"] == "exact"]
    assert all(r["recall"] == pytest.approx(1.0) for r in exact)  # exact search vs the live-set oracle
    # (the swap burst moved every key to another row's vector and back: the oracle holds after it)
    hnsw = [r for r in doc["rows"] if r["inner"] == "hnsw"]
    assert all(r["recall"] >= 0.8 for r in hnsw)
    burst = [r for r in hnsw if r["phase"] == "burst"]
    assert burst and burst[0]["upserts"] == 2 * N and burst[0]["burst_vectors"] == "swap"
    assert [r["t_s"] for r in burst] == sorted(r["t_s"] for r in burst)
    s = churn_report.summary(doc["rows"], "exact", "embedded")
    assert s["d_recall"] == pytest.approx(0.0) and s["met"]["d_recall"] is True
    prov = doc["provenance"]
    assert prov["dataset_file"] == "tiny.hdf5" and len(prov["dataset_sha256"]) == 64
    md = open(os.path.join(out, "churn.md")).read()
    assert "| dir MB (ratio) |\n|---|" in md  # every table's header right above its rule
    assert "## exact / embedded: cycles" in md and "burst of 2 x 1500 upserts (each a real change" in md
    os.remove(os.path.join(out, "churn.md"))
    churn_report.render(out)  # --report-only: the same document from the JSON alone
    assert open(os.path.join(out, "churn.md")).read() == md
    report = build_report([out], str(tmp_path / "BENCHMARKS.md"))  # sanny bench-report includes it
    assert "### exact / embedded: cycles" in report and "![churn.png](out/churn.png)" in report
    cmp = churn_compare.write(out, out)  # before / after table (here: a run beside itself)
    s = churn_report.summary(doc["rows"], "hnsw", "embedded")
    assert f"| max RSS / fresh | {s['rss']:.2f}" in cmp and "## hnsw / embedded (3 cycles)" in cmp
    assert os.path.exists(os.path.join(out, churn_compare.NAME))


def test_served_churn_over_grpc_workers(dataset, tmp_path):
    out = str(tmp_path / "served")
    doc = run_churn_bench(dataset, out, inner=["exact"], modes=["grpc2"], n=N, cycles=1, burst=0, repeats=1,
                          queries=30, singles=3, batch=500, fresh_every=1)
    _check_doc(doc, out, "exact", "grpc2", 1)
    rows = doc["rows"]
    assert all(r["recall"] == pytest.approx(1.0) for r in rows)
    assert all(len(r["rss_workers_mb"]) == 2 and all(m > 0 for m in r["rss_workers_mb"]) for r in rows)
    assert not os.path.exists(os.path.join(out, "work"))  # workers stopped, directories removed
    assert np.isfinite([r["dir_mb"] for r in rows]).all()


def test_cli_refuses_bad_arguments_with_a_message(dataset, tmp_path, capsys):
    import argparse

    from sanny.bench.churn_cli import main, register

    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    parse = sub.choices["bench-churn"].parse_args
    assert main(parse([dataset, "--out", str(tmp_path), "--n", "2000"])) == 2
    assert "held back" in capsys.readouterr().err
    assert main(parse([dataset, "--out", str(tmp_path), "--share", "1.5"])) == 2
    assert "--share" in capsys.readouterr().err
    assert main(parse(["--out", str(tmp_path), "--report-only"])) == 2
    assert "churn.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse([dataset, "--out", str(tmp_path), "--modes", "ray2"])
    assert not os.listdir(tmp_path)  # nothing written
