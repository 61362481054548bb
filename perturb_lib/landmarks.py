"""68-point facial landmarks for 48x48 faces: the layout, three offline providers, and regions derived from them.

Layout: the iBUG 68-point order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67). "right" is the
subject's right, which appears on the image's left. Coordinates are (x, y) in pixels with pixel centres at
integers, so the image spans -0.5 ... 47.5.

Providers (none downloads anything):

* ``ground_truth`` - the landmarks a :class:`FaceSet` already carries (synthetic faces know theirs);
* ``template`` - a mean-face template fitted to the dataset's mean image (FER2013 crops are registered:
  centred, of similar size), optionally refined per image by a small similarity-transform search;
* ``file`` - landmarks a user computed with their own detector, in a CSV or NPZ keyed by image id.

Regions (:func:`region_masks`) are soft, anti-aliased masks rasterised from the landmarks, batched in torch,
so the same code draws the synthetic faces' region maps, MaskFer's masks and the feature removals.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data.faces import IMAGE_SIZE, DataError, FaceSet

GROUPS = {
    "jaw": list(range(0, 17)), "right_brow": list(range(17, 22)), "left_brow": list(range(22, 27)),
    "nose_bridge": list(range(27, 31)), "nose_base": list(range(31, 36)), "right_eye": list(range(36, 42)),
    "left_eye": list(range(42, 48)), "outer_lip": list(range(48, 60)), "inner_lip": list(range(60, 68)),
}
# Regions of a face, in the order region_masks() returns them when asked for all.
REGIONS = ("right_eye", "left_eye", "right_brow", "left_brow", "eyes", "brows", "nose", "mouth", "jaw",
           "upper_face", "lower_face", "face")
# The labels of a region map (one region per pixel); overlaps resolve eyes > brows > mouth > nose.
MAP_REGIONS = ("rest", "brows", "eyes", "nose", "mouth")
PROVIDERS = ("ground_truth", "template", "file")

# Sizes of regions around their landmarks, in pixels of a face whose eyes are TEMPLATE_EYE_DISTANCE apart.
_EYE_GROW, _BROW_HALF_WIDTH, _NOSE_GROW, _MOUTH_GROW, _JAW_HALF_WIDTH, _FOREHEAD = 1.2, 1.6, 1.3, 1.0, 2.0, 7.0


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


# ------------------------------------------------------------------------------------------- rasterising
def pixel_grid(size: int = IMAGE_SIZE, device=None) -> torch.Tensor:
    """(size*size, 2) pixel centres (x, y), row-major like ``image.reshape(-1)``."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32, device=device),
                            torch.arange(size, dtype=torch.float32, device=device), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)


def _segment_distance(grid: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from grid points (P, 2) or (N, P, 2) to each segment a->b (N, K, 2): (N, P, K)."""
    if grid.dim() == 2:
        grid = grid[None]
    gx, gy = grid[..., 0, None], grid[..., 1, None]
    ax, ay = a[:, None, :, 0], a[:, None, :, 1]
    abx, aby = b[:, None, :, 0] - ax, b[:, None, :, 1] - ay
    apx, apy = gx - ax, gy - ay
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp_min(1e-9)).clamp(0, 1)
    dx, dy = apx - t * abx, apy - t * aby
    return (dx * dx + dy * dy).sqrt()


def polygon_sdf(points: torch.Tensor, grid: torch.Tensor, chunk_elements: int = 4_000_000) -> torch.Tensor:
    """Signed distance (positive inside) from points (P, 2) or (N, P, 2) to closed polygons (N, K, 2): (N, P).

    Faces are processed in chunks so the (faces x pixels x edges) intermediates stay in cache.
    """
    n, p, k = points.shape[0], grid.shape[-2], points.shape[1]
    step = max(1, chunk_elements // max(1, p * k))
    if n > step:
        return torch.cat([polygon_sdf(points[i:i + step], grid if grid.dim() == 2 else grid[i:i + step])
                          for i in range(0, n, step)])
    if grid.dim() == 2:
        grid = grid[None]
    a, b = points, points.roll(-1, dims=1)
    dist = _segment_distance(grid, a, b).amin(-1)
    px, py = grid[..., 0, None], grid[..., 1, None]
    ax, ay, bx, by = a[:, None, :, 0], a[:, None, :, 1], b[:, None, :, 0], b[:, None, :, 1]
    crosses = (ay > py) != (by > py)
    x_at = ax + (py - ay) * (bx - ax) / torch.where(by == ay, torch.full_like(by, 1e-9), by - ay)
    inside = ((crosses & (px < x_at)).sum(-1) % 2) == 1
    return torch.where(inside, dist, -dist)


def polyline_distance(points: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Distance from points (P, 2) or (N, P, 2) to open polylines (N, K, 2): (N, P)."""
    return _segment_distance(grid, points[:, :-1], points[:, 1:]).amin(-1)


def _rasterise(points: torch.Tensor, signed_fn, reach: torch.Tensor, size: int) -> torch.Tensor:
    """Coverage of a small shape, evaluated only in a window around each face's shape: (N, size*size).

    Eyes, brows, nose and mouth cover a few percent of the image; computing their distances over the whole
    grid would cost 10-20x more. ``reach`` (N,) bounds how far outside its points the shape extends.
    """
    n = len(points)
    lo = points.amin(1) - reach[:, None] - 1.0
    hi = points.amax(1) + reach[:, None] + 1.0
    ext = ((hi - lo).amax(0).ceil() + 1).clamp(max=size).long()
    origin = lo.floor()
    ys, xs = torch.meshgrid(torch.arange(int(ext[1]), dtype=torch.float32, device=points.device),
                            torch.arange(int(ext[0]), dtype=torch.float32, device=points.device), indexing="ij")
    grid = origin[:, None] + torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)[None]
    cov = coverage(signed_fn(points, grid))
    ix, iy = grid[..., 0].long(), grid[..., 1].long()
    valid = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size)
    index = torch.where(valid, iy * size + ix, torch.full_like(ix, size * size))
    out = torch.zeros(n, size * size + 1, device=points.device)
    out.scatter_(1, index, torch.where(valid, cov, torch.zeros_like(cov)))
    return out[:, :-1]


def coverage(signed: torch.Tensor) -> torch.Tensor:
    """Anti-aliased pixel coverage from a signed distance in pixels (positive inside)."""
    return (signed + 0.5).clamp(0, 1)


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
        return _rasterise(points, fn, grow, size)

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


# ---------------------------------------------------------------------------------------------- providers
def landmarks_for(faces: FaceSet, provider: str = "auto", path: str | Path | None = None,
                  refine: bool = True) -> np.ndarray:
    """Landmarks for every face of a set from one of the offline providers.

    Args:
        faces: the faces.
        provider: ``ground_truth``, ``template``, ``file``, or ``auto`` (ground truth when the set has it,
            else a file when ``path`` is given, else the template).
        path: the landmark file for ``file`` (CSV or NPZ keyed by image id).
        refine: for ``template``: refine the fitted template per image.

    Returns:
        (N, 68, 2) float32 landmarks in the order of ``faces``.
    """
    if provider == "auto":
        provider = "ground_truth" if faces.landmarks is not None else ("file" if path else "template")
    if provider == "ground_truth":
        if faces.landmarks is None:
            raise DataError(f"{faces.name}: no ground-truth landmarks; use provider='template' or 'file'")
        return faces.landmarks
    if provider == "template":
        return fit_template(faces.images, refine=refine)
    if provider == "file":
        if path is None:
            raise ValueError("provider='file' needs path= (a CSV or NPZ of landmarks keyed by image id)")
        return load_landmark_file(path, faces.ids)
    raise ValueError(f"unknown landmark provider {provider!r}; choose from auto, {', '.join(PROVIDERS)}")


def with_landmarks(faces: FaceSet, provider: str = "auto", path=None, refine: bool = True) -> FaceSet:
    """A copy of ``faces`` carrying landmarks from :func:`landmarks_for`."""
    out = faces.subset(np.arange(len(faces)))
    out.landmarks = landmarks_for(faces, provider, path, refine)
    return out


def load_landmark_file(path: str | Path, ids) -> np.ndarray:
    """Read user-supplied landmarks keyed by image id, aligned to ``ids``.

    Formats: CSV with a column ``id`` then ``x0,y0,...,x67,y67`` (136 numbers), or NPZ with arrays ``ids``
    (N,) and ``landmarks`` (N, 68, 2). Errors name the file and the line or field; every id in ``ids`` must
    be present.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: landmark file not found")
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "ids" not in data.files or "landmarks" not in data.files:
                raise DataError(f"{path}: needs arrays 'ids' and 'landmarks' (found {', '.join(data.files)})")
            file_ids, values = data["ids"].astype(str), data["landmarks"].astype(np.float32)
        if values.shape != (len(file_ids), 68, 2):
            raise DataError(f"{path}: landmarks must be ({len(file_ids)}, 68, 2), got {values.shape}")
    else:
        file_ids, rows = [], []
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or header[0].strip() != "id" or len(header) != 137:
                raise DataError(f"{path}: header must be 'id,x0,y0,...,x67,y67' (137 columns)")
            for row in reader:
                if not row:
                    continue
                if len(row) != 137:
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} columns, expected 137")
                try:
                    rows.append([float(v) for v in row[1:]])
                except ValueError:
                    raise DataError(f"{path}, line {reader.line_num}: non-numeric coordinate") from None
                file_ids.append(row[0].strip())
        file_ids, values = np.array(file_ids), np.array(rows, dtype=np.float32).reshape(-1, 68, 2)
    if not np.isfinite(values).all():
        raise DataError(f"{path}: landmarks contain NaN or infinite values")
    lookup = {k: i for i, k in enumerate(file_ids)}
    if len(lookup) != len(file_ids):
        raise DataError(f"{path}: an id occurs more than once")
    ids = np.asarray(ids).astype(str)
    missing = [k for k in ids if k not in lookup]
    if missing:
        raise DataError(f"{path}: no landmarks for {len(missing)} of {len(ids)} faces (first: {missing[0]!r})")
    return values[[lookup[k] for k in ids]]


def save_landmark_file(path: str | Path, ids, landmarks: np.ndarray) -> None:
    """Write landmarks in the CSV format :func:`load_landmark_file` reads."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id"] + [f"{c}{i}" for i in range(68) for c in "xy"])
        for k, lm in zip(np.asarray(ids).astype(str), np.asarray(landmarks).reshape(len(ids), -1)):
            w.writerow([k] + [f"{v:.3f}" for v in lm])


# --------------------------------------------------------------------------------------- template fitting
def _similarity(points: np.ndarray, scale: float, angle: float, shift, center=(23.5, 23.5)) -> np.ndarray:
    c = np.asarray(center, dtype=np.float64)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return ((points - c) @ rot.T) * scale + c + np.asarray(shift)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(math.ceil(2.5 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma**2))
    k = (k / k.sum()).to(x)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def _fit_to_mean_image(mean_img: np.ndarray) -> np.ndarray:
    """Place the template on a mean face image: find the eyes (two dark blobs) and the mouth (dark band)."""
    m = _blur(torch.as_tensor(mean_img, dtype=torch.float32)[None, None], 1.5)[0, 0].numpy()
    upper = m[10:28]
    left, right = upper[:, 6:22], upper[:, 26:42]
    ly, lx = np.unravel_index(left.argmin(), left.shape)
    ry, rx = np.unravel_index(right.argmin(), right.shape)
    eye_r = np.array([lx + 6, ly + 10], dtype=np.float64)  # image left = subject's right eye
    eye_l = np.array([rx + 26, ry + 10], dtype=np.float64)
    tmpl_r, tmpl_l = TEMPLATE[36:42].mean(0), TEMPLATE[42:48].mean(0)
    dist = np.linalg.norm(eye_l - eye_r)
    if not (12 <= dist <= 26):  # no face-like structure: keep the template where FER2013 puts faces
        return TEMPLATE.copy()
    scale = dist / np.linalg.norm(tmpl_l - tmpl_r)
    angle = math.atan2(*(eye_l - eye_r)[::-1]) - math.atan2(*(tmpl_l - tmpl_r)[::-1])
    c_t, c_i = (tmpl_r + tmpl_l) / 2, (eye_r + eye_l) / 2
    return _similarity(TEMPLATE - c_t + 23.5, scale, angle, c_i - 23.5).astype(np.float32)


# the inner face: hair, background and the face's outline vary more between people than its features do
_INNER = slice(10, 40)


def fit_template(images: np.ndarray, refine: bool = True, batch: int = 4096, shifts: int = 3,
                 scales=(0.92, 0.96, 1.0, 1.04, 1.08), angles_deg=(-10, -5, 0, 5, 10)) -> np.ndarray:
    """Fit the mean-face template to registered 48x48 crops.

    The template is first placed on the dataset's mean image (eyes found as its two dark blobs). With
    ``refine`` each image then gets its own similarity transform: the shift (then, around it, the scale and
    roll angle) under which the warped mean image correlates best with the image.

    Args:
        images: (N, 48, 48) uint8 faces.
        refine: refine per image (else every face gets the dataset-level fit).
        batch: images per batch of the search.
        shifts: shifts searched are -shifts..shifts pixels in x and y.
        scales, angles_deg: scale factors and roll angles searched around each image's best shift.

    Returns:
        (N, 68, 2) float32 landmarks.
    """
    images = np.asarray(images)
    mean_img = images.astype(np.float32).mean(0)
    base = _fit_to_mean_image(mean_img)
    if not refine:
        return np.repeat(base[None], len(images), 0)
    shift_list = [(dx, dy) for dy in range(-shifts, shifts + 1) for dx in range(-shifts, shifts + 1)]
    pose_list = [(s, math.radians(a)) for s in scales for a in angles_deg]
    mean_t = _blur(torch.as_tensor(mean_img)[None, None], 1.0)
    # templates[i, j]: the mean image under shift i and pose j, centre crop, normalised
    params = [(s, a, sh) for sh in shift_list for s, a in pose_list]
    templates = _normalise(_warp_many(mean_t, params)[:, _INNER, _INNER]).reshape(len(shift_list), len(pose_list), -1)
    plain = pose_list.index((1.0, 0.0)) if (1.0, 0.0) in pose_list else 0
    out = np.empty((len(images), 68, 2), dtype=np.float32)
    for start in range(0, len(images), batch):
        x = _blur(torch.as_tensor(images[start:start + batch], dtype=torch.float32)[:, None], 1.0)
        x = _normalise(x[:, 0, _INNER, _INNER]).flatten(1)
        best_shift = (x @ templates[:, plain].T).argmax(1)
        best_pose = torch.einsum("np,nkp->nk", x, templates[best_shift]).argmax(1)
        for i, (si, pj) in enumerate(zip(best_shift.tolist(), best_pose.tolist())):
            s, a = pose_list[pj]
            out[start + i] = _similarity(base, s, a, shift_list[si])
    return out


def _warp_many(img: torch.Tensor, params) -> torch.Tensor:
    """Warp a (1, 1, H, W) image by many similarity transforms (scale, angle, shift): (len(params), H, W).

    Each transform maps template points q to face points p = s R (q - c) + c + t; output pixel p samples the
    input at q = R^-1 (p - c - t) / s + c, written here in affine_grid's normalised coordinates.
    """
    h = img.shape[-1]
    c = (h - 1) / 2
    thetas = []
    for scale, angle, shift in params:
        inv = torch.tensor([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]]) / scale
        t = torch.tensor(shift, dtype=torch.float32) / c
        thetas.append(torch.cat([inv, (-inv @ t)[:, None]], 1))
    theta = torch.stack(thetas).float()
    grid = F.affine_grid(theta, [len(params), 1, h, h], align_corners=True)
    return F.grid_sample(img.expand(len(params), -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                         align_corners=True)[:, 0]


def _normalise(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    return x / x.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-6)
