"""Every Pillow mode becomes the same kind of picture: 8-bit RGB, transparency on white,
the first frame of an animation, EXIF orientation applied; resize + centre crop is exact."""
from __future__ import annotations

import numpy as np
from PIL import Image

from sanny.engine.extract.images import open_image, resize_crop


def rgb(path) -> np.ndarray:
    im = open_image(str(path))
    assert im.mode == "RGB"
    return np.asarray(im).astype(int)


def test_grayscale(tmp_path):
    Image.new("L", (20, 10), 100).save(tmp_path / "g.png")
    assert (rgb(tmp_path / "g.png") == 100).all()


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    a = np.full((10, 20), 65535, np.uint16)
    a[:, :10] = 32896  # ~ 128 * 257
    Image.fromarray(a).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    x = rgb(tmp_path / "g16.png")
    assert (x[:, 10:] == 255).all() and (x[:, :10] == 128).all()


def test_rgba_is_composited_on_white(tmp_path):
    a = np.zeros((10, 20, 4), np.uint8)
    a[:, :10] = (255, 0, 0, 255)          # opaque red
    a[:, 10:] = (0, 0, 0, 0)              # fully transparent (black underneath)
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    x = rgb(tmp_path / "a.png")
    assert (x[:, :10] == (255, 0, 0)).all() and (x[:, 10:] == 255).all()


def test_half_transparent_blends_with_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 128)).save(tmp_path / "h.png")
    assert abs(rgb(tmp_path / "h.png") - 127).max() <= 1


def test_grayscale_with_alpha(tmp_path):
    Image.new("LA", (8, 8), (0, 0)).save(tmp_path / "la.png")
    assert (rgb(tmp_path / "la.png") == 255).all()


def test_palette_with_transparent_index(tmp_path):
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.save(tmp_path / "p.png", transparency=1)
    assert (rgb(tmp_path / "p.png") == 255).all()
    im.save(tmp_path / "p2.png")  # no transparency: the palette colour
    assert (rgb(tmp_path / "p2.png") == (0, 0, 255)).all()


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    r, g, b = rgb(tmp_path / "c.jpg").mean((0, 1))
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 100%, 100%, 0) is red


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(tmp_path / "anim.gif").n_frames == 3
    x = rgb(tmp_path / "anim.gif")
    assert x[..., 0].min() > 240 and x[..., 1].max() < 15


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert open_image(str(tmp_path / "rot.jpg")).size == (20, 40)


def test_resize_crop_shapes_and_centre():
    a = np.zeros((100, 300, 3), np.uint8)
    a[:, 100:200] = 255  # a white centre band, exactly what a centre crop of the square keeps
    out = resize_crop(Image.fromarray(a), resize=50, crop=50)
    assert out.size == (50, 50)
    assert np.asarray(out)[:, 5:45].min() > 200


def test_resize_crop_of_a_tiny_image_still_fills_the_input():
    out = resize_crop(Image.new("RGB", (3, 7)), resize=36, crop=32)
    assert out.size == (32, 32)
