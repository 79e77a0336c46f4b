"""--weights imagenet uses torchvision's cache; offline with an empty cache the user gets one
clear message naming both fixes, never a traceback. The network is never touched: the
download function is replaced by one that fails as an offline machine does."""
from __future__ import annotations

import urllib.error

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from sanny.engine.extract import WeightsUnavailable  # noqa: E402
from sanny.engine.extract.models import cache_path, load  # noqa: E402

from extract_helpers import picture, run_cli  # noqa: E402


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


def test_offline_without_cache_names_both_fixes(offline):
    from torchvision.models import EfficientNet_B0_Weights

    with pytest.raises(WeightsUnavailable) as e:
        load("efficientnet_b0", "imagenet")
    msg = str(e.value)
    assert cache_path(EfficientNet_B0_Weights.DEFAULT) in msg and "--weights PATH" in msg
    assert "Temporary failure in name resolution" in msg
    assert len(offline) == 1


def test_cached_weights_load_without_network(offline):
    from torchvision import models

    path = cache_path(models.EfficientNet_B0_Weights.DEFAULT)
    import os

    os.makedirs(os.path.dirname(path))
    torch.save(models.efficientnet_b0().state_dict(), path)  # stands in for the real file
    net = load("efficientnet_b0", "imagenet", image_size=64)
    assert net.weights_id == "imagenet:IMAGENET1K_V1" and offline == []


def test_damaged_cache_file_is_named(offline):
    from torchvision import models

    path = cache_path(models.EfficientNet_B0_Weights.DEFAULT)
    import os

    os.makedirs(os.path.dirname(path))
    open(path, "wb").write(b"truncated download")
    with pytest.raises(WeightsUnavailable, match="delete the file"):
        load("efficientnet_b0", "imagenet")


def test_cli_reports_it_in_one_line(offline, tmp_path, capsys):
    picture(0).save(tmp_path / "a.png")
    code, _, err = run_cli(capsys, "extract", tmp_path / "a.png", "--out", tmp_path / "f.h5",
                           "--model", "efficientnet_b0", "--no-progress")
    assert code == 2
    assert "sanny extract: error:" in err and "--weights PATH" in err
    assert "Traceback" not in err
