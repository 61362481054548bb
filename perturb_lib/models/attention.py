"""CBAM's spatial attention gate (Woo et al. 2018), the building block of the Perturb Scheme's phase 1."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..images import normalize


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


@torch.no_grad()
def attention_maps(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512, min_side: int = 6) -> torch.Tensor:
    """Spatial attention of a phase-1 model at input resolution.

    The maps of the :class:`~perturb_lib.models.SpatialGate` layers that are at least ``min_side`` pixels wide are
    upsampled (bilinear) to the input size and averaged. A 3x3 gate (VGG16's last block at 48 px) says nothing
    about where in the face: upsampled, its maximum lands on the image corners.

    Args:
        model: a model built with ``attention=True``.
        x: (B, 1, H, W) float faces in [0, 1] (or (B, H, W) uint8).
        min_side: smallest gate resolution taken into the average.

    Returns:
        (B, H, W) attention in [0, 1].
    """
    gates = spatial_gates(model)
    if not gates:
        raise ValueError("the phase-1 model has no spatial attention gates (build it with attention=True)")
    if x.dtype == torch.uint8:
        x = x.float().div(255)
    if x.dim() == 3:
        x = x[:, None]
    was = model.training
    model.eval()
    out = []
    try:
        for g in gates:
            g.record = True
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size]
            model(normalize(xb))
            used = [g for g in gates if g.last_map.shape[-1] >= min_side] or gates[:1]
            maps = [F.interpolate(g.last_map.float(), size=xb.shape[-2:], mode="bilinear", align_corners=False)
                    for g in used]
            out.append(torch.stack(maps).mean(0)[:, 0])
    finally:
        for g in gates:
            g.record, g.last_map = False, None
        model.train(was)
    return torch.cat(out)
