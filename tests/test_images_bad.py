"""Files that cannot become pictures are refused with a short reason (never an exception
other than BadImage), so a run can skip them and list them."""
from __future__ import annotations

import pytest
from PIL import Image

from sanny.engine.extract.images import BadImage, open_image

from extract_helpers import picture


def reason(path, **kw) -> str:
    with pytest.raises(BadImage) as e:
        open_image(str(path), **kw)
    return e.value.reason


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    assert "empty file" in reason(p)


def test_text_named_like_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("definitely not a PNG\n")
    assert "not an image" in reason(p)


def test_truncated_png(tmp_path):
    p = tmp_path / "cut.png"
    picture(0).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert "corrupt" in reason(p)


def test_garbage_after_a_valid_jpeg_header(tmp_path):
    p = tmp_path / "garbage.jpg"
    picture(1).save(p, "JPEG")
    data = bytearray(p.read_bytes())
    data[200:] = bytes(len(data) - 200)  # keep the header, zero the entropy-coded data
    p.write_bytes(bytes(data[:400]))
    assert reason(p)


def test_over_the_pixel_limit(tmp_path):
    p = tmp_path / "big.png"
    Image.new("1", (3000, 2000)).save(p)  # 6 M pixels, a tiny file
    assert "too large" in reason(p, max_pixels=5_000_000)
    assert open_image(str(p), max_pixels=7_000_000).size == (3000, 2000)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (16000, 12000)).save(p)  # 192 M pixels, over Pillow's 2x bomb limit too
    assert "too large" in reason(p)


def test_eps_disguised_as_png_never_reaches_ghostscript(tmp_path):
    p = tmp_path / "evil.png"
    p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    assert "not an image" in reason(p)


def test_missing_file(tmp_path):
    with pytest.raises(BadImage):
        open_image(str(tmp_path / "gone.png"))
