"""``sanny extract``: vectors + relative-path keys in HDF5/NPZ, bad files skipped and listed,
a second run only does new images, PCA stored with the file, mismatched settings refused."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from sanny.engine import vectorfile  # noqa: E402

from extract_helpers import checkpoint, feature_args, run_cli, write_pictures  # noqa: E402,F401


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "pics"
    keys = write_pictures(d, 6, sub="sub")
    (d / "zero.png").write_bytes(b"")
    (d / "sub" / "text.jpg").write_text("hello")
    (d / "readme.txt").write_text("not scanned")
    return d, keys


def test_h5_resumes_and_lists_bad_files(folder, tmp_path, capsys, checkpoint):  # noqa: F811
    d, keys = folder
    out = tmp_path / "f.h5"
    code, _, err = run_cli(capsys, "extract", d, "--out", out, *feature_args(checkpoint))
    assert code == 0
    assert "skipped 2 files" in err and "zero.png: empty file" in err and "sub/text.jpg: not an image" in err
    x, got = vectorfile.read(str(out))  # what `sanny build` reads
    assert sorted(got) == sorted(keys) and x.shape == (6, 2048) and np.isfinite(x).all()
    with h5py.File(out) as f:
        assert f.attrs["dimension"] == 2048 and "resnet50" in f.attrs["sanny_extract"]

    write_pictures(d, 1, start=6)
    code, _, err = run_cli(capsys, "extract", d, "--out", out, *feature_args(checkpoint))
    assert code == 0 and "6 images already in" in err and "extracted 1 images" in err
    x2, got2 = vectorfile.read(str(out))
    assert got2[:6] == got and got2[6] == "img006.png"
    assert np.array_equal(x2[:6], x)


def test_npz_with_pca(folder, tmp_path, capsys, checkpoint):  # noqa: F811
    d, _ = folder
    out = tmp_path / "f.npz"
    args = ["extract", d, "--out", out, "--pca-dim", "4", "--l2", *feature_args(checkpoint)]
    assert run_cli(capsys, *args)[0] == 0
    x, keys = vectorfile.read(str(out))
    assert x.shape == (6, 4) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    with np.load(out) as z:
        assert z["pca_components"].shape == (2048, 4)
    write_pictures(d, 1, start=6)
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and "extracted 1 images" in err
    x2, keys2 = vectorfile.read(str(out))
    assert x2.shape == (7, 4) and np.array_equal(x2[:6], x)  # same stored PCA, not refitted


def test_resume_with_other_settings_is_refused(folder, tmp_path, capsys, checkpoint):  # noqa: F811
    d, _ = folder
    out = tmp_path / "f.h5"
    assert run_cli(capsys, "extract", d, "--out", out, *feature_args(checkpoint))[0] == 0
    code, _, err = run_cli(capsys, "extract", d, "--out", out, "--l2", *feature_args(checkpoint))
    assert code == 2 and "different settings" in err and "l2" in err


def test_glob_source(folder, tmp_path, capsys, checkpoint):  # noqa: F811
    d, _ = folder
    out = tmp_path / "g.npz"
    assert run_cli(capsys, "extract", f"{d}/sub/*.png", "--out", out, *feature_args(checkpoint))[0] == 0
    assert sorted(vectorfile.read(str(out))[1]) == ["img001.png", "img003.png", "img005.png"]


def test_nothing_to_extract(tmp_path, capsys, checkpoint):  # noqa: F811
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "extract", tmp_path / "empty", "--out", tmp_path / "f.h5", *feature_args(checkpoint))
    assert code == 2 and "no image files" in err
