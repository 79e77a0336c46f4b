"""The page's guards without a browser: thumbnails never leave the images root, uploads are
bounded in bytes and pixels and type-checked, CSRF / Host / register-off refusals, and every
failure (corrupt image, no server, empty index, bad k) is one line of JSON, never a traceback."""
from __future__ import annotations

import io
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("flask_wtf")

from PIL import Image  # noqa: E402

from sanny.engine.web import uploads  # noqa: E402
from sanny.engine.web.app import create_app  # noqa: E402

from extract_helpers import checkpoint, picture  # noqa: E402,F401
from web_helpers import HOSTILE, bomb_png, extractor, make_index, png_bytes, searcher  # noqa: E402


# -- path confinement ------------------------------------------------------------------------
@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    picture(1).save(r / "sub" / "a.png")
    picture(2).save(tmp_path / "secret.png")  # beside the root: must never be served
    os.symlink(tmp_path / "secret.png", r / "link.png")
    os.symlink(r / "sub" / "a.png", r / "inside-link.png")
    return r


@pytest.mark.parametrize("key", ["../secret.png", "sub/../../secret.png", "link.png", "", ".", "sub",
                                 "a\x00.png", "x" * 5000, "/etc/passwd", "//etc/passwd"])
def test_confine_refuses_everything_outside_the_root(root, key):
    assert uploads.confine(str(root), key) is None
    assert uploads.thumbnail(str(root), key, 10**6) is None


def test_confine_accepts_files_under_the_root(root):
    assert uploads.confine(str(root), "sub/a.png") == os.path.realpath(root / "sub" / "a.png")
    assert uploads.confine(str(root), "./sub/../sub/a.png") == os.path.realpath(root / "sub" / "a.png")
    assert uploads.confine(str(root), "inside-link.png") is not None  # a symlink that stays inside
    jpg = uploads.thumbnail(str(root), "sub/a.png", 10**6, size=64)
    assert Image.open(io.BytesIO(jpg)).format == "JPEG" and max(Image.open(io.BytesIO(jpg)).size) == 64


# -- upload limits ---------------------------------------------------------------------------
def test_read_stops_at_the_byte_limit():
    lim = uploads.Limits(max_bytes=1000)
    assert len(uploads.read(io.BytesIO(b"x" * 1000), lim)) == 1000
    stream = io.BytesIO(b"x" * 10**6)
    with pytest.raises(uploads.Refused, match="too large") as e:
        uploads.read(stream, lim)
    assert e.value.status == 413 and stream.tell() == 1001  # refused without reading the rest
    with pytest.raises(uploads.Refused, match="empty"):
        uploads.read(io.BytesIO(b""), lim)


def test_decode_refuses_bombs_corrupt_and_non_images():
    lim = uploads.Limits(max_pixels=40_000_000)
    data = bomb_png(8000)  # 64 M pixels in a few KB
    assert len(data) < 100_000
    with pytest.raises(uploads.Refused, match="too large: 8000x8000") as e:
        uploads.decode(data, "bomb.png", lim)
    assert e.value.status == 413
    good = png_bytes(picture(3))
    with pytest.raises(uploads.Refused, match="corrupt or unsupported|not an image"):
        uploads.decode(good[: len(good) // 2], "cut.png", lim)
    with pytest.raises(uploads.Refused, match="not an image"):
        uploads.decode(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "x.png", lim)
    with pytest.raises(uploads.Refused, match="not an image"):
        uploads.decode(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "x.svg", lim)
    up = uploads.decode(good, "ok.png", lim)
    assert up.format == "PNG" and up.ext == ".png" and up.image.size == (160, 120)


def test_saved_uploads_are_content_addressed_under_the_root(tmp_path):
    up = uploads.decode(png_bytes(picture(4)), "../../evil name.png", uploads.Limits())
    key, path = uploads.save_under(str(tmp_path), "uploads", up)
    assert key == f"uploads/{up.digest[:24]}.png" and open(path, "rb").read() == up.data
    assert os.path.dirname(path) == str(tmp_path / "uploads")
    with pytest.raises(uploads.Refused, match="outside the images root"):
        uploads.save_under(str(tmp_path / "r"), "../elsewhere", up)


# -- the HTTP endpoints ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ex(checkpoint):  # noqa: F811
    return extractor(checkpoint)


@pytest.fixture(scope="module")
def served(tmp_path_factory, ex):
    tmp = tmp_path_factory.mktemp("webunit")
    ix, keys = make_index(tmp / "ix", ex, tmp / "pics", 6)
    yield ix, keys, tmp
    ix.close()


def client(s, **kw):
    app = create_app(s, trusted_hosts=["127.0.0.1", "localhost"], **kw)
    app.testing = False  # errors go through the handler, as in production
    return app.test_client()


def upload(c, data: bytes, name="q.png", url="/api/search", **form):
    return c.post(url, data={"image": (io.BytesIO(data), name), **form}, content_type="multipart/form-data",
                  headers={"Host": "127.0.0.1"})


def assert_message(r, status: int, *words):
    assert r.status_code == status, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == {"error"} and "Traceback" not in body["error"] and "\n" not in body["error"]
    for w in words:
        assert w in body["error"], body["error"]
    return body["error"]


def test_thumb_endpoint_is_confined(served, ex):
    ix, keys, tmp = served
    (tmp / "outside.png").write_bytes(png_bytes(picture(5)))
    c = client(searcher(ex, ix, "embedded", tmp / "pics"))
    ok = c.get("/thumb", query_string={"key": keys[1]}, headers={"Host": "127.0.0.1"})
    assert ok.status_code == 200 and ok.mimetype == "image/jpeg"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    for bad in ("../outside.png", str(tmp / "outside.png"), "nope.png"):
        r = c.get("/thumb", query_string={"key": bad}, headers={"Host": "127.0.0.1"})
        assert r.status_code == 404 and r.mimetype == "text/plain"


def test_oversized_body_and_bombs_are_refused_with_a_message(served, ex):
    ix, keys, tmp = served
    s = searcher(ex, ix, "embedded", tmp / "pics", limits=uploads.Limits(max_bytes=200_000, max_pixels=10**6))
    c = client(s)
    assert_message(upload(c, os.urandom(300_000)), 413, "upload too large", "0.2 MiB")
    assert_message(upload(c, bomb_png(2000), "bomb.png"), 413, "bomb.png", "too large: 2000x2000")
    assert_message(upload(c, b"GIF89a broken", "broken.gif"), 400, "broken.gif: not a usable image")
    assert_message(upload(c, HOSTILE.encode(), HOSTILE), 400, "not an image")


def test_register_is_off_by_default_and_needs_the_csrf_token(served, ex):
    ix, keys, tmp = served
    data = png_bytes(picture(77))
    assert_message(upload(client(searcher(ex, ix, "e", tmp / "pics")), data, url="/api/register"), 403,
                   "--allow-register")
    s = searcher(ex, ix, "e", tmp / "pics", allow_register=True)
    c = client(s)
    assert_message(upload(c, data, url="/api/register"), 400, "CSRF token is missing")
    page = c.get("/", headers={"Host": "127.0.0.1"}).get_data(as_text=True)
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    r = c.post("/api/register", data={"image": (io.BytesIO(data), "new.png")}, content_type="multipart/form-data",
               headers={"Host": "127.0.0.1", "X-CSRFToken": token})
    assert r.status_code == 200, r.get_json()
    key = r.get_json()["key"]
    assert ix.exists([key])[0] and (tmp / "pics" / key).is_file()
    found = upload(c, data).get_json()["results"]
    assert found[0]["key"] == key and found[0]["distance"] < 1e-3
    other = client(s)  # another browser session: the first one's token is not its token
    assert_message(other.post("/api/register", data={"image": (io.BytesIO(data), "n.png")},
                              content_type="multipart/form-data",
                              headers={"Host": "127.0.0.1", "X-CSRFToken": token}), 400, "CSRF")


def test_untrusted_host_header_is_refused(served, ex):
    ix, _, tmp = served
    r = client(searcher(ex, ix, "e", tmp / "pics")).get("/api/info", headers={"Host": "attacker.example"})
    assert r.status_code == 400


def test_bad_k_and_unknown_key_are_one_line(served, ex):
    ix, keys, tmp = served
    c = client(searcher(ex, ix, "e", tmp / "pics"))
    assert_message(upload(c, png_bytes(picture(1)), k="1000"), 400, "k: expected an integer from 1 to 100")
    r = c.post("/api/search-key", json={"key": "no/such.png"}, headers={"Host": "127.0.0.1"})
    assert_message(r, 404, "no/such.png")
    assert_message(c.post("/api/search-key", data="[", headers={"Host": "127.0.0.1"}), 400, "JSON")


def test_missing_server_is_a_message_not_a_traceback(tmp_path, ex):
    import socket

    from sanny.engine.api.client import Client

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cl = Client(f"127.0.0.1:{port}", timeout=5)
    c = client(searcher(ex, cl, f"server 127.0.0.1:{port}", tmp_path))
    info = c.get("/api/info", headers={"Host": "127.0.0.1"}).get_json()
    assert info["ok"] is False and str(port) in info["health"]
    assert_message(upload(c, png_bytes(picture(1))), 503, "the index is unavailable", str(port))
    cl.close()


def test_empty_index_says_so(tmp_path, ex):
    from sanny.engine import Index, IndexConfig

    ix = Index.create(str(tmp_path / "empty"), IndexConfig(dim=ex.dim, S=2))
    try:
        r = upload(client(searcher(ex, ix, "e", tmp_path)), png_bytes(picture(1)))
        assert r.status_code == 200 and r.get_json()["results"] == []
        assert "The index is empty" in r.get_json()["message"]
    finally:
        ix.close()


def test_dimension_mismatch_names_both(tmp_path, ex):
    from sanny.engine import Index, IndexConfig

    ix = Index.create(str(tmp_path / "small"), IndexConfig(dim=16, S=2))
    try:
        assert_message(upload(client(searcher(ex, ix, "e", tmp_path)), png_bytes(picture(1))), 409,
                       "16-d", "2048-d")
    finally:
        ix.close()


def test_search_by_key_without_stored_vectors_reads_the_image_file(tmp_path, ex):
    """An index that keeps no full vectors on the coordinator: a clicked key is searched by its
    file's features; a key with no file under the root is a clear 404."""
    from sanny.engine import Index, IndexConfig, InnerParams

    pics = tmp_path / "pics"
    pics.mkdir()
    keys = [f"p{i}.png" for i in range(4)]
    for i, k in enumerate(keys):
        picture(i).save(pics / k)
    ix = Index.create(str(tmp_path / "ix"), IndexConfig(dim=ex.dim, S=2, keep_vectors=False,
                                                        inner=InnerParams(kind="exact")))
    try:
        for b in ex.run([str(pics / k) for k in keys], keys):
            ix.insert(b.keys, b.vectors)
        ix.insert(["gone.png"], ex.features([str(pics / keys[0])])[1])
        c = client(searcher(ex, ix, "e", pics))
        r = c.post("/api/search-key", json={"key": keys[2], "k": 2}, headers={"Host": "127.0.0.1"})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["results"][0]["key"] == keys[2] and r.get_json()["results"][0]["distance"] < 1e-3
        r = c.post("/api/search-key", json={"key": "gone.png"}, headers={"Host": "127.0.0.1"})
        assert_message(r, 404, "gone.png", "no image file under the images root")
    finally:
        ix.close()
