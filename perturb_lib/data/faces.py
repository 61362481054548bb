"""The one in-memory representation of a face dataset used everywhere in the study.

A :class:`FaceSet` holds 48x48 uint8 grayscale faces, FER2013 label ids, the split of each face, a stable
per-image id and, where known, 68-point landmarks and other per-image ground truth (synthetic faces carry
region maps and action-unit intensities). Loaders (:mod:`perturb_lib.fer2013`, :mod:`perturb_lib.synthetic`)
produce it; training, perturbation and saliency code consume it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..images import IMAGE_SIZE
from ..io import save_npz
from ..params import EMOTION_NAMES

EMOTIONS = EMOTION_NAMES  # FER2013 ids 0..6: Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral
EMOTION_FOLDERS = tuple(e.lower() for e in EMOTIONS)  # image-folder names; NOT alphabetical order
SPLITS = ("Training", "PublicTest", "PrivateTest")
NUM_CLASSES = len(EMOTIONS)
# FER2013's Training counts per class; synthetic data copies these proportions.
FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
FER2013_SPLIT_SIZES = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}


class DataError(ValueError):
    """Bad input data. The message names the file and the row, image path or field at fault."""


@dataclass
class FaceSet:
    """Faces with labels, splits, ids and optional per-image ground truth.

    Args:
        images: (N, 48, 48) uint8 grayscale faces.
        labels: (N,) int64 FER2013 label ids (0 Angry ... 6 Neutral).
        splits: (N,) int8 index into :data:`SPLITS`.
        ids: (N,) str, stable per-image ids (e.g. ``Training_10120469`` or ``row00042``).
        landmarks: optional (N, 68, 2) float32 (x, y) pixel coordinates, iBUG 68-point order.
        extras: optional per-image arrays whose first axis is N (e.g. ``regions``, ``aus``).
        name: short dataset name, used in run records.
        source: where the data came from (path or generator description).
        selection: which of the dataset's faces these are, named in run records: ``all``, or the faces a landmark
            detector finds (``dlib``: MaskTheFace's rule, the published MaskFer's faces).
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    landmarks: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "faces"
    source: str = ""
    selection: str = "all"

    def __post_init__(self):
        self.images = np.ascontiguousarray(self.images, dtype=np.uint8)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.splits = np.asarray(self.splits, dtype=np.int8)
        self.ids = np.asarray(self.ids).astype(str)
        n = len(self.images)
        if self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(f"{self.name}: images must be (N, 48, 48), got {self.images.shape}")
        for what, arr in (("labels", self.labels), ("splits", self.splits), ("ids", self.ids)):
            if arr.shape != (n,):
                raise DataError(f"{self.name}: {what} must have shape ({n},), got {arr.shape}")
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
            if self.landmarks.shape != (n, 68, 2):
                raise DataError(f"{self.name}: landmarks must be ({n}, 68, 2), got {self.landmarks.shape}")
        for key, arr in self.extras.items():
            if len(arr) != n:
                raise DataError(f"{self.name}: extras[{key!r}] has {len(arr)} rows, expected {n}")
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise DataError(f"{self.name}: labels must lie in 0..{NUM_CLASSES - 1}")
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        per_split = ", ".join(f"{s} {int((self.splits == i).sum())}" for i, s in enumerate(SPLITS))
        marks = " +landmarks" if self.landmarks is not None else ""
        return f"FaceSet({self.name!r}: {len(self)} faces; {per_split}{marks})"

    def subset(self, index, selection: str | None = None) -> "FaceSet":
        """The faces selected by a boolean mask or an index array, with all their ground truth; ``selection`` names
        the face set in run records (default: this set's)."""
        index = np.asarray(index)
        return FaceSet(
            images=self.images[index], labels=self.labels[index], splits=self.splits[index],
            ids=self.ids[index], landmarks=None if self.landmarks is None else self.landmarks[index],
            extras={k: v[index] for k, v in self.extras.items()}, name=self.name, source=self.source,
            selection=selection or self.selection,
        )

    def split(self, name: str) -> "FaceSet":
        """The faces of one split (``Training``, ``PublicTest`` or ``PrivateTest``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return self.subset(self.splits == SPLITS.index(name))

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Counts per split and emotion: ``{split: {emotion: n}}``."""
        return {
            s: {e: int(((self.splits == i) & (self.labels == c)).sum()) for c, e in enumerate(EMOTIONS)}
            for i, s in enumerate(SPLITS)
        }

    def fingerprint(self) -> str:
        """A short content hash (images, labels, splits, ids) that names this data in run configs."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for arr in (self.images, self.labels, self.splits):
                h.update(np.ascontiguousarray(arr).tobytes())
            h.update("\n".join(self.ids.tolist()).encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write the set to ``path`` atomically (a killed write never leaves a truncated file)."""
        arrays = {"images": self.images, "labels": self.labels, "splits": self.splits, "ids": self.ids,
                  "name": np.array(self.name), "source": np.array(self.source)}
        if self.landmarks is not None:
            arrays["landmarks"] = self.landmarks
        arrays.update({f"extra__{k}": v for k, v in self.extras.items()})
        return save_npz(path, arrays)

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> "FaceSet":
        """Read a set written by :meth:`save_npz`, or an array file of FER2013 in the original row order (arrays
        ``images``, ``labels`` and ``usage``, 0 Training / 1 PublicTest / 2 PrivateTest, as
        ``shared/data/fer2013/export.py --npz`` writes it; its faces get the CSV loader's ids, ``fer<row>``).
        Errors name the file and the missing field."""
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # zip errors, truncated files ...
            raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
        with data:
            split_key = "splits" if "splits" in data.files else "usage"
            missing = [k for k in ("images", "labels", split_key) if k not in data.files]
            if missing:
                raise DataError(f"{path}: missing field(s) {', '.join(missing)} (expected images, labels and "
                                "splits or usage)")
            n = len(data["images"])
            ids = data["ids"].astype(str) if "ids" in data.files else np.array([f"fer{i:07d}" for i in range(n)])
            check_unique_ids(ids, str(path))
            return cls(
                images=data["images"], labels=data["labels"], splits=data[split_key], ids=ids,
                landmarks=data["landmarks"] if "landmarks" in data.files else None,
                extras={k[len("extra__"):]: data[k] for k in data.files if k.startswith("extra__")},
                name=str(data["name"]) if "name" in data.files else "fer2013",
                source=str(data["source"]) if "source" in data.files else str(path),
            )


def cached_faces(cache: Path | None, build) -> FaceSet:
    """The FaceSet stored at ``cache``, or ``build()`` saved there (``None``: no cache). A damaged cache file
    is rebuilt, never trusted."""
    if cache is None:
        return build()
    if cache.is_file():
        try:
            return FaceSet.load_npz(cache)
        except DataError:
            cache.unlink(missing_ok=True)
    faces = build()
    faces.save_npz(cache)
    return faces


def check_unique_ids(ids: np.ndarray, where: str) -> None:
    """Raise :class:`DataError` naming the first repeated id and its two positions."""
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = str(uniq[counts > 1][0])
        rows = np.flatnonzero(ids == dup)[:2]
        raise DataError(f"{where}: duplicate id {dup!r} at rows {rows[0]} and {rows[1]} "
                        f"({int((counts > 1).sum())} ids repeated)")


def pick_per_emotion(labels: np.ndarray, per_emotion: int, seed: int = 0) -> np.ndarray:
    """Up to ``per_emotion`` indices of faces of each emotion, in emotion order, reproducibly.

    Args:
        labels: (N,) label ids.
        per_emotion: faces wanted per emotion (fewer where an emotion has fewer).
        seed: seed of the choice.

    Returns:
        (M,) int64 indices into ``labels``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(np.asarray(labels) == c)
        out += list(rng.choice(idx, size=min(per_emotion, len(idx)), replace=False)) if len(idx) else []
    return np.asarray(out, dtype=np.int64)
