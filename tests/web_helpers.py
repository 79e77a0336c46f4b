"""Shared by the web page's tests: a small index of generated pictures, the page's Searcher
over it, and a headless Chromium that skips only where it genuinely cannot run.

The network is the saved, seeded, untrained ResNet-50 of ``extract_helpers`` at 64-pixel input
(nothing is downloaded). In CI (``CI=true``) a missing browser fails the tests instead of
skipping them: CI installs it (``.ci/run``).
"""
from __future__ import annotations

import os

import pytest

from extract_helpers import SIZE, write_pictures

HOSTILE = "<img src=x onerror=window.__pwned=1>.png"
WAIT = 180  # seconds a page state may take with the CPU busy; a broken page fails, never hangs


def extractor(checkpoint: str):
    from sanny.engine.extract.extractor import Extractor

    return Extractor("resnet50", checkpoint, image_size=SIZE, loader_workers=0, progress=False)


def make_index(path, ex, pics, n: int, hostile: bool = True):
    """``(index, keys)``: ``n`` pictures under ``pics`` registered embedded (plus, with
    ``hostile``, a picture whose key and file name are an HTML injection attempt)."""
    from sanny.engine import Index, IndexConfig, InnerParams

    keys = write_pictures(pics, n, sub="more")
    if hostile:
        from extract_helpers import picture

        picture(900).save(os.path.join(pics, HOSTILE))
        keys.append(HOSTILE)
    ix = Index.create(str(path), IndexConfig(dim=ex.dim, S=4, inner=InnerParams(kind="exact")))
    for b in ex.run([os.path.join(pics, k) for k in keys], keys):
        ix.insert(b.keys, b.vectors)
    return ix, keys


def searcher(ex, target, where: str, root, **kw):
    from sanny.engine.web.backend import Backend
    from sanny.engine.web.searcher import Searcher

    return Searcher(ex, Backend(target, where), str(root), **kw)


def png_bytes(im) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def bomb_png(side: int = 8000) -> bytes:
    """A few KB of PNG that claims ``side``² pixels (1-bit, all black): a decompression bomb."""
    from PIL import Image

    return png_bytes(Image.new("1", (side, side)))


@pytest.fixture(scope="module")
def driver():
    """A headless Chromium (Selenium); skipped with the reason only outside CI."""
    from sanny.engine.web import browser

    why = browser.missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests, but {why}")
        pytest.skip(why)
    with browser.chromium() as drv:
        yield drv


# -- driving the page (each step waits for the page's own state, never for a fixed time) ------
def body(drv):
    from selenium.webdriver.common.by import By

    return drv.find_element(By.TAG_NAME, "body")


def load(drv, url):
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get(url)
    WebDriverWait(drv, WAIT).until(lambda d: body(d).get_attribute("data-ready") == "yes")


def acted(drv, action) -> str:
    """Run ``action`` and wait until the page finished the request it started; its state."""
    from selenium.webdriver.support.ui import WebDriverWait

    before = body(drv).get_attribute("data-seq")
    action()
    WebDriverWait(drv, WAIT).until(lambda d: body(d).get_attribute("data-seq") != before)
    return body(drv).get_attribute("data-state")


def choose(drv, path):
    from selenium.webdriver.common.by import By

    return acted(drv, lambda: drv.find_element(By.ID, "file").send_keys(str(path)))


def results(drv) -> list[tuple[str, str]]:
    """``(key, "distance D")`` of every result tile, in rank order, as the page shows them."""
    from selenium.webdriver.common.by import By

    return [(f.find_element(By.CSS_SELECTOR, ".key").text, f.find_element(By.CSS_SELECTOR, ".d").text)
            for f in drv.find_elements(By.CSS_SELECTOR, "#results figure")]


def message(drv) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.ID, "message").text


def thumbs_loaded(drv) -> bool:
    return drv.execute_script("return [...document.querySelectorAll('#results img')]"
                              ".every(i => i.complete && i.naturalWidth > 0)")
