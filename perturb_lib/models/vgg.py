"""VGG16 for 1-channel faces: 13 3x3 convs with BatchNorm, dropout after each conv block (FER repositories'
adaptation, e.g. Khaireddin & Chen 2021), global pooling and a linear classifier."""
from __future__ import annotations

from torch import nn

from .attention import SpatialGate
from .common import head, scaled

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG(nn.Module):
    """VGG with BatchNorm; a block is its convs, a 2x2 max-pool and dropout.

    Args:
        blocks: output channels of each conv, grouped by block.
        num_classes: classes of the classifier.
        width: channel multiplier.
        dropout: dropout after each block and before the classifier.
        attention: put a :class:`SpatialGate` after each block (the Perturb Scheme's phase-1 classifier).
    """

    def __init__(self, blocks=VGG16_BLOCKS, num_classes: int = 7, width: float = 1.0, dropout: float = 0.4,
                 attention: bool = False):
        super().__init__()
        layers, c_in = [], 1
        for block in blocks:
            for c in block:
                c_out = scaled(c, width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            if attention:
                layers.append(SpatialGate())
            layers += [nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(dropout)]
        self.features = nn.Sequential(*layers)
        self.classifier = head(c_in, num_classes, dropout)

    def forward(self, x):
        return self.classifier(self.features(x))
