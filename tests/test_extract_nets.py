"""Our networks carry torchvision's module/parameter names and sizes, so its published
checkpoints load by name; the headless network gives batch-independent pooled features."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sanny.engine.extract import nets  # noqa: E402

# torchvision's resnet50 state-dict keys (a sample from each part) and every network's
# parameter count as published with torchvision's ImageNet weights
RESNET50_KEYS = ["conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
                 "layer1.0.conv1.weight", "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var",
                 "layer2.3.bn2.bias", "layer3.5.conv3.weight", "layer4.0.downsample.1.weight",
                 "layer4.2.bn3.running_var", "fc.weight", "fc.bias"]
PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
          "resnet152": 60_192_808, "efficientnet_b0": 5_288_548}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_resnet50_has_torchvisions_layout():
    sd = nets.build("resnet50").state_dict()
    assert set(RESNET50_KEYS) <= set(sd)
    assert len(sd) == 320  # 161 parameters + 159 BatchNorm buffers
    assert sd["fc.weight"].shape == (1000, 2048) and sd["layer4.2.bn3.running_var"].shape == (2048,)
    assert sd["layer1.0.conv2.weight"].shape == (64, 64, 3, 3)  # stride sits on the 3x3 (v1.5)
    assert not any(k.startswith("layer5") for k in sd)


def test_efficientnet_b0_has_torchvisions_layout():
    sd = nets.build("efficientnet_b0").state_dict()
    for k, shape in {"features.0.0.weight": (32, 3, 3, 3), "features.1.0.block.0.0.weight": (32, 1, 3, 3),
                     "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),
                     "features.2.0.block.0.0.weight": (96, 16, 1, 1),
                     "features.6.3.block.3.1.running_var": (192,), "features.8.0.weight": (1280, 320, 1, 1),
                     "classifier.1.weight": (1000, 1280)}.items():
        assert sd[k].shape == shape, k


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_count(name):
    assert name in nets.NAMES
    assert n_params(nets.build(name)) == PARAMS[name]


def test_headless_keeps_every_body_key_and_drops_only_the_classifier():
    full = set(nets.build("resnet50").state_dict())
    body = set(nets.headless(nets.build("resnet50"), "resnet50").state_dict())
    assert full - body == {"fc.weight", "fc.bias"} and body < full


def test_features_do_not_depend_on_the_batch():
    torch.manual_seed(0)
    m = nets.headless(nets.build("resnet18"), "resnet18").eval()
    x = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        together = m(x)
        alone = torch.cat([m(x[i:i + 1]) for i in range(4)])
    assert together.shape == (4, 512)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
