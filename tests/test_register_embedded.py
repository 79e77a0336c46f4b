"""Without a server: ``register --index DIR`` creates the index, ``search-image --index DIR``
finds a duplicate first; the HTML page can link the files instead of embedding them."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from sanny.engine import Index  # noqa: E402

from extract_helpers import checkpoint, feature_args, parse, run_cli, variants, write_pictures  # noqa: E402,F401


def test_embedded_register_and_search(tmp_path, capsys, checkpoint):  # noqa: F811
    pics, ix = tmp_path / "pics", tmp_path / "ix"
    keys = write_pictures(pics, 8)
    code, _, err = run_cli(capsys, "register", pics, "--index", ix, "--S", 4, *feature_args(checkpoint))
    assert code == 0 and "creating index" in err and "registered 8 new images" in err
    with Index.open(str(ix)) as opened:
        assert len(opened) == 8 and opened.config.S == 4

    q = variants(str(pics / keys[3]), str(tmp_path / "q"))
    html = tmp_path / "page" / "r.html"
    html.parent.mkdir()
    code, out, err = run_cli(capsys, "search-image", q["copy"], "--index", ix, "-k", 3, "--html", html,
                             "--html-links", "--images-root", pics, *feature_args(checkpoint))
    assert code == 0, err
    hits = parse(out)[q["copy"]]
    assert hits[0][0] == keys[3] and len(hits) == 3
    page = html.read_text()
    assert "base64" not in page and f'src="../pics/{keys[3]}"' in page

    code, _, err = run_cli(capsys, "register", pics, "--index", ix, *feature_args(checkpoint))
    assert code == 0 and "registered 0 new images" in err and "8 were already registered" in err
