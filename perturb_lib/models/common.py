"""Small helpers shared by the architectures."""
from __future__ import annotations

from torch import nn


def scaled(channels: int, width: float, multiple: int = 1, minimum: int = 4) -> int:
    """``channels * width`` rounded to a multiple of ``multiple`` (and at least ``minimum``)."""
    c = max(minimum, int(round(channels * width)))
    return max(multiple, int(round(c / multiple)) * multiple)


def stem(out_channels: int) -> nn.Sequential:
    """A CIFAR-style stem for 1-channel 48x48 faces: 3x3 conv, stride 1, no max-pool (keeps resolution)."""
    return nn.Sequential(nn.Conv2d(1, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU())


def head(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Global average pooling, optional dropout, linear classifier (works for 40x40 and 48x48 inputs)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_features, num_classes))


def no_inplace_relu(model: nn.Module) -> nn.Module:
    """Turn in-place ReLUs off: Captum's hooks (guided backprop, layer attributions) need the originals."""
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model
