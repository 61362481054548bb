"""Dual Path Networks (Chen et al. 2017) for 48x48 faces: each block adds to a residual path and appends to
a densely connected path, so features are both re-used (ResNet) and newly explored (DenseNet)."""
from __future__ import annotations

import torch
from torch import nn

from .attention import SpatialGate
from .common import head, scaled, stem

# (bottleneck width, residual width, blocks, dense growth) per stage
CONFIGS = {
    "dpn26": ((96, 192, 384, 768), (256, 512, 1024, 2048), (2, 2, 2, 2), (16, 32, 24, 128)),
    "dpn92": ((96, 192, 384, 768), (256, 512, 1024, 2048), (3, 4, 20, 3), (16, 32, 24, 128)),
}


class DualPathBlock(nn.Module):
    """1x1 -> grouped 3x3 -> 1x1 bottleneck whose output is split between the two paths.

    The input's first ``residual`` channels are the residual path, the rest the dense path. The block's
    first ``residual`` output channels are added to the residual path, its last ``growth`` channels are
    concatenated to the dense path. The first block of a stage projects its input (new resolution/width).
    """

    def __init__(self, in_ch: int, mid: int, residual: int, growth: int, stride: int, groups: int, project: bool):
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, residual + growth, 1, bias=False), nn.BatchNorm2d(residual + growth))
        self.project = (nn.Sequential(nn.Conv2d(in_ch, residual + growth, 1, stride, bias=False),
                                      nn.BatchNorm2d(residual + growth)) if project else nn.Identity())
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.body(x)
        x = self.project(x)
        r = self.residual
        return self.relu(torch.cat([x[:, :r] + y[:, :r], x[:, r:], y[:, r:]], dim=1))


class DPN(nn.Module):
    """A four-stage DPN (48 -> 48, 24, 12, 6 pixels).

    Args:
        name: ``dpn26`` or ``dpn92``.
        num_classes: classes of the classifier.
        width: channel multiplier (the group count scales with it).
        attention: put a :class:`SpatialGate` after each stage.
    """

    def __init__(self, name: str = "dpn26", num_classes: int = 7, width: float = 1.0, attention: bool = False):
        super().__init__()
        mids, residuals, depths, growths = CONFIGS[name]
        groups = max(1, int(round(32 * width)))
        c = scaled(64, width)
        self.stem = stem(c)
        stages = []
        for k, (mid, res, n, g) in enumerate(zip(mids, residuals, depths, growths)):
            mid, res, g = scaled(mid, width, multiple=groups), scaled(res, width), scaled(g, width, minimum=2)
            blocks = []
            for i in range(n):
                blocks.append(DualPathBlock(c, mid, res, g, 2 if (i == 0 and k > 0) else 1, groups, project=i == 0))
                c = res + (i + 2) * g
            stage = nn.Sequential(*blocks)
            stages.append(nn.Sequential(stage, SpatialGate()) if attention else stage)
        self.stages = nn.Sequential(*stages)
        self.classifier = head(c, num_classes)

    def forward(self, x):
        return self.classifier(self.stages(self.stem(x)))
