"""End to end through a running server: ``sanny register DIR --server`` then
``sanny search-image``. An exact duplicate of a registered picture comes back first; a
resized and a slightly cropped copy rank it in the top 3. Weights: the saved checkpoint."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from sanny.engine import Index, IndexConfig, InnerParams  # noqa: E402
from sanny.engine.api.server import run_server  # noqa: E402

from extract_helpers import checkpoint, feature_args, parse, run_cli, variants, write_pictures  # noqa: E402,F401

N = 16


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    ix = Index.create(str(root / "ix"), IndexConfig(dim=2048, S=8, inner=InnerParams(kind="ngt", threads=1)))
    with run_server(ix) as (_, port):
        yield root, f"127.0.0.1:{port}", ix
    ix.close()


@pytest.fixture(scope="module")
def registered(served, checkpoint):  # noqa: F811
    root, addr, ix = served
    pics = root / "pics"
    keys = write_pictures(pics, N, sub="more")
    (pics / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (pics / "zero.gif").write_bytes(b"")
    return pics, keys


def test_register_then_search(served, registered, checkpoint, capsys):  # noqa: F811
    root, addr, ix = served
    pics, keys = registered
    code, _, err = run_cli(capsys, "register", pics, "--server", addr, "--write-batch", 5, *feature_args(checkpoint))
    assert code == 0, err
    assert f"registered {N} new images" in err
    assert "skipped 2 files" in err and "broken.jpg: corrupt" in err and "zero.gif: empty file" in err
    assert len(ix) == N and set(ix.store.ids) == set(keys)

    target = keys[5]  # "more/img005.png": a key with a folder in it
    q = variants(str(pics / target), str(root / "queries"))
    html = root / "out.html"
    code, out, err = run_cli(capsys, "search-image", q["copy"], q["resized"], q["cropped"], "--server", addr,
                             "-k", 5, "--html", html, "--images-root", pics, *feature_args(checkpoint))
    assert code == 0, err
    res = parse(out)
    copy, resized, cropped = res[q["copy"]], res[q["resized"]], res[q["cropped"]]
    assert copy[0][0] == target and copy[0][1] < 1e-3
    assert target in [k for k, _ in resized[:3]]
    assert target in [k for k, _ in cropped[:3]]
    page = html.read_text()
    assert page.count("data:image/jpeg;base64,") == 3 * (1 + 5)  # queries + results, all found
    assert target in page and "distance" in page


def test_second_run_skips_registered_images(served, registered, checkpoint, capsys):  # noqa: F811
    root, addr, ix = served
    pics, _ = registered
    write_pictures(pics, 1, start=N)
    code, _, err = run_cli(capsys, "register", pics, "--server", addr, *feature_args(checkpoint))
    assert code == 0, err
    assert "registered 1 new images" in err and f"{N} were already registered" in err
    assert len(ix) == N + 1


def test_wrong_dimension_is_explained(served, registered, checkpoint, capsys):  # noqa: F811
    root, addr, _ = served
    pics, _ = registered
    code, _, err = run_cli(capsys, "search-image", pics / "img000.png", "--server", addr,
                           "--model", "efficientnet_b0", "--weights", "random", "--image-size", 64, "--no-progress")
    assert code == 2 and "2048-d" in err and "1280-d" in err
