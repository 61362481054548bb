"""MaskFer's synthetic masks: a face mask drawn from each face's 68 landmarks, as a policy that every face wears
in training and in test.

The construction follows the MaskTheFace tool as far as it can be done at 48x48: a mask outline from the nose
bridge down over the cheeks and along the jaw line to below the chin, a style (N95, surgical, cloth) with its
tone and texture, and anti-aliased edges. Deterministic per image id and seed. ``prepare`` rasterises each
face's mask once per split (a few MB as uint8); batches then blend in a single operation.
"""
from __future__ import annotations

import hashlib

import torch

from ..geometry import coverage, pixel_grid, polygon_sdf
from ..images import hash_noise, id_keys
from ..landmarks.regions import face_scale, face_up, region_masks
from ..params import MASK_STYLES
from .base import FacePerturbation, SplitTensors


def mask_outline(landmarks: torch.Tensor, style: str = "n95") -> torch.Tensor:
    """(N, 22, 2) outline of a face mask: along the jaw from cheek to cheek under the chin, then over the nose.

    The lower edge follows jaw points 1-15 pushed outwards by half a pixel (so the face's edge is hidden). The
    upper edge runs from each cheek to a point under the eye (below the lower lid, clear of the eye region)
    and up to the nose bridge - higher for an N95 (most of the way to landmark 28) than for surgical and
    cloth masks (just below 28).
    """
    lm = landmarks
    centre = lm[:, 27:48].mean(1, keepdim=True)
    jaw = lm[:, 1:16]
    out = jaw - centre
    jaw = jaw + 0.5 * out / out.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    down = -face_up(lm)[:, None]
    s = face_scale(lm)[:, None, None]
    n95 = style == "n95"
    bridge = (lm[:, 27] + 0.8 * (lm[:, 28] - lm[:, 27])) if n95 else (lm[:, 28] + 0.3 * (lm[:, 29] - lm[:, 28]))
    gap = (2.6 if n95 else 3.2) * s  # below the lower lid: the eye region reaches 1.2 px + anti-aliasing
    under_left = lm[:, [46, 47]].mean(1, keepdim=True) + down * gap  # subject's left eye: image right
    under_right = lm[:, [40, 41]].mean(1, keepdim=True) + down * gap
    left_mid = (jaw[:, -1:] + under_left) / 2 + down * 0.4 * s
    right_mid = (jaw[:, :1] + under_right) / 2 + down * 0.4 * s
    upper = [left_mid, under_left, (under_left + bridge[:, None]) / 2, bridge[:, None],
             (under_right + bridge[:, None]) / 2, under_right, right_mid]
    return torch.cat([jaw] + upper, 1)


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
