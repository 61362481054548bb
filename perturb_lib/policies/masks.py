"""MaskFer's synthetic masks: a face mask drawn from each face's 68 landmarks, as a policy that every face wears
in training and in test.

The geometry is MaskTheFace's (the tool that made the published MaskFer): six key points from dlib's 68
landmarks - the middle of the nose bridge, the jaw at nose-tip height and at the lowest lip level, the chin -
onto which a mask template is warped by a least-squares homography. The templates (N95, surgical, cloth) are our
own outlines, with their own tone and texture, and anti-aliased edges; the brightness follows the face's visible
skin. Deterministic per image id and seed. ``prepare`` rasterises each face's mask once per split (a few MB as
uint8); batches then blend in a single operation.
"""
from __future__ import annotations

import hashlib

import torch

from ..geometry import coverage, pixel_grid, polygon_sdf
from ..images import hash_noise, id_keys
from ..landmarks.regions import face_scale, face_up, region_masks
from ..params import MASK_STYLES
from .base import FacePerturbation, SplitTensors


# --------------------------------------------------------------------------------------- the geometry
BOTTOM_LIP = (54, 55, 56, 57, 58, 59, 48, 64, 65, 66, 67, 60)  # MaskTheFace's "bottom lip" points


def _line_jaw_crossings(p: torch.Tensor, q: torch.Tensor, jaw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the lines through p and q (N, 2) cross the jaw polylines (N, 17, 2): the first and the last crossing
    in jaw order (image left to right), and whether there were any (first, last: (N, 2); found: (N,))."""
    a, b = jaw[:, :-1], jaw[:, 1:]
    d = (q - p)[:, None]
    cross = lambda u, v: u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]  # noqa: E731
    denom = cross(d, b - a)
    t = cross(d, p[:, None] - a) / torch.where(denom.abs() < 1e-9, torch.full_like(denom, 1e-9), denom)
    valid = (t >= 0) & (t <= 1) & (denom.abs() >= 1e-9)
    points = a + t[..., None] * (b - a)
    k = torch.arange(valid.shape[1], device=jaw.device)
    first = torch.where(valid, k, valid.shape[1]).amin(1).clamp(max=valid.shape[1] - 1)
    last = torch.where(valid, k, -1).amax(1).clamp(min=0)
    rows = torch.arange(len(jaw), device=jaw.device)
    return points[rows, first], points[rows, last], valid.any(1)


def six_points(landmarks: torch.Tensor) -> torch.Tensor:
    """MaskTheFace's six key points of a face mask from dlib's 68 landmarks, (N, 6, 2) in the order A, B, C, F, E, D:

    * B, the top centre: the middle of the nose bridge, (P27 + P30) / 2;
    * A and C, the upper corners: where the eye line, lowered by the nose's length (P30.y - P27.y), crosses the
      jaw line P0-P16 first and last (fallback P0 and P16);
    * D and F, the lower corners: where the eye line, lowered to the lowest point of the bottom lip, crosses the
      jaw (fallback P4 and P12);
    * E, the chin: the mean of where two lines cross the jaw: the perpendicular to the eye line through the eyes'
      midpoint lowered by half the nose, and the line from P27 through the bottom lip's centroid (fallback P8).

    The geometry as MaskTheFace computes it (read from its source, github.com/aqeelanwar/MaskTheFace), written
    again here for batches of faces.
    """
    lm = landmarks
    jaw = lm[:, 0:17]
    e1, e2 = lm[:, 36:42].mean(1), lm[:, 42:48].mean(1)
    down = torch.zeros_like(e1)
    down[:, 1] = 1.0
    nose = (lm[:, 30, 1] - lm[:, 27, 1])[:, None] * down
    lip = lm[:, list(BOTTOM_LIP)]
    b_point = (lm[:, 27] + lm[:, 30]) / 2
    a_point, c_point, ok = _line_jaw_crossings(e1 + nose, e2 + nose, jaw)
    a_point = torch.where(ok[:, None], a_point, lm[:, 0])
    c_point = torch.where(ok[:, None], c_point, lm[:, 16])
    lowest = (lip[..., 1].amax(1) - (e1[:, 1] + e2[:, 1]) / 2)[:, None] * down
    d_point, f_point, ok = _line_jaw_crossings(e1 + lowest, e2 + lowest, jaw)
    d_point = torch.where(ok[:, None], d_point, lm[:, 4])
    f_point = torch.where(ok[:, None], f_point, lm[:, 12])
    eye_dir = e2 - e1
    mid = (e1 + e2) / 2 + nose / 2
    perpendicular = torch.stack([-eye_dir[:, 1], eye_dir[:, 0]], -1)
    e_one, _, ok1 = _line_jaw_crossings(mid, mid + perpendicular, jaw)
    e_two, _, ok2 = _line_jaw_crossings(lm[:, 27], lip.mean(1), jaw)
    both = (ok1 & ok2)[:, None]
    e_point = torch.where(both, (e_one + e_two) / 2, torch.where(ok1[:, None], e_one, torch.where(ok2[:, None], e_two, lm[:, 8])))
    return torch.stack([a_point, b_point, c_point, f_point, e_point, d_point], 1)


# Our own mask templates (not MaskTheFace's images): an outline in a template frame, and the six anchors that map
# to A, B, C, F, E, D. The anchors sit where the median FER2013 face's six points sit in that frame (dlib landmarks
# of the 24,913 faces dlib detects; x from the jaw's sides, y from B to E), so the least-squares homography
# places each anchor within a pixel or two of its point; the outline between them keeps the template's shape.
_ANCHORS = [[-0.07, 0.23], [0.5, 0.0], [1.07, 0.22], [0.93, 0.72], [0.5, 1.0], [0.07, 0.73]]  # a, b, c, f, e, d
_TEMPLATES = {
    "n95": [[-0.07, 0.23], [0.1, 0.12], [0.3, 0.04], [0.5, 0.0], [0.7, 0.04], [0.9, 0.12], [1.07, 0.22],
            [1.04, 0.48], [0.93, 0.72], [0.78, 0.9], [0.5, 1.0], [0.22, 0.9], [0.07, 0.73], [-0.04, 0.48]],
    "surgical": [[-0.07, 0.25], [0.2, 0.14], [0.5, 0.08], [0.8, 0.14], [1.07, 0.25], [1.06, 0.5], [0.95, 0.76],
                 [0.75, 0.95], [0.5, 1.02], [0.25, 0.95], [0.05, 0.76], [-0.06, 0.5]],
    "cloth": [[-0.07, 0.23], [0.15, 0.1], [0.5, 0.0], [0.85, 0.1], [1.07, 0.23], [1.08, 0.5], [0.97, 0.78],
              [0.75, 0.97], [0.5, 1.03], [0.25, 0.97], [0.03, 0.78], [-0.08, 0.5]],
}


def _normaliser(points: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) similarity moving points (N, K, 2) to centroid 0 and mean distance sqrt(2) (Hartley's
    normalisation, without which the direct linear transform is badly conditioned)."""
    centre = points.mean(1)
    scale = 2**0.5 / (points - centre[:, None]).norm(dim=-1).mean(1).clamp_min(1e-9)
    t = torch.zeros(len(points), 3, 3, dtype=points.dtype, device=points.device)
    t[:, 0, 0], t[:, 1, 1], t[:, 2, 2] = scale, scale, 1
    t[:, :2, 2] = -scale[:, None] * centre
    return t


def homographies(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Least-squares homographies (N, 3, 3) mapping points src (K, 2) onto dst (N, K, 2), K >= 4: the normalised
    direct linear transform, as OpenCV's findHomography computes it without RANSAC."""
    n, k = dst.shape[:2]
    src = src.expand(n, k, 2).double()
    dst = dst.double()
    ts, td = _normaliser(src), _normaliser(dst)
    xs = torch.einsum("nij,nkj->nki", ts, torch.cat([src, torch.ones_like(src[..., :1])], -1))
    xd = torch.einsum("nij,nkj->nki", td, torch.cat([dst, torch.ones_like(dst[..., :1])], -1))
    x, y, u, v = xs[..., 0], xs[..., 1], xd[..., 0], xd[..., 1]
    one, zero = torch.ones_like(u), torch.zeros_like(u)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], -1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y, -v], -1)
    h = torch.linalg.svd(torch.cat([rows_u, rows_v], 1)).Vh[:, -1].reshape(n, 3, 3)  # the least-squares null vector
    h = torch.linalg.inv(td) @ h @ ts
    return (h / h[:, 2:, 2:]).float()


def mask_outline(landmarks: torch.Tensor, style: str = "n95") -> torch.Tensor:
    """(N, P, 2) outline of a face mask: the style's template warped onto MaskTheFace's six key points.

    Args:
        landmarks: (N, 68, 2) dlib-order landmarks.
        style: one of :data:`~perturb_lib.params.MASK_STYLES`.
    """
    if landmarks.shape[-2] != 68:
        raise ValueError(f"MaskFer masks are placed on dlib's 68 landmarks; got {landmarks.shape[-2]} points "
                         "(use landmark_source dlib, template or ground_truth for masks)")
    anchors = torch.tensor(_ANCHORS, dtype=landmarks.dtype, device=landmarks.device)
    outline = torch.tensor(_TEMPLATES[style], dtype=landmarks.dtype, device=landmarks.device)
    h = homographies(anchors, six_points(landmarks))
    warped = torch.einsum("nij,pj->npi", h, torch.cat([outline, torch.ones_like(outline[:, :1])], 1))
    return warped[..., :2] / warped[..., 2:].clamp_min(1e-6)


def mask_layers(images: torch.Tensor, landmarks: torch.Tensor, keys: torch.Tensor, style: str = "n95"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Coverage (alpha) and intensity of a mask on each face.

    Args:
        images: (N, 48, 48) float faces in [0, 1].
        landmarks: (N, 68, 2).
        keys: (N,) int64 per-image keys (:func:`id_keys`) for the mask's texture.
        style: one of :data:`MASK_STYLES`.

    Returns:
        ``alpha`` and ``tone``, both (N, 48, 48) in [0, 1]: the masked face is ``(1 - alpha) * x + alpha * tone``.
    """
    if style not in MASK_STYLES:
        raise ValueError(f"unknown mask style {style!r}; choose from {', '.join(MASK_STYLES)}")
    n, size = images.shape[0], images.shape[-1]
    grid = pixel_grid(size, images.device)
    outline = mask_outline(landmarks, style)
    alpha = coverage(polygon_sdf(outline, grid)).reshape(n, size, size)
    noise = hash_noise(keys.to(images.device), size)
    up = face_up(landmarks)
    s = face_scale(landmarks)
    along = ((grid[None] - landmarks[:, None, 30]) * up[:, None]).sum(-1).reshape(n, size, size) / s[:, None, None]
    across = ((grid[None] - landmarks[:, None, 30]) * torch.stack([-up[:, 1], up[:, 0]], -1)[:, None]).sum(-1)
    across = across.reshape(n, size, size) / s[:, None, None]
    if style == "n95":  # white, a vertical seam down the middle, a faint edge band
        base = 0.88 - 0.10 * torch.exp(-(across / 0.6) ** 2) + 0.03 * (noise - 0.5)
    elif style == "surgical":  # light blue-grey with three horizontal pleats
        base = 0.66 + 0.07 * torch.sin(along * 1.6) + 0.03 * (noise - 0.5)
    else:  # cloth: darker woven texture, a per-mask tone
        tone = 0.25 + 0.2 * hash_noise(keys.to(images.device) ^ 0x5DEECE66D, 1)[:, :1, :1]
        weave = 0.04 * torch.sin(across * 3.0) * torch.sin(along * 3.0)
        base = tone + weave + 0.10 * (noise - 0.5)
    # Brightness matched to the face, as MaskTheFace matches it: one number per face, the mean of the skin the
    # mask leaves visible (upper face without eyes and brows). Never the pixels under the mask: a mask shaded from
    # them (a blurred copy of the face) let a probe on the mask's pixels read the mouth through it.
    skin = skin_brightness(images, landmarks, hidden=alpha)
    tone = (base * (1 + 0.7 * (skin[:, None, None] / REFERENCE_SKIN - 1))).clamp(0, 1)
    return alpha, tone


REFERENCE_SKIN = 0.55  # skin of this mean brightness leaves a mask's own tone unchanged


def skin_brightness(images: torch.Tensor, landmarks: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) mean intensity of the visible skin: the upper face without the eyes and the brows.

    Args:
        images: (N, 48, 48) faces in [0, 1].
        landmarks: (N, 68, 2).
        hidden: (N, 48, 48) coverage of what hides part of the face (a mask); those pixels are left out.
    """
    upper, eyes, brows = region_masks(landmarks, ("upper_face", "eyes", "brows")).unbind(1)
    weight = upper * (1 - eyes) * (1 - brows) * (1 if hidden is None else (hidden <= 0).float())
    return (images * weight).sum((1, 2)) / weight.sum((1, 2)).clamp_min(1e-6)


_MASK_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _split_fingerprint(split: SplitTensors) -> tuple:
    """What a split's masks depend on: its faces, their ids and landmarks, and the device."""
    h = hashlib.sha1(split.images.cpu().numpy().tobytes())
    h.update(split.landmarks.cpu().numpy().tobytes())
    h.update("\n".join(map(str, split.ids)).encode())
    return split.name, h.hexdigest(), str(split.images.device)


class MaskPolicy(FacePerturbation):
    """MaskFer as a view: each face wears its synthetic mask in training and in test.

    Args:
        style: mask style, one of :data:`MASK_STYLES`.
        seed: texture seed (with the image id, it fixes every mask).
    """

    def __init__(self, style: str = "n95", seed: int = 0):
        if style not in MASK_STYLES:
            raise ValueError(f"unknown mask style {style!r}; choose from {', '.join(MASK_STYLES)}")
        self.style, self.seed = style, seed

    def spec(self) -> dict:
        return {"kind": "mask", "style": self.style, "seed": self.seed}

    def tag(self) -> str:
        return f"mask-{self.style}"

    def prepare(self, split: SplitTensors) -> None:
        if split.landmarks is None:
            raise ValueError(f"split {split.name}: MaskFer needs landmarks")
        key = (self.style, self.seed, _split_fingerprint(split))
        if key not in _MASK_CACHE:  # a notebook masks the same faces for several runs: draw them once
            keys = id_keys(split.ids, self.seed)
            alphas, tones = [], []
            for s in range(0, len(split), 2048):
                idx = torch.arange(s, min(s + 2048, len(split)), device=split.images.device)
                a, t = mask_layers(split.batch(idx)[:, 0], split.landmarks[idx], keys[s:s + len(idx)], self.style)
                alphas.append((a * 255).round().byte())
                tones.append((t * 255).round().byte())
            while len(_MASK_CACHE) >= 6:
                _MASK_CACHE.pop(next(iter(_MASK_CACHE)))
            _MASK_CACHE[key] = (torch.cat(alphas), torch.cat(tones))
        split.cache["mask"] = _MASK_CACHE[key]

    def apply(self, x, split, idx):
        alpha, tone = split.cache["mask"]
        a = alpha[idx].unsqueeze(1).float() / 255
        return x * (1 - a) + a * (tone[idx].unsqueeze(1).float() / 255)
