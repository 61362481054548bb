"""Landmark layouts - which points form which facial part - for the two point sets of the study, and the template
face.

* :data:`IBUG68` - dlib's 68 points (MaskTheFace's): jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67;
* :data:`MEDIAPIPE468` - MediaPipe's 468-point face mesh (the second seed paper's): the parts are MediaPipe's
  documented index groups (``FACEMESH_LIPS``, ``_LEFT_EYE``, ``_RIGHT_EYE``, ``_LEFT_EYEBROW``, ``_RIGHT_EYEBROW``,
  ``_FACE_OVAL``, ``_NOSE`` of ``mediapipe.solutions.face_mesh_connections``, 0.10.14), whose edge sets are ordered
  here into loops and paths (a test checks them against the installed package).

"right" is the subject's right, which appears on the image's left, in both. Coordinates are (x, y) in pixels
with pixel centres at integers.
"""
from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Layout:
    """Which landmark indices make each facial part.

    Attributes:
        name: the layout's name.
        points: how many landmarks it has.
        right_eye, left_eye: closed eye outlines.
        right_brow, left_brow: brows (``brows_are_strokes``: centre lines drawn with a width; else outlines).
        nose: closed outline of the nose.
        mouth: closed outline of the lips.
        jaw: the jaw line from the image's left to its right.
        face: closed outline of the whole face (None: the jaw closed by a line above the brows).
        chin: the chin point.
        nose_middle: the point the upper and lower face are split at.
        nose_points, mouth_points: every point of the nose and the mouth (outlines and inner points), for
            :meth:`region_of_point`.
    """

    name: str
    points: int
    right_eye: tuple
    left_eye: tuple
    right_brow: tuple
    left_brow: tuple
    brows_are_strokes: bool
    nose: tuple
    mouth: tuple
    jaw: tuple
    face: tuple | None
    chin: int
    nose_middle: int
    nose_points: tuple = ()
    mouth_points: tuple = ()

    def region_of_point(self) -> np.ndarray:
        """(points,) the facial part each landmark belongs to (``eyes``, ``brows``, ``nose``, ``mouth``, ``jaw``,
        or ``other``)."""
        out = np.full(self.points, "other", dtype=object)
        for name, idx in (("jaw", self.jaw), ("nose", self.nose + self.nose_points),
                          ("mouth", self.mouth + self.mouth_points),
                          ("brows", self.right_brow + self.left_brow), ("eyes", self.right_eye + self.left_eye)):
            out[list(idx)] = name
        return out


IBUG68 = Layout(
    name="ibug68", points=68, right_eye=tuple(range(36, 42)), left_eye=tuple(range(42, 48)),
    right_brow=tuple(range(17, 22)), left_brow=tuple(range(22, 27)), brows_are_strokes=True,
    nose=(27, 31, 32, 33, 34, 35), mouth=tuple(range(48, 60)), jaw=tuple(range(0, 17)), face=None, chin=8,
    nose_middle=29, nose_points=tuple(range(27, 36)), mouth_points=tuple(range(48, 68)))

MEDIAPIPE468 = Layout(
    name="mediapipe468", points=468, right_eye=(7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163),
    left_eye=(249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466, 263),
    right_brow=(70, 63, 105, 66, 107, 55, 65, 52, 53, 46), left_brow=(336, 296, 334, 293, 300, 276, 283, 282, 295, 285), brows_are_strokes=False,
    nose=(168, 275, 440, 344, 278, 294, 327, 326, 2, 97, 98, 64, 48, 115, 220, 45),
    mouth=(0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61, 185, 40, 39, 37),
    jaw=(234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454),
    face=(10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109),
    chin=152, nose_middle=195, nose_points=(1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440),
    mouth_points=(13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78, 191, 80, 81, 82))


def layout_of(landmarks) -> Layout:
    """The layout of landmarks shaped (..., K, 2): 68 points (iBUG) or 468 (MediaPipe)."""
    k = landmarks.shape[-2]
    for layout in (IBUG68, MEDIAPIPE468):
        if layout.points == k:
            return layout
    raise ValueError(f"landmarks with {k} points: known layouts have 68 (dlib, iBUG) or 468 (MediaPipe face mesh)")
