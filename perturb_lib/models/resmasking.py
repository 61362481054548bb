"""Residual Masking Network (Pham et al. 2020) for 48x48 faces: a ResNet-34 whose stages are each followed by
a masking block - a small encoder-decoder whose sigmoid mask M re-weights the features as (1 + M) * x."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from .common import head, no_inplace_relu, scaled, stem
from .resnet import residual_stage


class MaskingBlock(nn.Module):
    """U-Net-like mask of ``depth`` down/up steps over residual units; output ``(1 + mask) * x``.

    Args:
        channels: feature channels (unchanged).
        depth: resolution halvings (4, 3, 2, 1 after ResNet-34's four stages, as in the paper).
    """

    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.down = nn.ModuleList(BasicBlock(channels, channels) for _ in range(depth))
        self.up = nn.ModuleList(BasicBlock(channels, channels) for _ in range(depth))
        self.mask = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 1),
                                  nn.Sigmoid())

    def forward(self, x):
        skips, h = [], x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.max_pool2d(h, 2, ceil_mode=True)
        for block, skip in zip(self.up, reversed(skips)):
            h = block(F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip)
        return x * (1 + self.mask(h))


class ResMaskingNet(nn.Module):
    """ResNet-34 backbone (3, 4, 6, 3 basic blocks) with a masking block after each stage.

    Args:
        num_classes: classes of the classifier.
        width: channel multiplier.
        dropout: dropout before the classifier.
    """

    def __init__(self, num_classes: int = 7, width: float = 1.0, dropout: float = 0.4):
        super().__init__()
        c = scaled(64, width)
        self.stem = stem(c)
        stages = []
        for k, (planes, n, depth) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), (4, 3, 2, 1))):
            stage, c = residual_stage(BasicBlock, c, scaled(planes, width), n, 1 if k == 0 else 2)
            stages.append(nn.Sequential(stage, MaskingBlock(c, depth)))
        self.stages = nn.Sequential(*stages)
        self.classifier = head(c, num_classes, dropout)
        no_inplace_relu(self)

    def forward(self, x):
        return self.classifier(self.stages(self.stem(x)))
