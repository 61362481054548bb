"""Facial regions as soft, anti-aliased masks rasterised from landmarks, batched in torch, so the same code
draws the synthetic faces' region maps, MaskFer's masks and the feature removals - from dlib's 68 points or
MediaPipe's 468 (:mod:`perturb_lib.landmarks.layout` says which points make each part).
"""
from __future__ import annotations

import numpy as np
import torch

from ..geometry import coverage, pixel_grid, polygon_sdf, polyline_distance, rasterise
from ..images import IMAGE_SIZE
from .layout import TEMPLATE_EYE_DISTANCE, layout_of

# Regions of a face, in the order region_masks() returns them when asked for all.
REGIONS = ("right_eye", "left_eye", "right_brow", "left_brow", "eyes", "brows", "nose", "mouth", "jaw",
           "upper_face", "lower_face", "face")
# The labels of a region map (one region per pixel); overlaps resolve eyes > brows > mouth > nose.
MAP_REGIONS = ("rest", "brows", "eyes", "nose", "mouth")

# Sizes of regions around their landmarks, in pixels of a face whose eyes are TEMPLATE_EYE_DISTANCE apart.
_EYE_GROW, _BROW_HALF_WIDTH, _NOSE_GROW, _MOUTH_GROW, _JAW_HALF_WIDTH, _FOREHEAD = 1.2, 1.6, 1.3, 1.0, 2.0, 7.0
_BROW_OUTLINE_GROW = 0.6  # the face mesh outlines each brow (upper and lower edge): grow it a little


def _idx(landmarks: torch.Tensor, points) -> torch.Tensor:
    return landmarks[:, list(points)]


def face_scale(landmarks: torch.Tensor) -> torch.Tensor:
    """(N,) size of each face relative to the template (inter-ocular distance ratio)."""
    layout = layout_of(landmarks)
    reye, leye = _idx(landmarks, layout.right_eye).mean(1), _idx(landmarks, layout.left_eye).mean(1)
    return (leye - reye).norm(dim=-1) / TEMPLATE_EYE_DISTANCE


def face_up(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, 2) unit vector from the chin towards the eyes (the face's 'up' in image coordinates)."""
    layout = layout_of(landmarks)
    eyes = _idx(landmarks, layout.right_eye + layout.left_eye).mean(1)
    up = eyes - landmarks[:, layout.chin]
    return up / up.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def face_outline(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, P, 2) polygon of the whole face: the face mesh's oval, or the 68 points' jaw line closed by a forehead
    line above the brows."""
    layout = layout_of(landmarks)
    if layout.face is not None:
        return _idx(landmarks, layout.face)
    lift = face_up(landmarks)[:, None] * (_FOREHEAD * face_scale(landmarks))[:, None, None]
    brows = _idx(landmarks, layout.right_brow + layout.left_brow).flip(1) + lift
    return torch.cat([_idx(landmarks, layout.jaw), brows], 1)


def region_masks(landmarks, names=REGIONS, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Soft masks of face regions, rasterised from landmarks.

    Args:
        landmarks: (N, K, 2) array or tensor of (x, y) pixel coordinates, K = 68 (iBUG) or 468 (MediaPipe).
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
    layout = layout_of(lm)
    grid = pixel_grid(size, lm.device)
    s = face_scale(lm)
    cache: dict[str, torch.Tensor] = {}

    def small(points, grow, stroke=False):
        if stroke:  # a stroke of half-width `grow` along the points
            fn = lambda p, g: grow[:, None] - polyline_distance(p, g)  # noqa: E731
        else:  # the polygon, grown outwards by `grow`
            fn = lambda p, g: polygon_sdf(p, g) + grow[:, None]  # noqa: E731
        return rasterise(_idx(lm, points), fn, grow, size)

    def mask(name):
        if name in cache:
            return cache[name]
        if name in ("right_eye", "left_eye"):
            m = small(getattr(layout, name), _EYE_GROW * s)
        elif name in ("right_brow", "left_brow"):
            grow = (_BROW_HALF_WIDTH if layout.brows_are_strokes else _BROW_OUTLINE_GROW) * s
            m = small(getattr(layout, name), grow, stroke=layout.brows_are_strokes)
        elif name == "eyes":
            m = torch.maximum(mask("right_eye"), mask("left_eye"))
        elif name == "brows":
            m = torch.maximum(mask("right_brow"), mask("left_brow"))
        elif name == "nose":
            m = small(layout.nose, _NOSE_GROW * s)
        elif name == "mouth":
            m = small(layout.mouth, _MOUTH_GROW * s)
        elif name == "jaw":
            m = coverage(_JAW_HALF_WIDTH * s[:, None] - polyline_distance(_idx(lm, layout.jaw), grid))
        elif name == "face":
            m = coverage(polygon_sdf(face_outline(lm), grid))
        elif name in ("upper_face", "lower_face"):
            # split at the middle of the nose, across the face's own axis (it may be rolled)
            along = ((grid[None] - lm[:, None, layout.nose_middle]) * face_up(lm)[:, None]).sum(-1)
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


