"""Perturbations of faces from their landmarks: MaskFer's synthetic masks and the removal of one facial feature.

Both are :class:`~perturb_lib.policy.InputPolicy` subclasses, vectorised over batches in torch: a "masked"
dataset is the original faces plus a transform on the device. ``prepare`` rasterises each face's mask once per
split (a few MB as uint8), batches then blend in a single operation.

MaskFer follows the MaskTheFace tool's construction as far as it can be done at 48x48 without its dlib model:
a mask outline from the nose bridge down over the cheeks and along the jaw line to below the chin, a style
(N95, surgical, cloth) with its tone and texture, shading taken from the face's own brightness, and
anti-aliased edges. Deterministic per image id and seed. The published MaskFer folders can also be loaded
and paired with their FER2013 originals (:func:`load_maskfer_folders`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import landmarks as lmk
from .data.faces import EMOTION_FOLDERS, SPLITS, DataError, FaceSet
from .policy import InputPolicy, SplitTensors

MASK_STYLES = ("n95", "surgical", "cloth")
REMOVAL_REGIONS = ("eyes", "brows", "nose", "mouth", "upper_face", "lower_face")
FILLS = ("mean", "blur", "noise")


# ------------------------------------------------------------------------------------------- noise
def id_keys(ids, seed: int = 0) -> torch.Tensor:
    """A stable 62-bit integer per image id and seed (the same on every machine and device)."""
    out = [int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=8).digest(), "little") >> 2
           for i in np.asarray(ids).astype(str)]
    return torch.tensor(out, dtype=torch.int64)


def hash_noise(keys: torch.Tensor, size: int = 48) -> torch.Tensor:
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


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 1, H, W) with replicated borders."""
    r = max(1, int(np.ceil(2.5 * sigma)))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


# -------------------------------------------------------------------------------------------- masks
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
    down = -lmk.face_up(lm)[:, None]
    s = lmk.face_scale(lm)[:, None, None]
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
    grid = lmk.pixel_grid(size, images.device)
    outline = mask_outline(landmarks, style)
    alpha = lmk.coverage(lmk.polygon_sdf(outline, grid)).reshape(n, size, size)
    noise = hash_noise(keys.to(images.device), size)
    up = lmk.face_up(landmarks)
    s = lmk.face_scale(landmarks)
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
    # shading follows the face: the mask is lit as the skin under it was (low-pass, relative to its mean)
    lit = gaussian_blur(images[:, None], 4.0)[:, 0]
    inside = alpha > 0.5
    mean_lit = (lit * inside).sum((1, 2)) / inside.sum((1, 2)).clamp_min(1)
    shade = (lit / mean_lit[:, None, None].clamp_min(1e-3)).clamp(0.55, 1.45)
    tone = (base * (1 + 0.7 * (shade - 1))).clamp(0, 1)
    return alpha, tone


def apply_mask(images: np.ndarray, landmarks: np.ndarray, ids, style: str = "n95", seed: int = 0,
               batch: int = 1024) -> np.ndarray:
    """MaskFer: the faces (N, 48, 48) uint8 with a synthetic mask drawn from their landmarks (uint8 out)."""
    images, landmarks = np.ascontiguousarray(images), np.ascontiguousarray(landmarks)
    out = np.empty_like(images)
    keys = id_keys(ids, seed)
    for s in range(0, len(images), batch):
        x = torch.as_tensor(images[s:s + batch]).float() / 255
        alpha, tone = mask_layers(x, torch.as_tensor(landmarks[s:s + batch], dtype=torch.float32),
                                  keys[s:s + batch], style)
        out[s:s + batch] = ((1 - alpha) * x + alpha * tone).mul(255).round().clamp(0, 255).byte().numpy()
    return out


_MASK_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _split_fingerprint(split: SplitTensors) -> tuple:
    """What a split's masks depend on: its faces, their ids and landmarks, and the device."""
    h = hashlib.sha1(split.images.cpu().numpy().tobytes())
    h.update(split.landmarks.cpu().numpy().tobytes())
    h.update("\n".join(map(str, split.ids)).encode())
    return split.name, h.hexdigest(), str(split.images.device)


class FacePerturbation(InputPolicy):
    """A perturbation every face carries, the same in training and in test: subclasses precompute per-face
    layers in :meth:`prepare` and blend them in :meth:`apply`."""

    def needs_landmarks(self) -> bool:
        return True

    def apply(self, x: torch.Tensor, split: SplitTensors, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train_inputs(self, x, y, split, idx, generator):
        return self.apply(x, split, idx), y

    def eval_views(self, x, split, idx):
        return self.apply(x, split, idx)


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


# ------------------------------------------------------------------------------------------ removal
class RemovalPolicy(FacePerturbation):
    """One facial region removed from every face, in training and in test.

    Args:
        region: one of :data:`REMOVAL_REGIONS` (eyes, brows, nose, mouth, upper_face, lower_face).
        fill: ``mean`` (the face's own mean intensity), ``blur`` (a heavy blur of the face) or ``noise``.
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
        alphas = [(lmk.region_masks(split.landmarks[s:s + 2048], (self.region,))[:, 0] * 255).round().byte()
                  for s in range(0, len(split), 2048)]
        split.cache["removal"] = torch.cat(alphas).to(split.images.device)
        if self.fill == "noise":
            split.cache["removal_noise"] = (hash_noise(id_keys(split.ids, self.seed)).to(split.images.device)
                                            * 255).round().byte()

    def apply(self, x, split, idx):
        a = split.cache["removal"][idx].unsqueeze(1).float() / 255
        return remove(x, a, self.fill,
                      split.cache["removal_noise"][idx].unsqueeze(1).float() / 255 if self.fill == "noise" else None)


def remove(x: torch.Tensor, alpha: torch.Tensor, fill: str = "mean", noise: torch.Tensor | None = None) -> torch.Tensor:
    """Replace the region ``alpha`` (B, 1, H, W in [0, 1]) of faces ``x`` by a fill.

    ``mean``: the face's own mean intensity (a neutral value); ``blur``: the face blurred beyond recognition
    (sigma 3 px); ``noise``: the given uniform noise (B, 1, H, W).
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


# ---------------------------------------------------------------------------------- published MaskFer
@dataclass
class MaskFerPairs:
    """Published MaskFer images paired with their FER2013 originals.

    Attributes:
        masked: the masked faces, with the originals' ids, labels and splits.
        original_index: (M,) index of each masked face's original in the FER2013 FaceSet.
        unmatched_originals: how many originals have no masked twin (the mask tool found no face on them).
        unmatched_masked: masked files whose id is not among the originals.
    """

    masked: FaceSet
    original_index: np.ndarray
    unmatched_originals: int
    unmatched_masked: list[str]

    def report(self) -> str:
        n = len(self.masked)
        return (f"{n} masked faces paired with FER2013 originals; {self.unmatched_originals} originals have no "
                f"masked twin; {len(self.unmatched_masked)} masked files have no original")


def load_maskfer_folders(root: str | Path, originals: FaceSet, style: str = "N95") -> MaskFerPairs:
    """Load the published MaskFer image folders and pair each image with its FER2013 original by id.

    Args:
        root: folder with ``train/<emotion>/Training_<id>_N95.jpg`` and ``test/<emotion>/<Usage>_<id>_N95.jpg``.
        originals: FER2013 loaded from the image-folder variant (ids ``<Usage>_<id>``).
        style: the file-name suffix MaskTheFace wrote (``N95`` in the published set).

    Returns:
        The pairs; a masked face whose folder label differs from its original's raises :class:`DataError`.
    """
    from .data.fer2013 import list_image_folder, read_gray48
    root = Path(root)
    files = list_image_folder(root, suffix=f"_{style}")
    lookup = {k: i for i, k in enumerate(originals.ids)}
    images, index, unmatched = [], [], []
    for path, fid, label, split in files:
        i = lookup.get(fid)
        if i is None:
            unmatched.append(str(path.relative_to(root)))
            continue
        if originals.labels[i] != label or originals.splits[i] != split:
            raise DataError(f"{path}: labelled {EMOTION_FOLDERS[label]}/{SPLITS[split]} but its original {fid} is "
                            f"{EMOTION_FOLDERS[originals.labels[i]]}/{SPLITS[originals.splits[i]]}")
        images.append(read_gray48(path))
        index.append(i)
    if not index:
        raise DataError(f"{root}: no MaskFer image matches an original id (expected names like Training_<id>_{style}.jpg)")
    index = np.asarray(index)
    masked = originals.subset(index)
    masked.images = np.stack(images)
    masked.name, masked.source = "maskfer", str(root)
    return MaskFerPairs(masked, index, int(len(originals) - len(np.unique(index))), unmatched)


def perturbed_images(images: np.ndarray, landmarks: np.ndarray, ids, spec: dict) -> np.ndarray:
    """Apply a policy spec (mask, removal, clean) to a few faces, as the training loop would: uint8 out."""
    from .policy import make_policy
    pol = make_policy(spec)
    split = SplitTensors("Training", torch.as_tensor(np.asarray(images)), torch.zeros(len(images), dtype=torch.long),
                         torch.as_tensor(np.asarray(landmarks), dtype=torch.float32), np.asarray(ids))
    pol.prepare(split)
    idx = torch.arange(len(images))
    x = pol.eval_views(split.batch(idx), split, idx)
    return (x[:, 0] * 255).round().clamp(0, 255).byte().numpy()
