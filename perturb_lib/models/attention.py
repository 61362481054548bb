"""CBAM's spatial attention gate (Woo et al. 2018), the building block of the Perturb Scheme's phase 1."""
from __future__ import annotations

import torch
from torch import nn


class SpatialGate(nn.Module):
    """Channel max and mean -> 7x7 conv + BN -> sigmoid; the features are multiplied by that map.

    The product is what flows on (the authors' phase-1 code computed it and then passed the un-gated
    features forward, so its attention never shaped the classifier). Set ``record = True`` to keep the
    last attention map in ``last_map`` (B, 1, H, W) for :func:`perturb_lib.cluster.attention_maps`.

    Args:
        kernel_size: size of the convolution over the pooled channel statistics.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)
        self.record = False
        self.last_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        attention = torch.sigmoid(self.bn(self.conv(pooled)))
        if self.record:
            self.last_map = attention.detach()
        return x * attention


def spatial_gates(model: nn.Module) -> list[SpatialGate]:
    """The spatial gates of a model, in forward order."""
    return [m for m in model.modules() if isinstance(m, SpatialGate)]
