"""make-dataset: the synthetic generator is seeded and its ground truth is exact."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from sanny.bench import synthetic
from sanny.engine.cli import main


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_ground_truth_matches_brute_force(tmp_path, metric):
    path = str(tmp_path / "s.hdf5")
    assert main(["make-dataset", "--synthetic", "3000x24", "--out", path, "--queries", "30",
                 "--metric", metric, "--seed", "7"]) == 0
    with h5py.File(path) as f:
        train, test = f["train"][:].astype(np.float64), f["test"][:].astype(np.float64)
        nbr, dist = f["neighbors"][:], f["distances"][:]
        assert f.attrs["distance"] == metric and train.shape == (3000, 24) and nbr.shape == (30, 100)
    if metric == "angular":
        assert np.allclose(np.linalg.norm(train, axis=1), 1, atol=1e-5)
        d = 1 - test @ train.T
    else:
        d = np.sqrt(((test[:, None, :] - train[None]) ** 2).sum(-1))
    truth = np.sort(d, axis=1)[:, :100]
    assert np.allclose(dist, truth, atol=1e-5)
    assert np.array_equal(nbr[:, :10], np.argsort(d, axis=1, kind="stable")[:, :10])


def test_generator_is_seeded_and_structured():
    a, qa, _ = synthetic.generate(2000, 32, queries=10, seed=3)
    b, qb, _ = synthetic.generate(2000, 32, queries=10, seed=3)
    c, _, _ = synthetic.generate(2000, 32, queries=10, seed=4)
    assert np.array_equal(a, b) and np.array_equal(qa, qb) and not np.array_equal(a, c)
    ev = np.linalg.eigvalsh(np.cov(a.T))[::-1]
    assert ev[0] > 5 * ev[-1]                    # a decaying spectrum, not isotropic noise


def test_bad_shape_is_named(capsys):
    assert main(["make-dataset", "--synthetic", "12by3", "--out", "/nonexistent/x.hdf5"]) == 2
    assert "--synthetic" in capsys.readouterr().err
