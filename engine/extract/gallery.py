"""The results page of ``sanny search-image --html``: each query beside its neighbours.

Thumbnails are embedded as base64 JPEG data URIs by default, so the page is one file that can
be mailed or archived; ``links=True`` refers to the image files by relative path instead
(small page, but it only works next to the images). Keys that do not resolve to a file under
the image root (missing, or outside it: ``../x``) are shown as a labelled blank tile, never dropped.
"""
from __future__ import annotations

import base64
import html
import io
import os

from . import images

_CSS = """body{font-family:sans-serif;margin:1em;background:#fafafa}
h2{font-size:1em;margin:1.5em 0 .4em}.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;width:%(s)dpx;background:#fff;border:1px solid #ddd;padding:4px}
figure.query{border:2px solid #2a6}.img{width:%(s)dpx;height:%(s)dpx;display:flex;
align-items:center;justify-content:center;background:#eee}.img img{max-width:100%%;max-height:100%%}
figcaption{font-size:11px;word-break:break-all;margin-top:3px}.d{color:#555}.miss{color:#a33;font-size:11px}"""


def under_root(root: str, key: str) -> str | None:
    """The file ``key`` names under ``root``, or None when it resolves (``..``, an absolute key,
    a symlink) to anywhere outside ``root``: a stored key never makes the page read other files."""
    base = os.path.realpath(root)
    path = os.path.realpath(os.path.join(base, key))
    return path if os.path.commonpath([base, path]) == base and path != base else None


def _src(path: str | None, out_dir: str, size: int, links: bool) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    if links:
        return os.path.relpath(path, out_dir).replace(os.sep, "/")
    try:
        im = images.thumbnail(path, size)
    except images.BadImage:
        return None
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _tile(path: str | None, caption: str, out_dir: str, size: int, links: bool, cls: str = "") -> str:
    src = _src(path, out_dir, size, links)
    img = (f'<img src="{html.escape(src)}" alt="" loading="lazy">' if src else
           '<span class="miss">image not found</span>')
    return f'<figure class="{cls}"><div class="img">{img}</div><figcaption>{caption}</figcaption></figure>'


def write(out: str, queries: list[str], results, root: str, title: str = "Sanny image search",
          size: int = 160, links: bool = False, note: str = "") -> None:
    """``results[i]`` is a list of ``(key, distance)`` for ``queries[i]``; keys resolve under ``root``."""
    out_dir = os.path.dirname(os.path.abspath(out))
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS % {'s': size}}</style><h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    for q, hits in zip(queries, results):
        parts.append(f"<h2>query: {html.escape(q)}</h2><div class='row'>")
        parts.append(_tile(q, "<b>query</b><br>" + html.escape(os.path.basename(q)), out_dir, size, links, "query"))
        for rank, (key, dist) in enumerate(hits, 1):
            cap = f"#{rank} {html.escape(key)}<br><span class='d'>distance {dist:.4g}</span>"
            parts.append(_tile(under_root(root, key), cap, out_dir, size, links))
        if not hits:
            parts.append("<p>no results</p>")
        parts.append("</div>")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
