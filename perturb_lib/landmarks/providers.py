"""Where landmarks come from: the providers, by name, all offline.

* ``ground_truth`` - the landmarks a :class:`~perturb_lib.data.FaceSet` already carries (synthetic faces);
* ``dlib`` - dlib's 68 points as MaskTheFace computed them (:mod:`perturb_lib.landmarks.detectors`);
* ``mediapipe`` - MediaPipe's 468-point face mesh;
* ``template`` - a mean-face template fitted to the crops (:mod:`perturb_lib.landmarks.template`), about 4 px off
  on real 48-px faces: the fallback when no detector is installed;
* ``file`` - landmarks a user computed with their own detector, in a CSV or NPZ keyed by image id.

Detected landmarks and the template's are computed once per dataset and provider and cached atomically
(``<cache_dir>/landmarks-<provider>-<version>-<code>-<data fingerprint>.npz``), with whether each face was found;
the key holds the provider's code, so a changed detector or template never reuses old points.
"""
from __future__ import annotations

import csv
import time
import warnings
from pathlib import Path

import numpy as np

from ..data.faces import DataError, FaceSet
from ..io import atomic_path, code_fingerprint, save_npz
from ..params import CACHE_DIR
from ..paths import resolve
from . import detectors, template
from .template import fit_template

PROVIDERS = ("ground_truth", "template", "file", "dlib", "mediapipe")
INSTALL = "pip install -e '.[landmarks]'"
# Bump a provider's version when its output changes, so its caches are recomputed.
_VERSIONS = {"dlib": "maskthefacejpeg95-1", "mediapipe": "x4-border25-1", "template": "refined-1"}
_warned: set[str] = set()


def choose(faces: FaceSet, provider: str = "auto", path: str | Path | None = None) -> str:
    """The provider ``auto`` stands for: the faces' ground truth, else the file when a path is given, else dlib
    when it is installed, else the template (with a warning, once, that says what is lost and how to install it).
    Other names are checked and returned."""
    if provider != "auto":
        if provider not in PROVIDERS:
            raise ValueError(f"unknown landmark provider {provider!r}; choose from auto, {', '.join(PROVIDERS)}")
        if provider in ("dlib", "mediapipe") and not detectors.available(provider):
            raise ImportError(f"landmark provider {provider!r} is not installed: {INSTALL}")
        return provider
    if faces.landmarks is not None:
        return "ground_truth"
    if path:
        return "file"
    if detectors.available("dlib"):
        return "dlib"
    if "template" not in _warned:
        _warned.add("template")
        warnings.warn(f"{faces.name}: dlib is not installed, so landmarks (and the masks and feature removals drawn "
                      f"from them) come from a mean-face template, about 4 px off on a 48-px face; install the "
                      f"detector with: {INSTALL}", stacklevel=3)
    return "template"


def _provider_code(provider: str) -> str:
    """The code a computing provider runs: its function (looked up now, so a replaced one is another key) and
    its module."""
    if provider == "template":
        return code_fingerprint(fit_template, template, length=8)
    function = {"dlib": detectors.dlib_landmarks, "mediapipe": detectors.mediapipe_landmarks}[provider]
    return code_fingerprint(function, detectors, length=8)


def _computed(faces: FaceSet, provider: str, progress: bool = True,
              cache_dir: str | Path = CACHE_DIR) -> tuple[np.ndarray, np.ndarray, dict]:
    """Points, detection flags and timing of a computing provider, from the cache or computed and cached."""
    path = (resolve(cache_dir) / f"landmarks-{provider}-{_VERSIONS[provider]}-{_provider_code(provider)}-"
                                 f"{faces.fingerprint()}.npz")
    if path.is_file():
        with np.load(path) as z:
            return z["points"], z["detected"], {"ms_per_face": float(z["ms_per_face"])}
    t0 = time.perf_counter()

    def report(done: int, total: int) -> None:
        if progress:
            print(f"{provider} landmarks: {100 * done / total:.0f} % ({time.perf_counter() - t0:.0f} s)", flush=True)

    if progress:
        print(f"{provider} landmarks of {len(faces):,} {faces.name} faces (once; cached in {path.parent})", flush=True)
    if provider == "dlib":
        points, found = detectors.dlib_landmarks(faces.images, report)
    elif provider == "mediapipe":
        points, found = detectors.mediapipe_landmarks(faces.images, report)
    else:
        points, found = fit_template(faces.images), np.ones(len(faces), dtype=bool)
    ms = 1000 * (time.perf_counter() - t0) / max(len(faces), 1)
    save_npz(path, {"points": points.astype(np.float32), "detected": found, "ms_per_face": np.array(ms)})
    if progress:
        print(f"{provider} landmarks: done, {found.mean():.1%} of the faces found, {ms:.1f} ms per face", flush=True)
    return points.astype(np.float32), found, {"ms_per_face": ms}


def landmarks_for(faces: FaceSet, provider: str = "auto", path: str | Path | None = None,
                  cache_dir: str | Path = CACHE_DIR) -> np.ndarray:
    """Landmarks for every face of a set.

    Args:
        faces: the faces.
        provider: a name of :data:`PROVIDERS`, or ``auto`` (:func:`choose`).
        path: the landmark file for ``file`` (CSV or NPZ keyed by image id).
        cache_dir: where computed landmarks are cached.

    Returns:
        (N, K, 2) float32 landmarks in the order of ``faces``: K = 68 (dlib, template, the synthetic ground truth)
        or 468 (mediapipe; a file may hold either).
    """
    provider = choose(faces, provider, path)
    if provider == "ground_truth":
        if faces.landmarks is None:
            raise DataError(f"{faces.name}: no ground-truth landmarks; use landmark_source dlib, template or file")
        return faces.landmarks
    if provider == "file":
        if path is None:
            raise ValueError("provider='file' needs path= (a CSV or NPZ of landmarks keyed by image id)")
        return load_landmark_file(path, faces.ids)
    return _computed(faces, provider, cache_dir=cache_dir)[0]


def detected(faces: FaceSet, provider: str = "auto", path: str | Path | None = None,
             cache_dir: str | Path = CACHE_DIR) -> np.ndarray:
    """(N,) bool: whether the provider found each face (every face for ground truth, template and file).

    For ``dlib`` these are the faces MaskTheFace masked: on FER2013, exactly the published MaskFer.
    """
    provider = choose(faces, provider, path)
    if provider in ("dlib", "mediapipe"):
        return _computed(faces, provider, cache_dir=cache_dir)[1]
    return np.ones(len(faces), dtype=bool)


def timing(faces: FaceSet, provider: str, cache_dir: str | Path = CACHE_DIR) -> float:
    """Milliseconds per face the provider took on these faces when it computed them (0 for ground truth)."""
    if provider not in _VERSIONS:
        return 0.0
    return _computed(faces, provider, progress=False, cache_dir=cache_dir)[2]["ms_per_face"]


def load_landmark_file(path: str | Path, ids) -> np.ndarray:
    """Read user-supplied landmarks keyed by image id, aligned to ``ids``.

    Formats: CSV with a column ``id`` then ``x0,y0,...`` (68 or 468 points), or NPZ with arrays ``ids``
    (N,) and ``landmarks`` (N, K, 2). Errors name the file and the line or field; every id in ``ids`` must
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
        if values.ndim != 3 or values.shape[0] != len(file_ids) or values.shape[1:] not in ((68, 2), (468, 2)):
            raise DataError(f"{path}: landmarks must be ({len(file_ids)}, 68 or 468, 2), got {values.shape}")
    else:
        file_ids, rows = [], []
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or header[0].strip() != "id" or len(header) not in (137, 937):
                raise DataError(f"{path}: header must be 'id,x0,y0,...' for 68 or 468 points (137 or 937 columns)")
            width = len(header)
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} columns, expected {width}")
                try:
                    rows.append([float(v) for v in row[1:]])
                except ValueError:
                    raise DataError(f"{path}, line {reader.line_num}: non-numeric coordinate") from None
                file_ids.append(row[0].strip())
        file_ids, values = np.array(file_ids), np.array(rows, dtype=np.float32).reshape(-1, (width - 1) // 2, 2)
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
    """Write landmarks in the CSV format :func:`load_landmark_file` reads (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id"] + [f"{c}{i}" for i in range(np.asarray(landmarks).shape[1]) for c in "xy"])
        for k, lm in zip(np.asarray(ids).astype(str), np.asarray(landmarks).reshape(len(ids), -1)):
            w.writerow([k] + [f"{v:.3f}" for v in lm])


