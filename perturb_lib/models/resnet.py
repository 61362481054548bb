"""ResNet-18/34/50 for 48x48 faces, CIFAR style (3x3 stem, no max-pool), built from torchvision's blocks."""
from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .attention import SpatialGate
from .common import head, no_inplace_relu, scaled, stem

CONFIGS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
           "resnet50": (Bottleneck, (3, 4, 6, 3))}


def residual_stage(block, in_planes: int, planes: int, blocks: int, stride: int) -> tuple[nn.Sequential, int]:
    """A stage of residual blocks; the first one changes resolution or width through a 1x1 projection."""
    down = None
    if stride != 1 or in_planes != planes * block.expansion:
        down = nn.Sequential(nn.Conv2d(in_planes, planes * block.expansion, 1, stride, bias=False),
                             nn.BatchNorm2d(planes * block.expansion))
    layers = [block(in_planes, planes, stride, down)]
    layers += [block(planes * block.expansion, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), planes * block.expansion


class ResNet(nn.Module):
    """A residual network with four stages (48 -> 48, 24, 12, 6 pixels).

    Args:
        name: ``resnet18``, ``resnet34`` or ``resnet50``.
        num_classes: classes of the classifier.
        width: channel multiplier.
        attention: put a :class:`SpatialGate` after each stage.
    """

    def __init__(self, name: str = "resnet18", num_classes: int = 7, width: float = 1.0, attention: bool = False):
        super().__init__()
        block, depths = CONFIGS[name]
        c = scaled(64, width)
        self.stem = stem(c)
        stages = []
        for k, (planes, n) in enumerate(zip((64, 128, 256, 512), depths)):
            stage, c = residual_stage(block, c, scaled(planes, width), n, 1 if k == 0 else 2)
            stages.append(nn.Sequential(stage, SpatialGate()) if attention else stage)
        self.stages = nn.Sequential(*stages)
        self.classifier = head(c, num_classes)
        no_inplace_relu(self)

    def forward(self, x):
        return self.classifier(self.stages(self.stem(x)))
