"""The 68-point iBUG landmark layout and the template face: which points form which facial part.

Layout: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67. "right" is the subject's right, which
appears on the image's left. Coordinates are (x, y) in pixels with pixel centres at integers.
"""
from __future__ import annotations

import numpy as np

GROUPS = {
    "jaw": list(range(0, 17)), "right_brow": list(range(17, 22)), "left_brow": list(range(22, 27)),
    "nose_bridge": list(range(27, 31)), "nose_base": list(range(31, 36)), "right_eye": list(range(36, 42)),
    "left_eye": list(range(42, 48)), "outer_lip": list(range(48, 60)), "inner_lip": list(range(60, 68)),
}


def mean_face() -> np.ndarray:
    """The template face: (68, 2) landmarks of a neutral frontal face placed as FER2013 crops place faces.

    Eye centres at (15, 18.5) and (33, 18.5), mouth centre near (24, 38.5), chin at y = 46.5 - measured on the
    mean image of FER2013, where the eyes are the two dark blobs and the mouth the dark band below the nose.
    """
    cx = 24.0
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([cx - 19.0 * np.sign(np.cos(t)) * np.abs(np.cos(t)) ** 0.85,
                    18.0 + 28.5 * np.sin(t) ** 1.15], 1)
    s = np.linspace(0, 1, 5)  # outer -> inner along the right brow
    rbrow = np.stack([9.0 + 12.0 * s, 13.4 - 1.3 * np.sin(np.pi * (0.15 + 0.7 * s))], 1)
    lbrow = np.stack([2 * cx - rbrow[::-1, 0], rbrow[::-1, 1]], 1)
    bridge = np.stack([np.full(4, cx), np.linspace(18.5, 28.5, 4)], 1)
    base = np.stack([cx + np.array([-3.6, -1.8, 0, 1.8, 3.6]), 31.0 + np.array([-0.6, 0.2, 0.5, 0.2, -0.6])], 1)
    reye = eye_points(15.0, 18.5, 4.4, 1.6, 1.5)
    leye = eye_points(33.0, 18.5, 4.4, 1.6, 1.5)
    outer, inner = mouth_points(cx, 38.5, 6.6, 1.9, 2.5, 0.0)
    return np.concatenate([jaw, rbrow, lbrow, bridge, base, reye, leye, outer, inner]).astype(np.float32)


def eye_points(ex, ey, w, h_up, h_low) -> np.ndarray:
    """Six eye points (left corner, two upper-lid, right corner, two lower-lid), as the iBUG order has them.

    Scalars or (N,) arrays; returns (..., 6, 2).
    """
    ex, ey, w, h_up, h_low = (np.asarray(v, dtype=np.float64)[..., None] for v in (ex, ey, w, h_up, h_low))
    u = np.array([-1, -1 / 3, 1 / 3, 1, 1 / 3, -1 / 3]) * w
    v = np.array([0, -8 / 9, -8 / 9, 0, 0, 0]) * h_up + np.array([0, 0, 0, 0, 8 / 9, 8 / 9]) * h_low
    return np.stack([ex + u, ey + v], -1)


def mouth_points(cx, my, w, lip_up, lip_lo, gap) -> tuple[np.ndarray, np.ndarray]:
    """Outer (12) and inner (8) lip points of a mouth centred at (cx, my); scalars or (N,) arrays."""
    cx, my, w, lip_up, lip_lo, gap = (np.asarray(v, dtype=np.float64)[..., None]
                                      for v in (cx, my, w, lip_up, lip_lo, gap))
    ou = np.array([-1, -0.6, -0.25, 0, 0.25, 0.6, 1, 0.6, 0.25, 0, -0.25, -0.6])
    up = np.array([0, 0.8, 1.1, 0.9, 1.1, 0.8, 0, 0, 0, 0, 0, 0])
    lo = np.array([0, 0, 0, 0, 0, 0, 0, 0.9, 1.2, 1.25, 1.2, 0.9])
    iu = np.array([-0.85, -0.3, 0, 0.3, 0.85, 0.3, 0, -0.3])
    iv = np.array([0, -1, -1, -1, 0, 1, 1, 1]) / 2
    outer = np.stack([cx + w * ou, my - up * lip_up + lo * lip_lo], -1)
    inner = np.stack([cx + w * iu + 0 * gap, my + iv * gap], -1)
    return outer, inner


TEMPLATE = mean_face()
TEMPLATE_EYE_DISTANCE = 18.0
