"""The default is the measured winner: a config with no inner index gets symqg for one graph on
raw vectors (faiss HNSW for other shapes) and says why; ``sanny build`` with no shape flags
measures symqg against faiss HNSW (+ the PCA rule) on a sample and keeps the faster, printing
one line naming the choice and both measurements."""
from __future__ import annotations

import argparse
import logging

import numpy as np
import pytest

from sanny.bench.synthetic import generate
from sanny.engine import Index, IndexConfig
from sanny.engine.config import default_inner
from sanny.workers import InnerParams


def test_one_graph_on_raw_vectors_gets_symqg_and_a_reason():
    c = IndexConfig(dim=64)
    assert c.inner.kind == "symqg" and c.inner.hnsw_ef_construction == 200
    assert (c.T, c.ef_search) == (10, 32) and "symqg" in c.inner_reason
    assert "inner_reason" not in c.to_dict()


@pytest.mark.parametrize("kw", [{"S": 2}, {"pca_dim": 16}, {"pca_dim": -1, "dim": 384}])
def test_other_shapes_keep_faiss_hnsw(kw):
    c = IndexConfig(**{"dim": 64, **kw})
    assert c.inner.kind == "hnsw" and c.T == 32 and c.ef_search == 0 and "hnsw" in c.inner_reason


def test_a_given_inner_index_is_kept_silently():
    c = IndexConfig(dim=64, inner=InnerParams(kind="hnsw"))
    assert c.inner.kind == "hnsw" and c.inner_reason == ""
    assert IndexConfig.from_dict(c.to_dict()).inner.kind == "hnsw"  # an existing manifest's choice stays


def test_create_logs_the_default_choice(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="sanny.engine.index"):
        Index.create(str(tmp_path / "a"), IndexConfig(dim=16)).close()
        Index.create(str(tmp_path / "b"), IndexConfig(dim=16, inner=InnerParams())).close()
    lines = [r.getMessage() for r in caplog.records if "inner index" in r.getMessage()]
    assert len(lines) == 1 and "symqg" in lines[0] and str(tmp_path / "a") in lines[0]
    with Index.open(str(tmp_path / "a")) as ix:
        assert ix.config.inner.kind == "symqg" and ix.config.ef_search == 32


def test_serve_create_without_inner_uses_the_default(tmp_path, caplog):
    from sanny.engine.api.serve_cli import open_index

    args = argparse.Namespace(index=str(tmp_path / "ix"), create=True, dim=32, S=None, metric=None, inner=None)
    with caplog.at_level(logging.INFO):
        ix = open_index(args, {}, None)
    try:
        assert ix.config.inner.kind == "symqg"
    finally:
        ix.close()
    assert any("symqg" in r.getMessage() and "BENCHMARKS.md" in r.getMessage() for r in caplog.records)


def test_choose_measures_both_candidates(tmp_path):
    from sanny.engine.autopick import choose

    x, _, _ = generate(2500, 32, queries=1, seed=2, clusters=16)
    c = choose(x, "l2", 0.9, sample=2000, progress=False)
    assert [t["label"] for t in c.table] == ["symqg raw", "hnsw raw"]
    best = max((t for t in c.table if t["met"]), key=lambda t: t["qps"])
    assert c.config.inner.kind == best["config"].inner.kind and c.config.ef_search == best["ef_search"]
    assert c.reason.startswith(f"chose {best['label']}:") and "2,000 of 2,500" in c.reason
    assert all(t["label"] in c.reason for t in c.table) and "timed in turns" in c.reason
    assert all(t["qps_min"] <= t["qps"] <= t["qps_max"] for t in c.table)


def test_no_flag_build_prints_its_choice(tmp_path, capsys):
    from sanny.engine import cli

    x, _, _ = generate(1500, 32, queries=1, seed=2, clusters=16)
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["build", str(tmp_path / "x.npy"), "--index", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    chosen = [ln for ln in out.splitlines() if ln.startswith("chose ")]
    assert len(chosen) == 1
    with Index.open(str(tmp_path / "a")) as ix:
        assert chosen[0].startswith(f"chose {ix.config.inner.kind} raw:")
    assert cli.main(["build", str(tmp_path / "x.npy"), "--index", str(tmp_path / "b"), "--inner", "hnsw"]) == 0
    assert "chose " not in capsys.readouterr().out
    with Index.open(str(tmp_path / "b")) as ix:
        assert ix.config.inner.kind == "hnsw"


def test_default_inner_rule():
    assert default_inner(1, 0, 128)[0].kind == "symqg"
    assert default_inner(1, 128, 128)[0].kind == "symqg"  # a full rotation is still raw distances
    assert default_inner(4, 0, 128)[0].kind == "hnsw"
