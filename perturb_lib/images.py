"""Operations on batches of 48x48 grayscale faces as float tensors (B, 1, H, W) in [0, 1].

The network's input normalisation, a separable Gaussian blur, and a hash noise that is a pure function of
an image id and a pixel position (so masks and fills are the same on every machine and device).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SIZE = 48
MEAN, STD = 0.5, 0.25  # fixed, so inputs do not depend on which data a run was trained on


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Faces in [0, 1] to the network's input range (mean 0.5 maps to 0)."""
    return (x - MEAN) / STD


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) with replicated borders.

    Args:
        x: the images.
        sigma: standard deviation in pixels.

    Returns:
        The blurred images, same shape and dtype.
    """
    r = max(1, int(np.ceil(2.5 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma**2))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k, groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.transpose(-1, -2), groups=x.shape[1])


def id_keys(ids, seed: int = 0) -> torch.Tensor:
    """A stable 62-bit integer per image id and seed (the same on every machine and device)."""
    out = [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little") >> 2
           for i in np.asarray(ids).astype(str)]
    return torch.tensor(out, dtype=torch.int64)


def hash_noise(keys: torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Uniform [0, 1) noise (N, size, size) that is a pure function of each key and pixel position.

    Integer hashing in int64 arithmetic (wrapping multiplications) gives the same numbers on CPU and CUDA
    without a random generator per image.
    """
    ys, xs = torch.meshgrid(torch.arange(size, device=keys.device), torch.arange(size, device=keys.device),
                            indexing="ij")
    h = keys[:, None, None] ^ (xs * 0x9E3779B1 + ys * 0x85EBCA77)[None]
    for mult in (0xBF58476D1CE4E5B9 - (1 << 64), 0x94D049BB133111EB - (1 << 64)):  # splitmix64 finaliser
        h = (h ^ ((h >> 31) & 0x1FFFFFFFF)) * mult
    h = h ^ ((h >> 29) & 0x7FFFFFFFF)
    return ((h >> 11) & ((1 << 24) - 1)).float() / (1 << 24)
