"""Facial regions as soft, anti-aliased masks rasterised from landmarks, batched in torch, so the same code
draws the synthetic faces' region maps, MaskFer's masks and the feature removals.
"""
from __future__ import annotations

import numpy as np
import torch

from ..geometry import coverage, pixel_grid, polygon_sdf, polyline_distance, rasterise
from ..images import IMAGE_SIZE
from .layout import GROUPS, TEMPLATE_EYE_DISTANCE

# Regions of a face, in the order region_masks() returns them when asked for all.
REGIONS = ("right_eye", "left_eye", "right_brow", "left_brow", "eyes", "brows", "nose", "mouth", "jaw",
           "upper_face", "lower_face", "face")
# The labels of a region map (one region per pixel); overlaps resolve eyes > brows > mouth > nose.
MAP_REGIONS = ("rest", "brows", "eyes", "nose", "mouth")

# Sizes of regions around their landmarks, in pixels of a face whose eyes are TEMPLATE_EYE_DISTANCE apart.
_EYE_GROW, _BROW_HALF_WIDTH, _NOSE_GROW, _MOUTH_GROW, _JAW_HALF_WIDTH, _FOREHEAD = 1.2, 1.6, 1.3, 1.0, 2.0, 7.0


def face_scale(landmarks: torch.Tensor) -> torch.Tensor:
    """(N,) size of each face relative to the template (inter-ocular distance ratio)."""
    reye, leye = landmarks[:, 36:42].mean(1), landmarks[:, 42:48].mean(1)
    return (leye - reye).norm(dim=-1) / TEMPLATE_EYE_DISTANCE


def face_up(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, 2) unit vector from the chin towards the eyes (the face's 'up' in image coordinates)."""
    eyes = landmarks[:, 36:48].mean(1)
    up = eyes - landmarks[:, 8]
    return up / up.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def face_outline(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, 27, 2) polygon of the whole face: the jaw line closed by a forehead line above the brows."""
    lift = face_up(landmarks)[:, None] * (_FOREHEAD * face_scale(landmarks))[:, None, None]
    brows = landmarks[:, 17:27].flip(1) + lift
    return torch.cat([landmarks[:, 0:17], brows], 1)


def region_masks(landmarks, names=REGIONS, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Soft masks of face regions, rasterised from landmarks.

    Args:
        landmarks: (N, 68, 2) array or tensor of (x, y) pixel coordinates.
        names: region names from :data:`REGIONS`.
        size: image side in pixels.

    Returns:
        (N, len(names), size, size) float32 tensor with values in [0, 1] (1 inside, fractional on edges).
    """
    lm = torch.as_tensor(np.asarray(landmarks) if not torch.is_tensor(landmarks) else landmarks,
                         dtype=torch.float32)
    unknown = [n for n in names if n not in REGIONS]
    if unknown:
        raise ValueError(f"unknown region(s) {unknown}; choose from {', '.join(REGIONS)}")
    grid = pixel_grid(size, lm.device)
    s = face_scale(lm)
    cache: dict[str, torch.Tensor] = {}

    def small(points, grow, polyline=False):
        if polyline:  # a stroke of half-width `grow` along the points
            fn = lambda p, g: grow[:, None] - polyline_distance(p, g)  # noqa: E731
        else:  # the polygon, grown outwards by `grow`
            fn = lambda p, g: polygon_sdf(p, g) + grow[:, None]  # noqa: E731
        return rasterise(points, fn, grow, size)

    def mask(name):
        if name in cache:
            return cache[name]
        if name in ("right_eye", "left_eye"):
            m = small(lm[:, GROUPS[name]], _EYE_GROW * s)
        elif name in ("right_brow", "left_brow"):
            m = small(lm[:, GROUPS[name]], _BROW_HALF_WIDTH * s, polyline=True)
        elif name == "eyes":
            m = torch.maximum(mask("right_eye"), mask("left_eye"))
        elif name == "brows":
            m = torch.maximum(mask("right_brow"), mask("left_brow"))
        elif name == "nose":
            m = small(lm[:, [27, 31, 32, 33, 34, 35]], _NOSE_GROW * s)
        elif name == "mouth":
            m = small(lm[:, 48:60], _MOUTH_GROW * s)
        elif name == "jaw":
            m = coverage(_JAW_HALF_WIDTH * s[:, None] - polyline_distance(lm[:, 0:17], grid))
        elif name == "face":
            m = coverage(polygon_sdf(face_outline(lm), grid))
        elif name in ("upper_face", "lower_face"):
            # split at the middle of the nose, across the face's own axis (it may be rolled)
            along = ((grid[None] - lm[:, None, 29]) * face_up(lm)[:, None]).sum(-1)
            half = coverage(along) if name == "upper_face" else coverage(-along)
            m = mask("face") * half
        cache[name] = m
        return m

    out = torch.stack([mask(n) for n in names], 1)
    return out.reshape(len(lm), len(names), size, size)


def region_map(landmarks, size: int = IMAGE_SIZE) -> np.ndarray:
    """(N, size, size) uint8 map of :data:`MAP_REGIONS` ids (0 rest, 1 brows, 2 eyes, 3 nose, 4 mouth)."""
    m = region_masks(landmarks, ("brows", "eyes", "nose", "mouth"), size) >= 0.5
    out = torch.zeros(m.shape[0], size, size, dtype=torch.uint8)
    for value, k in ((3, 2), (4, 3), (1, 0), (2, 1)):  # later writes win: eyes > brows > mouth > nose
        out[m[:, k]] = value
    return out.numpy()


