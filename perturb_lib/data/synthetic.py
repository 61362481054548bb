"""Procedural 48x48 expression faces whose expressions are defined by facial action units (AUs).

What it is for: seeing the whole study run before FER2013 is fetched, testing the pipeline, and checking
explanation methods against a known truth - which facial region carries each emotion is known by
construction (:func:`defining_regions`, measured on the renderer). What it is not: evidence about human faces. Its accuracies,
saliency maps and Perturb Scheme gains say nothing about FER2013.

Each face is drawn from its 68 landmarks, so the landmarks and the region map (brows, eyes, nose, mouth,
rest) are exact ground truth. Variation: identity (face shape, eye spacing and size, brow and lip
thickness, skin, hair and background tone), expression intensity and small stray AUs, pose (shift, roll,
scale), lighting gradients, noise, occasional occluders and a small label-noise rate. Class proportions and
split sizes follow FER2013, scaled by ``size``. Deterministic for a seed.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..geometry import pixel_grid, segment_distance
from ..landmarks.layout import TEMPLATE, eye_points, mouth_points
from ..landmarks.regions import MAP_REGIONS, region_map
from .faces import EMOTIONS, FER2013_SPLIT_SIZES, FER2013_TRAIN_COUNTS, IMAGE_SIZE, SPLITS, FaceSet

if TYPE_CHECKING:  # pandas is imported where a table is built: the faces themselves do not need it
    import pandas as pd

AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU20", "AU23", "AU25", "AU26")
# Prototypical AU intensities per emotion (FACS-based EMFACS prototypes, simplified).
EMOTION_AUS = {
    "Angry": {"AU4": 1.0, "AU7": 0.8, "AU23": 1.0},
    "Disgust": {"AU9": 1.0, "AU10": 1.0, "AU4": 0.4},
    "Fear": {"AU1": 1.0, "AU2": 0.6, "AU4": 0.6, "AU5": 1.0, "AU20": 1.0, "AU25": 0.8},
    "Happy": {"AU6": 1.0, "AU12": 1.0, "AU25": 0.4},
    "Sad": {"AU1": 1.0, "AU4": 0.5, "AU15": 1.0},
    "Surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU26": 1.0},
    "Neutral": {},
}
# The share of the rendered change (:func:`rendered_change`) that the defining regions of an emotion hold
# together, among the change inside brows, eyes, nose and mouth.
DEFINING_SHARE = 2 / 3


@functools.lru_cache(maxsize=4)
def defining_regions(size: float = 0.05, seed: int = 0) -> dict[str, tuple[str, ...]]:
    """The regions that define each synthetic emotion, measured on the renderer (not written by hand).

    The facial features (brows, eyes, nose, mouth) are ranked by their share of the rendered change
    (:func:`rendered_change`); an emotion's defining regions are the fewest top-ranked ones that hold
    :data:`DEFINING_SHARE` of the change inside the features. Neutral is defined by none.

    Returns:
        ``{emotion: regions, strongest first}``.
    """
    change = rendered_change(size, seed)
    out = {}
    for emo, row in change.iterrows():
        features = row.drop("rest").sort_values(ascending=False)
        cumulative = (features / features.sum()).cumsum()
        out[emo] = () if emo == "Neutral" else tuple(features.index[:int((cumulative < DEFINING_SHARE).sum()) + 1])
    return out


def defining_region_table() -> "pd.DataFrame":
    """Each emotion's action units, the share of its rendered change per region, and its defining regions."""
    import pandas as pd
    change = rendered_change()
    defining = defining_regions()
    rows = {emo: {"action units": ", ".join(f"{au} {v:g}" for au, v in EMOTION_AUS[emo].items()) or "-",
                  **{f"{r} share": round(float(change.loc[emo, r]), 3) for r in change.columns},
                  "defining regions": ", ".join(defining[emo]) or "-"} for emo in EMOTIONS}
    df = pd.DataFrame(rows).T
    df.index.name = "emotion"
    return df


def make_synthetic_faces(size: float = 0.1, seed: int = 0, label_noise: float = 0.03,
                         occluder_rate: float = 0.05, faces_per_identity: int = 8,
                         chunk: int = 512) -> FaceSet:
    """Generate a synthetic expression-face dataset with FER2013's class proportions and split sizes.

    Args:
        size: fraction of FER2013's size (1.0 = 28,709 / 3,589 / 3,589 faces).
        seed: random seed; the same seed gives the same faces, bit for bit.
        label_noise: share of faces whose label is replaced by another class (``extras['label_clean']``
            keeps the expressed emotion).
        occluder_rate: share of faces with a random occluder (``extras['occluded']``).
        faces_per_identity: faces drawn per identity on average; identities do not cross splits.
        chunk: faces rendered at once (memory bound).

    Returns:
        A FaceSet with ground-truth ``landmarks`` and extras ``regions`` (N, 48, 48; ids of
        :data:`perturb_lib.landmarks.MAP_REGIONS`), ``aus`` (N, 14; :data:`AUS`), ``identity``,
        ``neutral_landmarks`` (the same identity and pose without expression), ``label_clean``,
        ``intensity`` and ``occluded``.
    """
    d = _draw(size, seed, occluder_rate, faces_per_identity)
    n = len(d["labels"])
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for s in range(0, n, chunk):
        images[s:s + chunk] = _render_slice(d, slice(s, s + chunk))
    rng = d["rng"]
    labels = d["labels"]
    noisy = rng.random(n) < label_noise
    observed = labels.copy()
    observed[noisy] = (labels[noisy] + rng.integers(1, len(EMOTIONS), noisy.sum())) % len(EMOTIONS)
    ids = np.array([f"{SPLITS[s]}_syn{seed}_{i:06d}" for i, s in enumerate(d["splits"])])
    extras = {
        "regions": region_map(d["landmarks"]), "aus": d["aus"].astype(np.float32), "identity": d["identity"],
        "neutral_landmarks": d["neutral"].astype(np.float32), "label_clean": labels,
        "intensity": d["intensity"].astype(np.float32), "occluded": d["style"]["occluded"],
    }
    return FaceSet(images, observed, d["splits"], ids, landmarks=d["landmarks"].astype(np.float32), extras=extras,
                   name="synthetic", source=f"make_synthetic_faces(size={size}, seed={seed})")


def _draw(size: float, seed: int, occluder_rate: float = 0.05, faces_per_identity: int = 8) -> dict:
    """Everything random about a synthetic dataset except its label noise (the generator is returned for it)."""
    if not 0 < size <= 10:
        raise ValueError(f"size must be in (0, 10], got {size}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2013]))
    labels, splits = _labels_and_splits(size, rng)
    n = len(labels)
    identity = _identities(splits, faces_per_identity, rng)
    ident = _identity_params(identity.max() + 1, rng)
    pose = _pose_params(n, rng)
    intensity = rng.uniform(0.3, 1.0, n)
    aus = _au_intensities(labels, intensity, rng)
    local = _local_landmarks(ident, identity, aus)
    neutral_local = _local_landmarks(ident, identity, np.zeros_like(aus))
    style = _style_params(n, rng, occluder_rate)
    return {"labels": labels, "splits": splits, "identity": identity, "ident": ident, "pose": pose,
            "intensity": intensity, "aus": aus, "local": local, "landmarks": _place(local, pose),
            "neutral_local": neutral_local, "neutral": _place(neutral_local, pose), "style": style, "rng": rng}


def _render_slice(d: dict, sl: slice, neutral: bool = False) -> np.ndarray:
    """Render faces ``sl`` of a draw, with their expression or as the same person's neutral face."""
    aus = np.zeros_like(d["aus"][sl]) if neutral else d["aus"][sl]
    local = d["neutral_local"][sl] if neutral else d["local"][sl]
    return _render(d["ident"], d["identity"][sl], aus, {k: v[sl] for k, v in d["pose"].items()}, local,
                   {k: v[sl] for k, v in d["style"].items()})


def rendered_change(size: float = 0.05, seed: int = 0, chunk: int = 512) -> "pd.DataFrame":
    """A copy of :func:`_rendered_change` (computed once per process: it renders every face twice, seconds)."""
    return _rendered_change(size, seed, chunk).copy()


@functools.lru_cache(maxsize=4)
def _rendered_change(size: float = 0.05, seed: int = 0, chunk: int = 512) -> "pd.DataFrame":
    """Where the renderer puts each expression: the mean absolute difference between each face and the same
    person's neutral face (same pose, light, noise and occluder), shared out over the region map.

    Args:
        size: how many faces to measure (a fraction of FER2013's size).
        seed: generator seed.
        chunk: faces rendered at once.

    Returns:
        Per emotion (rows) and region (columns: the :data:`~perturb_lib.landmarks.MAP_REGIONS`, ``rest`` being
        everything outside brows, eyes, nose and mouth), the share of the rendered change; rows sum to 1.
    """
    import pandas as pd
    d = _draw(size, seed)
    n = len(d["labels"])
    totals = np.zeros((len(EMOTIONS), len(MAP_REGIONS)))
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        diff = np.abs(_render_slice(d, sl).astype(np.float64) - _render_slice(d, sl, neutral=True))
        moved, still = region_map(d["landmarks"][sl]), region_map(d["neutral"][sl])
        regions = np.where(moved > 0, moved, still)  # a brow that moved up changes both where it is and was
        for c in range(len(EMOTIONS)):
            mine = d["labels"][sl] == c
            totals[c] += np.bincount(regions[mine].ravel(), weights=diff[mine].ravel(), minlength=len(MAP_REGIONS))
    with np.errstate(invalid="ignore"):
        shares = totals / totals.sum(1, keepdims=True)
    return pd.DataFrame(shares, index=pd.Index(EMOTIONS, name="emotion"), columns=list(MAP_REGIONS))


# -------------------------------------------------------------------------------------------- sampling
def _labels_and_splits(size: float, rng) -> tuple[np.ndarray, np.ndarray]:
    props = np.asarray(FER2013_TRAIN_COUNTS, dtype=np.float64)
    props /= props.sum()
    labels, splits = [], []
    for si, split in enumerate(SPLITS):
        total = max(len(EMOTIONS), int(round(FER2013_SPLIT_SIZES[split] * size)))
        counts = np.maximum(1, np.floor(props * total).astype(int))
        for k in np.argsort(-(props * total - counts))[: max(0, total - counts.sum())]:
            counts[k] += 1
        lab = np.repeat(np.arange(len(EMOTIONS)), counts)
        rng.shuffle(lab)
        labels.append(lab)
        splits.append(np.full(len(lab), si))
    return np.concatenate(labels), np.concatenate(splits)


def _identities(splits, per_identity, rng) -> np.ndarray:
    out = np.empty(len(splits), dtype=np.int64)
    next_id = 0
    for si in range(len(SPLITS)):
        idx = np.flatnonzero(splits == si)
        k = max(1, len(idx) // per_identity)
        out[idx] = next_id + rng.integers(0, k, len(idx))
        next_id += k
    return out


def _identity_params(k: int, rng) -> dict[str, np.ndarray]:
    skin = rng.uniform(85, 205, k)
    return {
        "face_rx": rng.uniform(17.5, 20.5, k), "face_ry": rng.uniform(26.5, 29.5, k),
        "eye_dx": rng.uniform(8.2, 9.8, k), "eye_y": rng.uniform(17.6, 19.4, k),
        "eye_w": rng.uniform(3.9, 4.8, k), "eye_h": rng.uniform(1.35, 1.85, k),
        "brow_gap": rng.uniform(4.6, 6.2, k), "brow_half": rng.uniform(0.75, 1.35, k),
        "brow_dark": rng.uniform(35, 85, k), "nose_y": rng.uniform(30.0, 32.0, k), "nose_w": rng.uniform(3.0, 4.1, k),
        "mouth_y": rng.uniform(37.5, 39.5, k), "mouth_w": rng.uniform(5.6, 7.4, k),
        "lip_up": rng.uniform(1.3, 2.1, k), "lip_lo": rng.uniform(1.8, 2.8, k), "lip_dark": rng.uniform(18, 45, k),
        "skin": skin, "hair": np.clip(skin + rng.choice([-1, 1], k) * rng.uniform(50, 120, k), 10, 240),
        "hairline": rng.uniform(3.0, 9.0, k), "bg": rng.uniform(25, 230, k),
    }


def _pose_params(n: int, rng) -> dict[str, np.ndarray]:
    return {"dx": np.clip(rng.normal(0, 1.2, n), -3, 3), "dy": np.clip(rng.normal(0, 1.2, n), -3, 3),
            "roll": np.radians(np.clip(rng.normal(0, 5.0, n), -12, 12)), "scale": rng.uniform(0.93, 1.07, n)}


def _style_params(n: int, rng, occluder_rate: float) -> dict[str, np.ndarray]:
    return {
        "light_angle": rng.uniform(0, 2 * np.pi, n), "light": rng.uniform(0, 30, n),
        "contrast": rng.uniform(0.8, 1.15, n), "noise": rng.uniform(3, 9, n),
        "gaze": rng.normal(0, 0.4, (n, 2)), "noise_seed": rng.integers(0, 2**31, n),
        "occluded": rng.random(n) < occluder_rate, "occ_center": rng.uniform(6, 42, (n, 2)),
        "occ_size": rng.uniform(5, 12, (n, 2)), "occ_value": rng.uniform(10, 245, n),
        "occ_round": rng.random(n) < 0.5,
    }


def _au_intensities(labels, intensity, rng) -> np.ndarray:
    aus = np.zeros((len(labels), len(AUS)))
    for c, emo in enumerate(EMOTIONS):
        rows = np.flatnonzero(labels == c)
        for au, v in EMOTION_AUS[emo].items():
            aus[rows, AUS.index(au)] = v * intensity[rows] * rng.uniform(0.75, 1.2, len(rows))
    stray = rng.random(aus.shape) < 0.12  # small unrelated movements every face makes
    aus = np.maximum(aus, stray * rng.uniform(0, 0.3, aus.shape))
    return aus


# ------------------------------------------------------------------------------------------- geometry
def _local_landmarks(ident, identity, aus) -> np.ndarray:
    """Landmarks in the face's own frame (before pose): the identity's neutral face moved by its AUs."""
    p = {k: v[identity] for k, v in ident.items()}
    a = {au: aus[:, i] for i, au in enumerate(AUS)}
    n, cx = len(identity), 24.0
    t = TEMPLATE.astype(np.float64)
    # jaw: the template's shape stretched to this identity; the chin drops with the jaw (AU26)
    jaw = np.repeat(t[None, 0:17], n, 0)
    jaw[..., 0] = cx + (jaw[..., 0] - cx) * (p["face_rx"] / 19.0)[:, None]
    depth = (jaw[..., 1] - 18.0)
    jaw[..., 1] = 18.0 + depth * (p["face_ry"] / 28.5)[:, None] + 2.2 * a["AU26"][:, None] * (depth / 28.5) ** 3
    # brows: outer -> inner for the right brow; AU1 lifts the inner end, AU2 the outer, AU4 lowers and draws in
    s = np.linspace(0, 1, 5)[None]
    eye_y = p["eye_y"][:, None]
    brow_x = (cx - p["eye_dx"][:, None] - p["eye_w"][:, None] - 1.6) + s * (p["eye_dx"][:, None] + p["eye_w"][:, None] - 0.9)
    brow_y = eye_y - p["brow_gap"][:, None] - 1.3 * np.sin(np.pi * (0.15 + 0.7 * s))
    brow_y = brow_y - 2.4 * a["AU1"][:, None] * s**1.5 - 2.4 * a["AU2"][:, None] * (1 - s) ** 1.5
    brow_y = brow_y + 1.9 * a["AU4"][:, None] * (0.45 + 0.55 * s) + 0.7 * a["AU9"][:, None] * s
    brow_x = brow_x + 1.6 * a["AU4"][:, None] * s
    rbrow = np.stack([brow_x, brow_y], -1)
    lbrow = np.stack([2 * cx - brow_x[:, ::-1], brow_y[:, ::-1]], -1)
    # eyes: AU5 widens, AU6 and AU7 narrow from below and above
    h_up = p["eye_h"] * np.clip(1 + 0.9 * a["AU5"] - 0.45 * a["AU7"] - 0.2 * a["AU6"] - 0.2 * a["AU9"], 0.25, None)
    h_low = p["eye_h"] * np.clip(1 + 0.3 * a["AU5"] - 0.6 * a["AU6"] - 0.5 * a["AU7"], 0.2, None)
    reye = eye_points(cx - p["eye_dx"], p["eye_y"], p["eye_w"], h_up, h_low)
    leye = eye_points(cx + p["eye_dx"], p["eye_y"], p["eye_w"], h_up, h_low)
    # nose: AU9 wrinkles and lifts the nostrils, AU10 lifts them a little
    base_y = p["nose_y"] - 1.1 * a["AU9"] - 0.3 * a["AU10"]
    bridge = np.stack([np.full((n, 4), cx), np.linspace(p["eye_y"], base_y - 2.4, 4).T], -1)
    wing = p["nose_w"] * (1 + 0.15 * a["AU9"])
    base = np.stack([cx + wing[:, None] * np.array([-1, -0.5, 0, 0.5, 1]),
                     base_y[:, None] + np.array([-0.6, 0.2, 0.5, 0.2, -0.6])], -1)
    # mouth
    gap = np.clip(1.4 * a["AU25"] + 3.4 * a["AU26"] + 0.9 * a["AU10"] - 0.3, 0, None)
    lip_scale = 1 - 0.55 * a["AU23"]
    width = p["mouth_w"] * (1 - 0.1 * a["AU23"])
    outer, inner = mouth_points(cx, p["mouth_y"], width, p["lip_up"] * lip_scale, p["lip_lo"] * lip_scale, gap)
    mouth = np.concatenate([outer, inner], 1)
    u = (mouth[..., 0] - cx) / width[:, None]  # -1 .. 1 across the mouth
    corner = np.abs(u) ** 2
    dx = np.sign(u) * corner * (1.3 * a["AU12"] + 2.0 * a["AU20"])[:, None]
    dy = corner * (-2.1 * a["AU12"] + 1.9 * a["AU15"])[:, None]
    upper = np.zeros((1, 20), dtype=bool)
    upper[0, [1, 2, 3, 4, 5, 13, 14, 15]] = True  # upper outer and inner lip, corners excluded
    lower = np.zeros((1, 20), dtype=bool)
    lower[0, [7, 8, 9, 10, 11, 17, 18, 19]] = True
    dy = dy - upper * (1.4 * a["AU10"])[:, None] * (1 - 0.5 * corner)
    dy = dy + lower * (2.6 * a["AU26"])[:, None] * (1 - 0.6 * corner)
    mouth = mouth + np.stack([dx, dy], -1)
    return np.concatenate([jaw, rbrow, lbrow, bridge, base, reye, leye, mouth], 1)


def _place(local: np.ndarray, pose) -> np.ndarray:
    """Apply each face's pose (scale, roll about the image centre, shift) to local landmarks."""
    c = (IMAGE_SIZE - 1) / 2
    cos, sin = np.cos(pose["roll"])[:, None], np.sin(pose["roll"])[:, None]
    x, y = local[..., 0] - c, local[..., 1] - c
    s = pose["scale"][:, None]
    return np.stack([s * (cos * x - sin * y) + c + pose["dx"][:, None],
                     s * (sin * x + cos * y) + c + pose["dy"][:, None]], -1)


# ------------------------------------------------------------------------------------------- rendering
def _interp(u: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear y(u) through knots (xs, ys) sorted by x; NaN outside the knots. u (N, P), xs/ys (N, K)."""
    xs = torch.cummax(xs.contiguous(), dim=1).values  # guard against knots out of order after deformation
    k = torch.searchsorted(xs, u.contiguous()).clamp(1, xs.shape[1] - 1)
    x0, x1 = xs.gather(1, k - 1), xs.gather(1, k)
    y0, y1 = ys.gather(1, k - 1), ys.gather(1, k)
    t = (u - x0) / (x1 - x0).clamp_min(1e-6)
    out = y0 + t.clamp(0, 1) * (y1 - y0)
    return torch.where((u >= xs[:, :1]) & (u <= xs[:, -1:]), out, torch.full_like(u, float("nan")))


def _soft(d: torch.Tensor, width: float = 0.5) -> torch.Tensor:
    """1 where d > 0, 0 where d < 0, linear across +-width pixels: anti-aliased edges."""
    return (d / (2 * width) + 0.5).clamp(0, 1)


def _render(ident, identity, aus, pose, local, style) -> np.ndarray:
    T = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    n = len(identity)
    p = {k: T(v[identity])[:, None] for k, v in ident.items()}
    a = {au: T(aus[:, i])[:, None] for i, au in enumerate(AUS)}
    # pixel grid in each face's own frame (inverse pose), so shapes are drawn upright
    grid = pixel_grid()
    c = (IMAGE_SIZE - 1) / 2
    cos, sin = T(np.cos(pose["roll"]))[:, None], T(np.sin(pose["roll"]))[:, None]
    gx = (grid[None, :, 0] - c - T(pose["dx"])[:, None]) / T(pose["scale"])[:, None]
    gy = (grid[None, :, 1] - c - T(pose["dy"])[:, None]) / T(pose["scale"])[:, None]
    u, v = cos * gx + sin * gy + c, -sin * gx + cos * gy + c
    uv = torch.stack([u, v], -1)
    lm = T(local)
    cx = 24.0

    img = p["bg"].expand(n, u.shape[1]).clone()
    # head and hair: an ellipse around the face, hair above the hairline
    head = ((u - cx) / (p["face_rx"] + 2.5)) ** 2 + ((v - 20) / (p["face_ry"] + 3.0)) ** 2
    in_head = _soft((1 - head) * 12)
    img = img + in_head * (p["hair"] - img)
    # skin: inside the jaw, up to the hairline
    jaw_y = _interp(u, lm[:, 0:17, 0], lm[:, 0:17, 1])
    face_rx = p["face_rx"]
    upper_part = ((u - cx) / face_rx) ** 2 + ((v - 18) / (18 - p["hairline"])) ** 2
    in_face = torch.where(v >= 18, _soft(torch.nan_to_num(jaw_y - v, nan=-5.0)), _soft((1 - upper_part) * 8))
    shade = 1 - 0.18 * (((u - cx) / face_rx) ** 2).clamp(0, 1)
    img = img + in_face * (p["skin"] * shade - img)
    skin = p["skin"] * shade
    # eye sockets: a soft shadow around each eye keeps eyes visible even when narrowed
    for e in (lm[:, 36:42], lm[:, 42:48]):
        ec = e.mean(1)
        r2 = ((u - ec[:, :1]) / (p["eye_w"] + 1.8)) ** 2 + ((v - ec[:, 1:] + 0.6) / 3.2) ** 2
        img = img - 14 * torch.exp(-r2)
    # cheeks raised (AU6) and nasolabial folds (AU6, AU10, AU12)
    for side in (-1, 1):
        ccx = cx + side * (p["eye_dx"] + 1.0)
        r2 = ((u - ccx) / 3.5) ** 2 + ((v - (lm[:, 33:34, 1] - 1.0)) / 2.6) ** 2
        img = img + 26 * a["AU6"] * torch.exp(-r2) * in_face
        wing, corner = lm[:, 35 if side > 0 else 31], lm[:, 54 if side > 0 else 48]
        fold = torch.stack([wing + torch.tensor([side * 1.2, 0.0]), corner + torch.tensor([side * 1.3, 0.8])], 1)
        d = _to_segment(uv, fold[:, 0], fold[:, 1])
        strength = 30 * torch.maximum(a["AU12"], torch.maximum(0.7 * a["AU10"], 0.5 * a["AU6"]))
        img = img - strength * _soft(0.7 - d)
    # brows (with the frown lines of AU4 between them)
    for b in (lm[:, 17:22], lm[:, 22:27]):
        d = segment_distance(uv, b[:, :4], b[:, 1:]).amin(-1)
        img = img - p["brow_dark"] * _soft(p["brow_half"] - d)
    for side in (-1, 1):
        x0 = cx + side * 1.2
        d = _to_segment(uv, torch.stack([torch.full((n,), x0), lm[:, 21, 1] + 0.5], 1),
                             torch.stack([torch.full((n,), x0), lm[:, 21, 1] + 3.5], 1))
        img = img - 34 * a["AU4"] * _soft(0.45 - d)
    # eyes: sclera between the lids, iris, lash line on the upper lid
    for k, e in enumerate((lm[:, 36:42], lm[:, 42:48])):
        ex, ey = e[:, [0, 3], 0].mean(1, keepdim=True), e[:, [0, 3], 1].mean(1, keepdim=True)
        w = (e[:, 3:4, 0] - e[:, 0:1, 0]) / 2
        h_up = (ey - e[:, 1:3, 1].mean(1, keepdim=True)) * 9 / 8
        h_low = (e[:, 4:6, 1].mean(1, keepdim=True) - ey) * 9 / 8
        q = (1 - ((u - ex) / w) ** 2).clamp_min(0)
        top, bottom = ey - h_up * q, ey + h_low * q
        inside = _soft(torch.minimum(v - top, bottom - v) * 2) * (q > 0)
        sclera = torch.clamp(skin + 45, max=235)
        img = img + inside * (sclera - img)
        g = T(style["gaze"])
        iris = ((u - ex - g[:, :1]) ** 2 + (v - ey - 0.15 - g[:, 1:] * 0.5) ** 2).sqrt()
        img = img + inside * _soft(1.75 - iris) * (30 - img)
        lash = torch.where(q > 0.02, (v - top).abs(), torch.full_like(v, 9.0))
        img = img - 55 * _soft(0.55 - lash)
    # nose: shading on one side of the bridge, nostrils, wrinkles (AU9)
    light = T(style["light_angle"])[:, None]
    side = torch.sign(torch.cos(light)) + (torch.cos(light) == 0)
    d = _to_segment(uv, lm[:, 27] + torch.stack([side[:, 0] * 1.6, torch.zeros(n)], 1),
                         lm[:, 30] + torch.stack([side[:, 0] * 2.2, torch.zeros(n)], 1))
    img = img - 12 * _soft(0.9 - d)
    for k in (32, 34):
        r = ((u - lm[:, k:k + 1, 0]) / 1.1) ** 2 + ((v - lm[:, k:k + 1, 1] + 0.1) / 0.7) ** 2
        img = img - 55 * _soft((1 - r) * 1.5)
    for k in range(3):
        y0 = lm[:, 28:29, 1] + 0.3 + 1.3 * k
        d = _to_segment(uv, torch.cat([torch.full((n, 1), cx - 2.2), y0], 1),
                             torch.cat([torch.full((n, 1), cx + 2.2), y0 + 0.3], 1))
        img = img - 40 * a["AU9"] * _soft(0.5 - d)
    # mouth: lips between the outer curves, a dark opening with teeth between the inner curves
    up_o = _interp(u, lm[:, 48:55, 0], lm[:, 48:55, 1])
    lo_o = _interp(u, lm[:, [48, 59, 58, 57, 56, 55, 54], 0], lm[:, [48, 59, 58, 57, 56, 55, 54], 1])
    up_i = _interp(u, lm[:, 60:65, 0], lm[:, 60:65, 1])
    lo_i = _interp(u, lm[:, [60, 67, 66, 65, 64], 0], lm[:, [60, 67, 66, 65, 64], 1])
    lips = _soft(torch.nan_to_num(torch.minimum(v - up_o, lo_o - v), nan=-5.0) * 2)
    img = img + lips * ((skin - p["lip_dark"]) - img)
    gap = torch.nan_to_num(torch.minimum(v - up_i, lo_i - v), nan=-5.0)
    opening = _soft(gap * 2)
    teeth = _soft((up_i + 0.55 * (lo_i - up_i) - v).nan_to_num(-5.0) * 2) * (a["AU12"] + a["AU10"] > 0.3)
    img = img + opening * ((22 + 170 * teeth) - img)
    line = torch.nan_to_num((v - (up_i + lo_i) / 2).abs(), nan=9.0)
    img = img - 45 * _soft(0.5 - line) * (lips > 0)
    # occluders: a hand, a strand of hair, a microphone...
    occ = T(style["occluded"])[:, None]
    oc, osz = T(style["occ_center"]), T(style["occ_size"])
    dx_, dy_ = (grid[None, :, 0] - oc[:, :1]) / osz[:, :1], (grid[None, :, 1] - oc[:, 1:]) / osz[:, 1:]
    rnd = T(style["occ_round"])[:, None]
    shape = rnd * _soft((1 - (dx_**2 + dy_**2)) * 4) + (1 - rnd) * _soft((1 - torch.maximum(dx_.abs(), dy_.abs())) * 6)
    img = img + occ * shape * (T(style["occ_value"])[:, None] - img)
    # lighting gradient, contrast, sensor noise
    gxn, gyn = (grid[None, :, 0] - c) / c, (grid[None, :, 1] - c) / c
    img = img + T(style["light"])[:, None] * (torch.cos(light) * gxn + torch.sin(light) * gyn)
    mean = img.mean(1, keepdim=True)
    img = (img - mean) * T(style["contrast"])[:, None] + mean
    noise = torch.stack([torch.randn(u.shape[1], generator=torch.Generator().manual_seed(int(s)))
                         for s in style["noise_seed"]])
    img = img + noise * T(style["noise"])[:, None]
    return img.round().clamp(0, 255).to(torch.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE).numpy()


def _to_segment(uv: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from points uv (N, P, 2) to one segment per face a->b (N, 2): (N, P)."""
    return segment_distance(uv, a[:, None], b[:, None])[..., 0]
