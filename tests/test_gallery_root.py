"""The html gallery reads only files under the images root: a stored key like
``../private/secret.png`` (or an absolute path, or a symlink out) gives a blank tile."""
from __future__ import annotations

import os

import pytest

Image = pytest.importorskip("PIL.Image")

from sanny.engine.extract import gallery  # noqa: E402

SECRET_PIXEL = (250, 10, 10)


def _png(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)


@pytest.mark.parametrize("links", [False, True])
def test_keys_outside_the_root_are_never_read(tmp_path, links, monkeypatch):
    root = tmp_path / "images"
    _png(root / "ok.png", (0, 200, 0))
    _png(tmp_path / "private" / "secret.png", SECRET_PIXEL)
    os.symlink(tmp_path / "private" / "secret.png", root / "link.png")
    opened = []
    real = gallery.images.thumbnail
    monkeypatch.setattr(gallery.images, "thumbnail", lambda p, s: (opened.append(os.path.realpath(p)), real(p, s))[1])
    out = tmp_path / "out" / "page.html"
    out.parent.mkdir()
    bad = ["../private/secret.png", str(tmp_path / "private" / "secret.png"), "link.png", "..", ""]
    gallery.write(str(out), [str(root / "ok.png")], [[("ok.png", 0.0)] + [(k, 1.0) for k in bad]],
                  str(root), links=links)
    page = out.read_text()
    assert page.count("image not found") == len(bad)
    assert "secret.png\"" not in page.replace("secret.png<", "")  # no link/src to it
    assert all("private" not in p for p in opened)
    assert gallery.under_root(str(root), "ok.png") == os.path.realpath(root / "ok.png")
    assert gallery.under_root(str(root), "../private/secret.png") is None
