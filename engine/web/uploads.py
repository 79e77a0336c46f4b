"""Everything of the page that touches untrusted input: uploaded bytes and keys naming files.

An upload is read up to ``max_bytes + 1`` bytes only, its header is checked against the pixel
limit before any pixel is decoded (decompression bombs), and only Pillow's in-process decoders
of :data:`images.SAFE_FORMATS` are tried. What the browser gets back is always our own JPEG
re-encoding, never the uploaded bytes. A key becomes a file only through :func:`confine`: a
path under the images root, whatever ``..``, absolute path, symlink or NUL byte the key holds.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass

from PIL import Image

from ..extract import images
from ..extract.gallery import under_root

DEFAULT_MAX_BYTES = 20 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000  # 120 MB as RGB: bounds the memory one request may take
MAX_KEY_CHARS = 4096
THUMB = 192


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


class Refused(Exception):
    """Input the page will not use; the message is shown to the person, ``status`` is HTTP's."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    image: Image.Image  # decoded RGB (a JPEG may be decoded at a reduced, still large enough, scale)
    data: bytes         # the bytes as uploaded
    format: str         # Pillow's name: PNG, JPEG, ...
    name: str           # the browser's file name: shown (escaped), never used as a path

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def ext(self) -> str:
        reg = Image.registered_extensions()
        return next((e for e in images.EXTENSIONS if reg.get(e) == self.format), ".img")


def read(stream, limits: Limits) -> bytes:
    """At most ``max_bytes`` from ``stream``; more is refused without reading it all."""
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise Refused(too_large(limits), 413)
    if not data:
        raise Refused("the upload is empty (0 bytes)")
    return data


def too_large(limits: Limits) -> str:
    return f"upload too large: the limit is {limits.max_bytes / 2**20:.1f} MiB"


def decode(data: bytes, name: str, limits: Limits, draft: int = 0) -> Upload:
    """The upload as a picture, or :class:`Refused` saying why not (corrupt, not an image, too
    many pixels). Decoding goes through :func:`images.open_image`, the CLI's own reader."""
    with tempfile.NamedTemporaryFile(suffix=".upload") as f:
        f.write(data)
        f.flush()
        try:
            im = images.open_image(f.name, limits.max_pixels, draft=draft)
            with Image.open(f.name) as head:  # already decoded above: this reads the header only
                fmt = head.format or ""
        except images.BadImage as e:
            status = 413 if e.reason.startswith("too large") else 400
            raise Refused(f"{shown(name)}: not a usable image: {e.reason}", status) from None
    if fmt not in images.SAFE_FORMATS:
        raise Refused(f"{shown(name)}: unsupported image type {fmt or 'unknown'}")
    return Upload(im, data, fmt, name)


def shown(name: str, limit: int = 120) -> str:
    """A file name cut to a length fit for a message (the page escapes it)."""
    name = name or "upload"
    return name if len(name) <= limit else name[:limit] + "..."


def jpeg(im: Image.Image, size: int = THUMB) -> bytes:
    """A ``size``-bounded JPEG thumbnail of a decoded picture."""
    im = im.copy()
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def data_uri(jpeg_bytes: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode()


def confine(root: str, key: str) -> str | None:
    """The regular file ``key`` names under ``root``, or None (outside it, missing, not a file,
    or a key no file can have: NUL byte, too long)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        return None
    try:
        path = under_root(root, key)
    except (ValueError, OSError):  # embedded NUL, name too long for the file system
        return None
    return path if path and os.path.isfile(path) else None


def thumbnail(root: str, key: str, max_pixels: int, size: int = THUMB) -> bytes | None:
    """JPEG thumbnail of the file ``key`` names under ``root``; None if there is none or it
    does not decode (the page then shows a labelled blank tile)."""
    path = confine(root, key)
    if path is None:
        return None
    try:
        st = os.stat(path)
        return _file_thumb(path, st.st_mtime_ns, st.st_size, max_pixels, size)
    except (images.BadImage, OSError):
        return None


@functools.lru_cache(maxsize=1024)
def _file_thumb(path: str, mtime_ns: int, nbytes: int, max_pixels: int, size: int) -> bytes:
    """Cached per file version (mtime and size are part of the key), ~10 KB each."""
    buf = io.BytesIO()
    images.thumbnail(path, size, max_pixels).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def save_under(root: str, subdir: str, up: Upload) -> tuple[str, str]:
    """Store the upload as ``SUBDIR/<sha256 prefix><ext>`` under ``root``: ``(key, path)``.
    Content-addressed, so the browser's file name never becomes a path and a second upload of
    the same bytes is the same key."""
    key = f"{subdir.strip('/')}/{up.digest[:24]}{up.ext}"
    path = under_root(root, key)
    if path is None:
        raise Refused(f"the upload folder {subdir!r} is outside the images root", 500)
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(up.data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return key, path
