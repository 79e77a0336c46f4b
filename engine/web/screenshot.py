"""A screenshot of the page for the README: ``python -m sanny.engine.web.screenshot --out docs/web.png``.

Draws a small set of pictures, registers them into an embedded index with an untrained
network (nothing is downloaded), serves the page, drops a shrunken copy of one picture on it in
headless Chromium and saves what the browser shows. Same inputs, same picture every run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw


def draw(seed: int, size=(240, 180)) -> Image.Image:
    """A seeded picture: a two-colour gradient and a few shapes (distinct colours and layout)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, size[1])[:, None, None]
    im = Image.fromarray(np.broadcast_to(a * (1 - t) + b * t, (size[1], size[0], 3)).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, size[0] * 3 // 4)), int(rng.integers(0, size[1] * 3 // 4))
        box = (x0, y0, x0 + int(rng.integers(20, size[0] // 2)), y0 + int(rng.integers(20, size[1] // 2)))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    return im


def demo(work: str, n: int, model: str, image_size: int):
    """``(searcher, query path)``: ``n`` pictures registered into an index under ``work``."""
    from sanny.engine import Index, IndexConfig

    from ..extract.extractor import Extractor
    from .backend import Backend
    from .searcher import Searcher

    root = os.path.join(work, "pictures")
    os.makedirs(os.path.join(root, "park"), exist_ok=True)
    keys = [f"park/photo-{i:03d}.png" if i % 3 else f"photo-{i:03d}.png" for i in range(n)]
    for i, k in enumerate(keys):
        draw(i).save(os.path.join(root, k))
    ex = Extractor(model, "random", image_size=image_size, loader_workers=0, progress=False)
    files = [os.path.join(root, k) for k in keys]
    ix = Index.create(os.path.join(work, "index"), IndexConfig(dim=ex.dim, S=2))
    for b in ex.run(files, keys):
        ix.insert(b.keys, b.vectors)
    query = os.path.join(work, "query.jpg")
    draw(4).resize((180, 135)).save(query, quality=90)
    return Searcher(ex, Backend(ix, "embedded index"), root, k=8, allow_register=True), query


def shoot(out: str, n: int = 40, model: str = "resnet18", image_size: int = 128) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from .app import create_app
    from .browser import chromium
    from .serving import background

    with tempfile.TemporaryDirectory(prefix="sanny-web-shot-") as work:
        searcher, query = demo(work, n, model, image_size)
        try:
            with background(create_app(searcher)) as url, chromium(1240, 1000) as drv:
                drv.get(url)
                wait = WebDriverWait(drv, 120)
                wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "yes")
                drv.find_element(By.ID, "file").send_keys(query)
                wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-seq") == "1")
                wait.until(lambda d: d.execute_script(
                    "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"))
                os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
                drv.save_screenshot(out)
        finally:
            searcher.backend.close()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/web.png")
    p.add_argument("--n", type=int, default=40, help="pictures in the demo index")
    a = p.parse_args(argv)
    print(f"wrote {shoot(a.out, a.n)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
