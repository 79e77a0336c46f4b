"""The page in a real headless Chromium (Selenium): upload or drop a picture and see it first,
a resized copy in the top 3; click a result to search by it; a hostile key renders as text;
an oversized upload, a decompression bomb and a corrupt file are refused with a message; a
registered upload is found; a page over a missing server or an empty index says so.

Every step waits for the page's own state (``body[data-seq]`` moves when a request finishes),
never for a fixed time.
"""
from __future__ import annotations

import base64
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("flask_wtf")
pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from sanny.engine.web import uploads  # noqa: E402
from sanny.engine.web.app import create_app  # noqa: E402
from sanny.engine.web.serving import background  # noqa: E402

from extract_helpers import checkpoint, picture, variants  # noqa: E402,F401
from web_helpers import (HOSTILE, WAIT, acted, bomb_png, choose, driver, extractor, load, make_index,  # noqa: E402,F401
                         message, results, searcher, thumbs_loaded)

N = 12
LIMIT = 300_000  # upload bytes: small, so an "oversized" file is quick to make


@pytest.fixture(scope="module")
def site(tmp_path_factory, checkpoint):  # noqa: F811
    tmp = tmp_path_factory.mktemp("webpage")
    ex = extractor(checkpoint)
    ix, keys = make_index(tmp / "ix", ex, tmp / "pics", N)
    s = searcher(ex, ix, "embedded ix", tmp / "pics", k=5, allow_register=True,
                 limits=uploads.Limits(max_bytes=LIMIT, max_pixels=2_000_000))
    with background(create_app(s)) as url:
        yield url, tmp, keys, ix
    ix.close()


def dropped(drv, path):
    """Drop a file on the drop zone as a browser does (a DragEvent carrying a DataTransfer)."""
    data = base64.b64encode(open(path, "rb").read()).decode()
    js = """const [b64, name] = arguments;
    const bin = atob(b64), a = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    const dt = new DataTransfer(); dt.items.add(new File([a], name, {type: "image/png"}));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));"""
    return acted(drv, lambda: drv.execute_script(js, data, os.path.basename(path)))


def test_upload_finds_the_copy_first_and_a_resized_copy_in_the_top_3(site, driver):
    url, tmp, keys, _ = site
    target = keys[3]  # "more/img003.png": a key with a folder
    q = variants(str(tmp / "pics" / target), str(tmp / "q"))
    load(driver, url)
    info = driver.find_element(By.ID, "info").text
    assert f"count\n{N + 1}" in info and "dim\n2048" in info and "inner\nexact" in info and "S\n4" in info
    assert choose(driver, q["copy"]) == "done"
    got = results(driver)
    assert len(got) == 5 and got[0][0] == target and float(got[0][1].split()[1]) < 1e-3
    assert driver.find_element(By.CSS_SELECTOR, "#query .label").text == "copy.png"
    assert driver.find_element(By.CSS_SELECTOR, "#query img").get_attribute("src").startswith("data:image/jpeg")
    WebDriverWait(driver, WAIT).until(thumbs_loaded)  # the result thumbnails really load

    assert dropped(driver, q["resized"]) == "done"
    assert target in [k for k, _ in results(driver)[:3]]
    assert driver.find_element(By.CSS_SELECTOR, "#query .label").text == "resized.png"


def test_click_a_result_to_search_by_it(site, driver):
    url, tmp, keys, _ = site
    load(driver, url)
    assert choose(driver, tmp / "pics" / keys[0]) == "done"
    second = results(driver)[1][0]
    fig = driver.find_elements(By.CSS_SELECTOR, "#results figure")[1]
    assert acted(driver, fig.click) == "done"
    assert driver.find_element(By.CSS_SELECTOR, "#query .label").text == second
    first, dist = results(driver)[0]
    assert first == second and float(dist.split()[1]) < 1e-3


def test_a_hostile_key_renders_as_text(site, driver):
    url, tmp, keys, _ = site
    load(driver, url)
    assert choose(driver, tmp / "pics" / HOSTILE) == "done"
    assert results(driver)[0][0] == HOSTILE  # the key, shown verbatim as text
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    assert driver.execute_script("return window.__pwned") is None
    WebDriverWait(driver, WAIT).until(thumbs_loaded)  # its file, odd name and all, is served
    fig = driver.find_elements(By.CSS_SELECTOR, "#results figure")[0]
    assert acted(driver, fig.click) == "done"  # and it can be searched by
    assert driver.find_element(By.CSS_SELECTOR, "#query .label").text == HOSTILE
    assert driver.execute_script("return window.__pwned") is None


def test_oversized_bomb_and_corrupt_uploads_get_a_message(site, driver):
    url, tmp, keys, _ = site
    load(driver, url)
    big = tmp / "big.png"
    big.write_bytes(os.urandom(LIMIT + 1))
    assert choose(driver, big) == "error"
    assert "upload too large" in message(driver) and "big.png" in message(driver)
    bomb = tmp / "bomb.png"
    bomb.write_bytes(bomb_png(3000))  # 9 M pixels in a few KB: passes the byte limit, not the pixel one
    assert choose(driver, bomb) == "error"
    assert "bomb.png: not a usable image: too large: 3000x3000" in message(driver)
    bad = tmp / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    assert choose(driver, bad) == "error"
    assert "corrupt.jpg: not a usable image" in message(driver)
    assert "Traceback" not in driver.page_source


def test_register_an_upload_then_find_it(site, driver):
    url, tmp, keys, ix = site
    new = tmp / "new-picture.png"
    picture(4242).save(new)
    load(driver, url)
    before = len(ix)
    assert choose(driver, new) == "done"
    assert results(driver)[0][1] != "distance 0.000"  # not registered yet
    assert acted(driver, driver.find_element(By.ID, "register").click) == "done"
    assert "registered new-picture.png as uploads/" in message(driver)
    assert len(ix) == before + 1
    WebDriverWait(driver, WAIT).until(lambda d: f"count\n{before + 1}" in d.find_element(By.ID, "info").text)
    assert choose(driver, new) == "done"
    key, dist = results(driver)[0]
    assert key.startswith("uploads/") and float(dist.split()[1]) < 1e-3
    WebDriverWait(driver, WAIT).until(thumbs_loaded)


def test_missing_server_and_empty_index_say_so(tmp_path, checkpoint, driver):  # noqa: F811
    import socket

    from sanny.engine import Index, IndexConfig
    from sanny.engine.api.client import Client

    ex = extractor(checkpoint)
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    cl = Client(f"127.0.0.1:{port}", timeout=5)
    with background(create_app(searcher(ex, cl, f"server 127.0.0.1:{port}", tmp_path))) as url:
        load(driver, url)
        WebDriverWait(driver, WAIT).until(lambda d: "The index is unavailable" in message(d))
        assert driver.find_element(By.ID, "info").get_attribute("data-ok") == "no"
        picture(1).save(tmp_path / "q.png")
        assert choose(driver, tmp_path / "q.png") == "error"
        assert "the index is unavailable" in message(driver) and str(port) in message(driver)
    cl.close()

    ix = Index.create(str(tmp_path / "empty"), IndexConfig(dim=ex.dim, S=2))
    try:
        with background(create_app(searcher(ex, ix, "embedded empty", tmp_path))) as url:
            load(driver, url)
            WebDriverWait(driver, WAIT).until(lambda d: "The index is empty" in message(d))
            assert choose(driver, tmp_path / "q.png") == "done"
            assert "The index is empty" in message(driver) and results(driver) == []
    finally:
        ix.close()
