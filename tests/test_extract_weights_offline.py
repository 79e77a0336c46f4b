"""--weights imagenet reads torchvision's published file from the torch hub cache; offline with
an empty cache the user gets one clear message naming where to put it, never a traceback. The
network is never touched: the download function is replaced by one that fails as an offline
machine does, and a seeded untrained state dict stands in for the published file."""
from __future__ import annotations

import os
import urllib.error

import pytest

torch = pytest.importorskip("torch")

from sanny.engine.extract import WeightsUnavailable  # noqa: E402
from sanny.engine.extract.models import CHECKPOINTS, cache_path, load  # noqa: E402

from extract_helpers import picture, run_cli, save_checkpoint  # noqa: E402


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch cache and no network; records download attempts."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    attempts = []

    def no_network(url, dst, *a, **kw):
        attempts.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return attempts


def cached(name: str, tag: str) -> str:
    ck = next(c for c in CHECKPOINTS[name] if c.tag == tag)
    path = cache_path(ck)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def test_cache_is_torch_hubs_checkpoints_dir(offline, tmp_path):
    ck = CHECKPOINTS["resnet50"][1]
    assert cache_path(ck) == os.path.join(torch.hub.get_dir(), "checkpoints", "resnet50-0676ba61.pth")
    assert cache_path(ck).startswith(str(tmp_path / "torch-home"))


def test_offline_without_cache_names_both_fixes(offline):
    with pytest.raises(WeightsUnavailable) as e:
        load("resnet50", "imagenet")
    msg = str(e.value)
    assert cache_path(CHECKPOINTS["resnet50"][0]) in msg and "--weights PATH" in msg
    assert "--weights random" in msg and "untrained" in msg
    assert "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in msg
    assert "Temporary failure in name resolution" in msg
    assert offline == ["https://download.pytorch.org/models/resnet50-11ad3fa6.pth"]


@pytest.mark.parametrize("name,tag,resize", [("resnet50", "IMAGENET1K_V1", 256), ("resnet50", "IMAGENET1K_V2", 232),
                                             ("efficientnet_b0", "IMAGENET1K_V1", 256)])
def test_cached_weights_load_without_network(offline, name, tag, resize):
    path = save_checkpoint(cached(name, tag), name=name)  # stands in for the published file
    net = load(name, "imagenet")
    assert net.weights_id == f"imagenet:{tag}" and offline == []
    assert (net.preprocess.resize, net.preprocess.crop) == (resize, 224)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(net.module(x), load(name, path).module(x))  # same as --weights PATH


def test_a_tag_picks_that_file(offline):
    save_checkpoint(cached("resnet50", "IMAGENET1K_V1"))
    assert load("resnet50", "IMAGENET1K_V1", image_size=64).weights_id == "imagenet:IMAGENET1K_V1"
    with pytest.raises(WeightsUnavailable, match="resnet50-11ad3fa6.pth"):
        load("resnet50", "IMAGENET1K_V2")  # not cached, and offline


def test_damaged_cache_file_is_named(offline):
    path = cached("efficientnet_b0", "IMAGENET1K_V1")
    open(path, "wb").write(b"truncated download")
    with pytest.raises(WeightsUnavailable, match="delete the file") as e:
        load("efficientnet_b0", "imagenet")
    assert path in str(e.value)


def test_cli_reports_it_in_one_line(offline, tmp_path, capsys):
    picture(0).save(tmp_path / "a.png")
    code, _, err = run_cli(capsys, "extract", tmp_path / "a.png", "--out", tmp_path / "f.h5",
                           "--model", "efficientnet_b0", "--no-progress")
    assert code == 2
    assert "sanny extract: error:" in err and "--weights PATH" in err
    assert "Traceback" not in err
