"""Where landmarks come from: the offline providers, by name.

* ``ground_truth`` - the landmarks a :class:`~perturb_lib.data.FaceSet` already carries (synthetic faces);
* ``template`` - a mean-face template fitted to the crops (:mod:`perturb_lib.landmarks.template`);
* ``file`` - landmarks a user computed with their own detector, in a CSV or NPZ keyed by image id.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..data.faces import DataError, FaceSet
from .template import fit_template

PROVIDERS = ("ground_truth", "template", "file")


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


