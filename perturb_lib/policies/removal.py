"""Feature removal: one facial region (eyes, brows, nose, mouth, or a half of the face) replaced by a fill, in
training and in test. The paper gives no procedure; the region is rasterised from landmarks and replaced by
the face's mean intensity (default), a heavy blur or noise.
"""
from __future__ import annotations

import torch

from ..images import gaussian_blur, hash_noise, id_keys
from ..landmarks.regions import region_masks
from ..params import FILLS, REMOVAL_REGIONS
from .base import FacePerturbation, SplitTensors


def remove(x: torch.Tensor, alpha: torch.Tensor, fill: str = "mean", noise: torch.Tensor | None = None) -> torch.Tensor:
    """Replace the region ``alpha`` (B, 1, H, W in [0, 1]) of faces ``x`` by a fill.

    Args:
        x: (B, 1, H, W) faces in [0, 1].
        alpha: the region's coverage.
        fill: ``mean`` (the face's own mean intensity, a neutral value), ``blur`` (the face blurred beyond
            recognition, sigma 3 px) or ``noise`` (the given uniform noise).
        noise: (B, 1, H, W) for ``fill="noise"``.

    Returns:
        The faces with the region replaced.
    """
    if fill == "mean":
        value = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    elif fill == "blur":
        value = gaussian_blur(x, 3.0)
    elif fill == "noise":
        if noise is None:
            raise ValueError("fill='noise' needs noise")
        value = noise
    else:
        raise ValueError(f"unknown fill {fill!r}; choose from {', '.join(FILLS)}")
    return x * (1 - alpha) + alpha * value


class RemovalPolicy(FacePerturbation):
    """One facial region removed from every face, in training and in test.

    Args:
        region: one of :data:`~perturb_lib.params.REMOVAL_REGIONS`.
        fill: one of :data:`~perturb_lib.params.FILLS`.
        seed: seed of the noise fill.
    """

    def __init__(self, region: str = "mouth", fill: str = "mean", seed: int = 0):
        if region not in REMOVAL_REGIONS:
            raise ValueError(f"unknown region {region!r}; choose from {', '.join(REMOVAL_REGIONS)}")
        if fill not in FILLS:
            raise ValueError(f"unknown fill {fill!r}; choose from {', '.join(FILLS)}")
        self.region, self.fill, self.seed = region, fill, seed

    def spec(self) -> dict:
        return {"kind": "remove", "region": self.region, "fill": self.fill, "seed": self.seed}

    def tag(self) -> str:
        return f"no-{self.region}-{self.fill}"

    def prepare(self, split: SplitTensors) -> None:
        if split.landmarks is None:
            raise ValueError(f"split {split.name}: removing {self.region} needs landmarks")
        alphas = [(region_masks(split.landmarks[s:s + 2048], (self.region,))[:, 0] * 255).round().byte()
                  for s in range(0, len(split), 2048)]
        split.cache["removal"] = torch.cat(alphas).to(split.images.device)
        if self.fill == "noise":
            split.cache["removal_noise"] = (hash_noise(id_keys(split.ids, self.seed)).to(split.images.device)
                                            * 255).round().byte()

    def apply(self, x, split, idx):
        a = split.cache["removal"][idx].unsqueeze(1).float() / 255
        noise = split.cache["removal_noise"][idx].unsqueeze(1).float() / 255 if self.fill == "noise" else None
        return remove(x, a, self.fill, noise)
