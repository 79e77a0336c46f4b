"""Preprocessing in Pillow + torch: shorter side resized, centre crop, ImageNet mean/std."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from sanny.engine.extract.models import MEAN, STD, preprocess_for, to_tensor  # noqa: E402

from extract_helpers import picture  # noqa: E402


def test_shape_and_dtype_of_a_generated_picture():
    x = to_tensor(picture(0, (333, 517)), preprocess_for("resnet50"))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32


def test_a_flat_colour_is_normalised_per_channel():
    rgb = (200, 30, 120)
    x = to_tensor(Image.new("RGB", (90, 70), rgb), preprocess_for("resnet50", image_size=48))
    assert x.shape == (3, 48, 48)
    for c in range(3):
        want = (rgb[c] / 255 - MEAN[c]) / STD[c]
        torch.testing.assert_close(x[c], torch.full((48, 48), want), rtol=0, atol=1e-5)


def test_the_centre_is_kept():
    a = np.zeros((100, 400, 3), np.uint8)
    a[:, 150:250] = 255  # a white square in the middle of a wide picture
    x = to_tensor(Image.fromarray(a), preprocess_for("resnet50", image_size=32))
    white = (1 - MEAN[0]) / STD[0]
    assert x.shape == (3, 32, 32)
    assert torch.all(x[0, :, 2:30] > white - 0.1)  # resize to 33 px high: the crop is the square


def test_image_size_scales_the_resize_with_the_crop():
    p = preprocess_for("resnet50", "IMAGENET1K_V1", image_size=112)
    assert (p.resize, p.crop) == (128, 112)
