"""Finding image files and turning any of them into one deterministic RGB picture.

Kept free of torch so that file discovery, bad-image handling and thumbnails work (and are
tested) without the ``cnn`` extra. Every failure is a :class:`BadImage` carrying a short
reason, so a run over thousands of files can skip it and list it at the end.
"""
from __future__ import annotations

import glob
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats decoded in-process by Pillow itself. Restricting ``Image.open`` to these keeps a
# file named ``x.png`` that is really EPS/PDF from reaching Ghostscript.
SAFE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "PPM", "TGA", "ICO", "MPO", "AVIF", "QOI")
EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".webp",
              ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".mpo", ".avif", ".qoi")
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb limit
_MAGIC = set("*?[")


class BadImage(Exception):
    """A file that cannot become a picture; ``reason`` is short enough for a summary table."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_image_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in EXTENSIONS


def find_images(source: str, root: str | None = None, all_files: bool = False):
    """``(files, keys, ignored)`` for a directory (recursive), a glob or a single file.

    Keys are paths relative to ``root`` (default: the directory, the glob's fixed prefix, or
    the file's directory) with ``/`` separators, sorted so every run sees the same order.
    ``ignored`` counts files passed over for their extension (``all_files`` tries them all).
    """
    if any(c in _MAGIC for c in source):
        base = _glob_base(source)
        found = [p for p in glob.glob(source, recursive=True) if os.path.isfile(p)]
    elif os.path.isdir(source):
        base = source
        found = [os.path.join(d, f) for d, _, files in os.walk(source, followlinks=True) for f in files]
    elif os.path.isfile(source):
        base, found = os.path.dirname(source) or ".", [source]
    else:
        raise FileNotFoundError(f"{source!r} is not a file, a directory or a glob that matches anything")
    root = os.path.abspath(root or base)
    files = sorted(os.path.abspath(p) for p in found)
    kept = files if all_files else [p for p in files if is_image_name(p)]
    keys = [os.path.relpath(p, root).replace(os.sep, "/") for p in kept]
    return kept, keys, len(files) - len(kept)


def _glob_base(pattern: str) -> str:
    parts = pattern.split(os.sep)
    fixed = []
    for p in parts:
        if any(c in _MAGIC for c in p):
            break
        fixed.append(p)
    return os.sep.join(fixed) or "."


def _formats() -> list[str]:
    Image.init()  # registers every plugin, so the names below can be looked up
    return [f for f in SAFE_FORMATS if f in Image.OPEN]


def open_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, draft: int = 0) -> Image.Image:
    """Decode ``path`` (first frame of animations, EXIF orientation applied) as an RGB image,
    transparent parts composited on white. ``draft``: let JPEG decode at a reduced scale whose
    shorter side still is >= ``draft`` pixels (same result every run, much faster on photos)."""
    try:
        if os.path.getsize(path) == 0:
            raise BadImage("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=_formats()) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise BadImage(f"too large: {w}x{h} = {w * h} pixels > limit {max_pixels}")
                if w == 0 or h == 0:
                    raise BadImage(f"empty image ({w}x{h})")
                im.seek(0)
                if draft and im.format == "JPEG":
                    im.draft("RGB", (draft, draft))
                im.load()
                return to_rgb(ImageOps.exif_transpose(im))
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image (unrecognised format)") from None
    except Image.DecompressionBombError as e:
        raise BadImage(f"too large: {e}") from None
    except FileNotFoundError:
        raise BadImage("file not found") from None
    except PermissionError:
        raise BadImage("permission denied") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, MemoryError) as e:
        raise BadImage(f"corrupt or unsupported: {type(e).__name__}: {e}") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; alpha is composited over white."""
    mode = im.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        im = Image.fromarray(_to_uint8(np.asarray(im), mode), "L")
        mode = "L"
    if (mode == "P" and "transparency" in im.info) or mode in ("PA", "LA", "La", "RGBa", "RGBA"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV, RGBX ...


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit grey -> 8 bits: 16-bit ranges scale by 1/257; float images in [0, 1] by 255."""
    a = a.astype(np.float64)
    if mode == "F" and a.size and np.nanmax(a) <= 1.0:
        a = a * 255.0
    elif mode != "F":
        a = a / 257.0
    return np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)


def resize_crop(im: Image.Image, resize: int, crop: int, resample=Image.Resampling.BILINEAR) -> Image.Image:
    """Shorter side to ``resize`` (aspect kept), then the centre ``crop`` x ``crop`` square."""
    w, h = im.size
    # sizes and offsets rounded as torchvision's Resize/CenterCrop do, so published weights see
    # the inputs they were evaluated on; never smaller than the crop (torchvision would pad)
    nw, nh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    nw, nh = max(crop, nw), max(crop, nh)
    im = im.resize((nw, nh), resample)
    left, top = int(round((nw - crop) / 2.0)), int(round((nh - crop) / 2.0))
    return im.crop((left, top, left + crop, top + crop))


def thumbnail(path: str, size: int = 192, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    im = open_image(path, max_pixels, draft=size)
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    return im
