"""Shared by the image tests: seeded synthetic pictures and a saved ResNet-50 checkpoint.

Pictures are drawn with Pillow from a seed (background, a few coloured shapes), so each one
is distinct in colour and layout and every run draws the same ones. The checkpoint is a
seeded, untrained ResNet-50 state dict written to disk, so the ``--weights PATH`` code path
is what the end-to-end tests exercise; nothing is downloaded.
"""
from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64          # network input side in tests: small keeps 2 CPU cores fast
BATCH = 8


def picture(seed: int, size=(160, 120)) -> Image.Image:
    rng = np.random.default_rng(seed)
    col = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    im = Image.new("RGB", size, col())
    d = ImageDraw.Draw(im)
    w, h = size
    for _ in range(4):
        x0, y0 = int(rng.integers(0, w * 2 // 3)), int(rng.integers(0, h * 2 // 3))
        box = (x0, y0, x0 + int(rng.integers(w // 5, w // 2)), y0 + int(rng.integers(h // 5, h // 2)))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=col())
    return im


def write_pictures(folder, n: int, start: int = 0, sub: str = "") -> list[str]:
    """``n`` pictures as PNG/JPEG under ``folder`` (some in a subfolder ``sub``); returns keys."""
    keys = []
    for i in range(start, start + n):
        rel = f"{sub}/img{i:03d}.png" if sub and i % 2 else f"img{i:03d}.png"
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        picture(i).save(path)
        keys.append(rel)
    return keys


def variants(src: str, out_dir: str) -> dict[str, str]:
    """An exact copy, a resized copy and a slightly cropped copy of ``src``."""
    os.makedirs(out_dir, exist_ok=True)
    im = Image.open(src).convert("RGB")
    w, h = im.size
    paths = {"copy": os.path.join(out_dir, "copy.png"), "resized": os.path.join(out_dir, "resized.png"),
             "cropped": os.path.join(out_dir, "cropped.png")}
    im.save(paths["copy"])
    im.resize((w * 3 // 5, h * 3 // 5), Image.Resampling.LANCZOS).save(paths["resized"])
    dx, dy = w // 20, h // 20
    im.crop((dx, dy, w - dx, h - dy)).save(paths["cropped"])
    return paths


def save_checkpoint(path: str, seed: int = 7, name: str = "resnet50") -> str:
    """A seeded, untrained state dict of the full classifier ``name`` (torchvision's key layout,
    ``fc`` included, as a published checkpoint has it) saved with ``torch.save``."""
    import torch
    from sanny.engine.extract import nets

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = nets.build(name)
    torch.save(m.state_dict(), path)
    return path


# -- pytest pieces (import them into a test module to use them) ------------------------------
import pytest  # noqa: E402

_CACHE: dict[str, str] = {}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> str:
    """Path of the saved ResNet-50 state dict, written once per session."""
    pytest.importorskip("torch")
    if "ck" not in _CACHE:
        _CACHE["ck"] = save_checkpoint(str(tmp_path_factory.mktemp("weights") / "resnet50.pt"))
    return _CACHE["ck"]


def feature_args(ck: str) -> list[str]:
    """CLI options shared by every command in a test: small input, in-process decoding."""
    return ["--weights", ck, "--image-size", str(SIZE), "--batch-size", str(BATCH),
            "--loader-workers", "0", "--no-progress"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``sanny ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    from sanny.engine.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def parse(out: str) -> dict[str, list[tuple[str, float]]]:
    """search-image stdout -> {query path: [(key, distance), ...]}."""
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith("query: "):
            cur = res.setdefault(line[7:], [])
        elif (m := re.match(r"\s*\d+\s+(\S+)\s+(.+)$", line)) and cur is not None:
            cur.append((m.group(2), float(m.group(1))))
    return res
