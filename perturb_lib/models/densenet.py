"""DenseNet-121 for 48x48 faces: torchvision's DenseNet with a 3x3 stride-1 stem and no max-pool."""
from __future__ import annotations

from torch import nn
from torchvision.models import DenseNet

from .common import no_inplace_relu, scaled


def densenet121(num_classes: int = 7, width: float = 1.0, attention: bool = False) -> nn.Module:
    """DenseNet-121 (blocks 6, 12, 24, 16; growth 32 x width). Three transitions take 48 px to 6 px."""
    if attention:
        raise ValueError("densenet121 has no attention variant; use vgg16, resnet18, resnet50 or dpn26")
    growth, init = scaled(32, width), scaled(64, width)
    model = DenseNet(growth_rate=growth, block_config=(6, 12, 24, 16), num_init_features=init,
                     bn_size=4, drop_rate=0.0, num_classes=num_classes)
    model.features.conv0 = nn.Conv2d(1, init, 3, padding=1, bias=False)
    model.features.pool0 = nn.Identity()
    return no_inplace_relu(model)
