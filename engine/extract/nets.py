"""ResNet-18/34/50/101/152 and EfficientNet-B0 in plain torch, named as torchvision names them.

torchvision cannot be installed beside the CPU-only torch build (its wheels need CUDA torch),
so the networks are defined here. Module and parameter names follow torchvision's layout
(``layer4.2.bn3.running_var``, ``features.1.0.block.0.0.weight``, ``fc.weight``...), so a
state dict saved from a torchvision model — the published ImageNet checkpoints included —
loads with strict key matching. ``build(name)`` returns the full classifier;
:func:`headless` swaps the classifier for an identity, leaving the pooled penultimate features.
"""
from __future__ import annotations

import torch
from torch import nn

# name -> (block kind, blocks per stage); feature dims follow from the block kind
_RESNETS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
            "resnet50": ("bottleneck", (3, 4, 6, 3)), "resnet101": ("bottleneck", (3, 4, 23, 3)),
            "resnet152": ("bottleneck", (3, 8, 36, 3))}
# EfficientNet-B0 stages: (expand ratio, kernel, stride, in channels, out channels, blocks)
_B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
NAMES = (*_RESNETS, "efficientnet_b0")
HEADS = {**{n: "fc" for n in _RESNETS}, "efficientnet_b0": "classifier"}


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2, groups=groups, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus the shortcut (ResNet-18/34)."""
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, "ResNet v1.5"), 1x1 expand, plus the shortcut."""
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = _conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, block: type, layers: tuple, num_classes: int = 1000):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != planes * block.expansion:
                down = nn.Sequential(_conv(cin, planes * block.expansion, 1, stride),
                                     nn.BatchNorm2d(planes * block.expansion))
            blocks = [block(cin, planes, stride, down)]
            cin = planes * block.expansion
            blocks += [block(cin, planes) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.dim = cin
        _init(self)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _cna(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv + BatchNorm (+ SiLU), numbered 0/1/2 like torchvision's Conv2dNormActivation."""
    layers = [_conv(cin, cout, k, stride, groups), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.SiLU(inplace=True)) if act else nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.activation, self.scale_activation = nn.SiLU(inplace=True), nn.Sigmoid()

    def forward(self, x):
        return x * self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))


class MBConv(nn.Module):
    """Inverted residual: expand 1x1, depthwise kxk, squeeze-excitation, project 1x1.
    (Stochastic depth is a training-time regulariser and has no parameters: left out.)"""

    def __init__(self, expand: int, k: int, stride: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        layers = [_cna(cin, mid, 1)] if expand != 1 else []
        layers += [_cna(mid, mid, k, stride, groups=mid), SqueezeExcitation(mid, max(1, cin // 4)),
                   _cna(mid, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class EfficientNetB0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        stages = [_cna(3, 32, 3, 2)]
        for expand, k, stride, cin, cout, n in _B0_STAGES:
            stages.append(nn.Sequential(*(MBConv(expand, k, stride if j == 0 else 1, cin if j == 0 else cout, cout)
                                          for j in range(n))))
        stages.append(_cna(320, 1280, 1))
        self.features = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(1280, num_classes))
        self.dim = 1280
        _init(self)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _init(model: nn.Module) -> None:
    """He-normal convolutions, unit BatchNorm, small uniform linear layers (torchvision-style)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            r = 1.0 / m.out_features ** 0.5
            nn.init.uniform_(m.weight, -r, r)
            nn.init.zeros_(m.bias)


def build(name: str, num_classes: int = 1000) -> nn.Module:
    """The full classifier ``name`` (one of :data:`NAMES`) with freshly initialised weights."""
    if name == "efficientnet_b0":
        return EfficientNetB0(num_classes)
    kind, layers = _RESNETS[name]
    return ResNet(BasicBlock if kind == "basic" else Bottleneck, layers, num_classes)


def headless(model: nn.Module, name: str) -> nn.Module:
    """``model`` with its classifier replaced by an identity: forward gives pooled features."""
    setattr(model, HEADS[name], nn.Identity())
    return model
