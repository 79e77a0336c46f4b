"""``sanny build / search / info / tune`` from the command line, on a generated file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sanny.engine import Index, cli
from sanny.bench.demo import make_features


@pytest.fixture
def files(tmp_path):
    train, test = make_features(2000, 32, n_test=20, seed=5)
    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "test.npy", test)
    return tmp_path, train, test


def test_build_search_info_tune(files, capsys):
    d, train, test = files
    idx = str(d / "idx")
    assert cli.main(["build", str(d / "train.npy"), "--index", idx, "--S", "2", "--pca-dim", "16"]) == 0
    assert "built 2000 vectors" in capsys.readouterr().out
    with Index.open(idx) as ix:
        assert len(ix) == 2000 and ix.config.S == 2 and ix.config.pca_dim == 16
        np.testing.assert_array_equal(ix.get(["7"])[0], train[7])
    out_tsv = str(d / "res.tsv")
    assert cli.main(["search", str(d / "test.npy"), "--index", idx, "-k", "5", "--out", out_tsv]) == 0
    assert "wrote 20 results" in capsys.readouterr().out
    lines = open(out_tsv).read().splitlines()
    assert lines[0] == "query\trank\tkey\tdistance" and len(lines) == 1 + 20 * 5
    q0 = [ln.split("\t") for ln in lines[1:6]]
    exact = np.argsort(((train - test[0]) ** 2).sum(1))[:5]
    assert q0[0][2] == str(exact[0])        # nearest neighbour of query 0 found first
    assert cli.main(["info", idx]) == 0
    summary = dict(ln.split(None, 1) for ln in capsys.readouterr().out.splitlines())
    assert summary["count"] == "2,000" and summary["S"].startswith("2 ") and summary["PCA"] == "16 of 32 dims"
    assert set(summary) >= {"dim", "metric", "inner", "workers", "search"}
    assert summary["memory"].endswith("MiB (workers)") and float(summary["memory"].split()[0]) > 0
    assert cli.main(["info", idx, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 2000 and info["config"]["S"] == 2
    rc = cli.main(["tune", idx, "--target", "0.9"])
    out = capsys.readouterr().out
    assert rc == 0 and "target 0.9 reached" in out and "expected on new queries >=" in out
    with Index.open(idx) as ix:                  # tuned defaults are stored
        assert ix.config.T >= 10


def test_build_into_existing_directory_is_a_clear_error(files, capsys):
    d, _, _ = files
    (d / "busy").mkdir()
    (d / "busy" / "x").write_text("keep me")
    assert cli.main(["build", str(d / "train.npy"), "--index", str(d / "busy")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (d / "busy" / "x").read_text() == "keep me"


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["build", str(tmp_path / "nope.npy"), "--index", str(tmp_path / "i")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_build_with_symqg_keeps_the_raw_vectors_and_builds_its_graph(files):
    """--inner symqg with the default --pca-dim auto: no PCA (its 1-bit codes need the raw
    dims); the build leaves no exact tail behind."""
    d, _, _ = files
    idx = str(d / "qg")
    assert cli.main(["build", str(d / "train.npy"), "--index", idx, "--inner", "symqg", "--no-tune"]) == 0
    with Index.open(idx) as ix:
        assert ix.config.inner.kind == "symqg" and ix.config.pca_dim == 0
        st = ix.workers[0].stats()
        assert st["segments"] == [{"rows": len(ix), "deleted": 0}] and st["growing"]["rows"] == 0
