"""Batched augmentation on the device (the fastest small-image trainers' approach): the whole dataset sits on
the device as uint8, and crops, flips and erasing are drawn per sample but applied to the whole batch in a
few tensor operations - no DataLoader, no workers, no per-image Python.

Images here are float (B, 1, H, W) in [0, 1]; :func:`perturb_lib.images.normalize` maps them to the network's
input range.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

def _rand(n: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


def random_crop(x: torch.Tensor, size: int, pad: int, generator: torch.Generator,
                flip: bool = False) -> torch.Tensor:
    """Per-sample random crops of ``size`` from ``x`` zero-padded by ``pad``, optionally mirrored at random.

    The crops are read through a strided view of every window of the padded batch, indexed by each sample's
    offset: one copy, whatever the offsets.
    """
    b = x.shape[0]
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    u = torch.rand(b, 3, generator=generator, device=x.device)  # one draw for offsets and mirroring
    oy = (u[:, 0] * (h - size + 1)).long().clamp(max=h - size)
    ox = (u[:, 1] * (w - size + 1)).long().clamp(max=w - size)
    x = x.contiguous()
    sb, sc, sh, sw = x.stride()
    windows = x.as_strided((b, h - size + 1, w - size + 1, x.shape[1], size, size), (sb, sh, sw, sc, sh, sw))
    out = windows[torch.arange(b, device=x.device), oy, ox]
    if flip:
        out = torch.where((u[:, 2] < 0.5)[:, None, None, None], out.flip(-1), out)
    return out


def random_resized_crop(x: torch.Tensor, size: int, generator: torch.Generator, scale=(0.8, 1.2),
                        shift: float = 0.1, degrees: float = 10.0, flip: bool = False) -> torch.Tensor:
    """Per-sample zoom, shift, rotation and optional mirror (one affine grid for the batch), ``size`` x ``size``."""
    b = x.shape[0]
    r = lambda: _rand(b, generator, x.device)  # noqa: E731
    s = scale[0] + (scale[1] - scale[0]) * r()
    angle = math.radians(degrees) * (2 * r() - 1)
    tx, ty = shift * (2 * r() - 1), shift * (2 * r() - 1)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    theta[:, :, :2] *= size / x.shape[-1]  # sample the central size x size part when size < H
    if flip:
        theta[:, :, 0] *= torch.where(r() < 0.5, -1.0, 1.0)[:, None]
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = _rand(x.shape[0], generator, x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


_NOISE_BANKS: dict[tuple, torch.Tensor] = {}


def _noise_bank(shape, device, dtype, count: int = 256) -> torch.Tensor:
    """Fixed uniform-noise images (seeded once per device and shape) that erased rectangles are filled from.

    Drawing fresh noise for every pixel of every batch costs more than the rest of the augmentation put
    together; a batch's rectangles are cut from one of 256 noise images at their own places instead.
    """
    key = (tuple(shape), str(device), dtype)
    if key not in _NOISE_BANKS:
        g = torch.Generator().manual_seed(12345)
        _NOISE_BANKS[key] = torch.rand((count, *shape), generator=g).to(device=device, dtype=dtype)
    return _NOISE_BANKS[key]


def random_erasing(x: torch.Tensor, p: float, generator: torch.Generator, area=(0.02, 0.33),
                   ratio=(0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with probability ``p`` a rectangle is filled with uniform noise."""
    b, _, h, w = x.shape
    dev = x.device
    u = torch.rand(b, 6, generator=generator, device=dev)  # one draw for every sample's rectangle
    target = (area[0] + (area[1] - area[0]) * u[:, 0]) * h * w
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1])
    eh = torch.sqrt(target * aspect).round().clamp(1, h)
    ew = torch.sqrt(target / aspect).round().clamp(1, w)
    y0 = (u[:, 2] * (h - eh + 1)).floor()
    x0 = (u[:, 3] * (w - ew + 1)).floor()
    ys, xs = torch.arange(h, device=dev), torch.arange(w, device=dev)
    in_rows = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None]) & (u[:, 4] < p)[:, None]  # separable: rows x cols
    in_cols = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])
    box = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    bank = _noise_bank(x.shape[1:], dev, x.dtype)
    pick = (u[:1, 5] * len(bank)).long().clamp(max=len(bank) - 1)  # stays on the device: no host sync
    noise = bank.index_select(0, pick)  # one noise image per batch: the rectangles differ anyway
    return torch.where(box, noise, x)


def train_augment(x: torch.Tensor, generator: torch.Generator, input_size: int = 48, crop: str = "pad",
                  pad: int = 4, flip: bool = True, erasing: float = 0.5) -> torch.Tensor:
    """The training augmentation of the recipe: crop (``pad``: padded random crop, ``resized``: zoom, shift
    and rotation, ``none``: centre), horizontal flip, random erasing."""
    if crop == "pad":
        x = random_crop(x, input_size, pad if input_size == x.shape[-1] else 0, generator, flip=flip)
    elif crop == "resized":
        x = random_resized_crop(x, input_size, generator, flip=flip)
    elif crop == "none":
        x = center_crop(x, input_size)
        if flip:
            x = random_flip(x, generator)
    else:
        raise ValueError(f"crop must be 'pad', 'resized' or 'none', got {crop!r}")
    if erasing > 0:
        x = random_erasing(x, erasing, generator)
    return x


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    o = (x.shape[-1] - size) // 2
    return x[..., o:o + size, o:o + size] if o else x


def ten_crop(x: torch.Tensor, size: int, pad: int = 4) -> torch.Tensor:
    """Ten views per image - four corners and the centre, each also flipped: (10 * B, 1, size, size), view-major.

    For ``size`` < H the crops are taken from the image (TenCrop); for ``size`` == H from the image padded
    by ``pad``, i.e. the centre plus four shifts of ``pad`` pixels.
    """
    if size == x.shape[-1]:
        x = F.pad(x, (pad, pad, pad, pad))
    h = x.shape[-1]
    c = (h - size) // 2
    views = [x[..., :size, :size], x[..., :size, h - size:], x[..., h - size:, :size], x[..., h - size:, h - size:],
             x[..., c:c + size, c:c + size]]
    views += [v.flip(-1) for v in views]
    return torch.cat(views, 0)
