"""Loaders for FER2013 in the formats users have: the Kaggle CSV, image folders, FER+ vote files, `.npz`.

Every loader returns a :class:`~perturb_lib.data.faces.FaceSet`. Bad input raises :class:`DataError` with the
file and the line (CSV) or the image path (folders). Parsed data is cached as `.npz` (written atomically) so a
second load of the 287 MB CSV takes a fraction of a second.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np

from ..io import code_fingerprint
from .faces import EMOTION_FOLDERS, EMOTIONS, IMAGE_SIZE, SPLITS, DataError, FaceSet, cached_faces

PIXELS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# FER+ vote columns, in file order, and the FER2013 id each maps to (None: no FER2013 class).
FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                 "unknown", "NF")
FERPLUS_TO_FER = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1,
                  "fear": 2, "contempt": None}
_CACHE_VERSION = 1
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# --------------------------------------------------------------------------------------------- Kaggle CSV
def load_fer2013_csv(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> FaceSet:
    """Load the Kaggle ``fer2013.csv`` (columns ``emotion``, ``pixels``, ``Usage``).

    Args:
        path: the CSV file.
        cache_dir: folder for the parsed `.npz` cache; ``None`` disables caching.

    Returns:
        A FaceSet whose ids are ``fer0000000``... (the row number, as FER+ names the rows).
    """
    path = Path(path)
    return _cached("csv", path, {}, cache_dir, lambda: _parse_fer2013_csv(path))


def _parse_fer2013_csv(path: Path) -> FaceSet:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file (expected a header 'emotion,pixels,Usage')")
        columns = [h.strip() for h in header]
        missing = [c for c in ("emotion", "pixels", "Usage") if c not in columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header is {','.join(columns)})")
        ie, ip, iu = (columns.index(c) for c in ("emotion", "pixels", "Usage"))
        emotions, pixels, usages, lines = [], [], [], []
        for row in reader:
            if not row:
                continue
            if len(row) <= max(ie, ip, iu):
                raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, expected {len(columns)}")
            emotions.append(row[ie].strip())
            pixels.append(row[ip])
            usages.append(row[iu].strip())
            lines.append(reader.line_num)
    if not lines:
        raise DataError(f"{path}: no data rows after the header")
    lines = np.asarray(lines)
    labels = _parse_labels(emotions, path, lines)
    splits = _parse_usages(usages, path, lines)
    images = parse_pixel_rows(pixels, path, lines)
    ids = np.array([f"fer{i:07d}" for i in range(len(lines))])
    return FaceSet(images, labels, splits, ids, name="fer2013", source=str(path))


def _parse_labels(values: list[str], path: Path, lines: np.ndarray) -> np.ndarray:
    labels = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        try:
            labels[i] = int(v)
        except ValueError:
            raise DataError(f"{path}, line {lines[i]}: emotion {v!r} is not an integer 0-6") from None
    bad = np.flatnonzero((labels < 0) | (labels >= len(EMOTIONS)))
    if len(bad):
        raise DataError(f"{path}, line {lines[bad[0]]}: emotion {labels[bad[0]]} out of range 0-6")
    return labels


def _parse_usages(values: list[str], path: Path, lines: np.ndarray) -> np.ndarray:
    lookup = {s: i for i, s in enumerate(SPLITS)}
    out = np.empty(len(values), dtype=np.int8)
    for i, v in enumerate(values):
        if v not in lookup:
            raise DataError(f"{path}, line {lines[i]}: unknown Usage {v!r} (expected one of {', '.join(SPLITS)})")
        out[i] = lookup[v]
    return out


def parse_pixel_rows(rows: list[str], path: Path, lines: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Parse space-separated pixel strings into (N, 48, 48) uint8, with errors naming the line.

    Each row is checked with C-speed byte operations (only digits and spaces, 2,304 values), then a chunk of
    rows is parsed at once by numpy; a per-row ``str.split`` would build 80 million strings for FER2013.
    """
    out = np.empty((len(rows), PIXELS), dtype=np.uint8)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        out[start:start + len(part)] = _parse_chunk(part, path, lines[start:start + len(part)])
    return out.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _parse_chunk(rows: list[str], path: Path, lines: np.ndarray) -> np.ndarray:
    encoded = [r.strip().encode("ascii", errors="replace") for r in rows]
    for i, b in enumerate(encoded):
        if b.translate(None, b"0123456789 \t"):
            token = next(t for t in rows[i].split() if not re.fullmatch(r"[0-9]+", t))
            raise DataError(f"{path}, line {lines[i]}: non-numeric pixel {token!r}")
        if b.count(b" ") != PIXELS - 1:  # irregular spacing is fine, a wrong count is not
            count = len(b.split())
            if count != PIXELS:
                raise DataError(f"{path}, line {lines[i]}: {count} pixel values, expected {PIXELS} (48x48)")
    values = np.fromstring(b" ".join(encoded), dtype=np.int64, sep=" ")
    too_big = np.flatnonzero(values > 255)
    if len(too_big):
        r = int(too_big[0] // PIXELS)
        raise DataError(f"{path}, line {lines[r]}: pixel value {values[too_big[0]]} outside 0-255")
    return values.astype(np.uint8).reshape(len(rows), PIXELS)


# ---------------------------------------------------------------------------------------- image folders
def load_fer2013_folders(root: str | os.PathLike, duplicate_ids: str = "rename",
                         cache_dir: str | os.PathLike | None = None) -> FaceSet:
    """Load the image-folder variant: ``train/<emotion>/Training_<id>.jpg``, ``test/<emotion>/<Usage>_<id>.jpg``.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        duplicate_ids: what to do when one ``<Usage>_<id>`` stands in two emotion folders (the public Kaggle
            copy has two such pairs): ``"rename"`` keeps both as ``<id>~<emotion>`` and warns, ``"drop"``
            removes both and warns, ``"error"`` raises :class:`DataError` naming both paths.
        cache_dir: folder for the parsed `.npz` cache; ``None`` disables caching.

    Returns:
        A FaceSet with ids ``<Usage>_<id>`` as in the file names; labels follow the folder names
        (``angry`` = 0 ... ``neutral`` = 6, the CSV's ids, not alphabetical order).
    """
    if duplicate_ids not in ("rename", "drop", "error"):
        raise ValueError(f"duplicate_ids must be 'rename', 'drop' or 'error', got {duplicate_ids!r}")
    root = Path(root)
    files = list_image_folder(root)
    listing = hashlib.sha256("\n".join(f"{p}:{p.stat().st_mtime_ns}" for p, *_ in files).encode()).hexdigest()
    return _cached("folders", root, {"duplicate_ids": duplicate_ids, "listing": listing}, cache_dir,
                   lambda: _read_image_folder(root, files, duplicate_ids))


def list_image_folder(root: Path, suffix: str = "") -> list[tuple[Path, str, int, int]]:
    """All face images under ``root`` as (path, id, label, split), checked for layout errors.

    Args:
        root: folder with ``train/`` and ``test/`` subfolders of emotion folders.
        suffix: a name ending to strip from the id (MaskFer files end in ``_N95``).
    """
    if not root.is_dir():
        raise DataError(f"{root}: folder not found (expected train/<emotion>/ and test/<emotion>/ inside)")
    subdirs = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    if "train" not in subdirs and "test" not in subdirs:
        raise DataError(f"{root}: no train/ or test/ folder inside (found: {', '.join(sorted(subdirs)) or 'nothing'})")
    out = []
    for part in ("train", "test"):
        if part not in subdirs:
            continue
        for emo_dir in sorted(d for d in subdirs[part].iterdir() if d.is_dir()):
            name = emo_dir.name.lower()
            if name not in EMOTION_FOLDERS:
                raise DataError(f"{emo_dir}: unknown emotion folder {emo_dir.name!r} "
                                f"(expected one of {', '.join(EMOTION_FOLDERS)})")
            label = EMOTION_FOLDERS.index(name)
            for p in sorted(emo_dir.iterdir()):
                if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
                    continue
                stem = p.stem[:-len(suffix)] if suffix and p.stem.endswith(suffix) else p.stem
                usage = stem.split("_", 1)[0]
                if usage not in SPLITS:
                    if part == "test":
                        raise DataError(f"{p}: test images must be named PublicTest_<id> or PrivateTest_<id>")
                    usage, stem = "Training", f"Training_{stem}"
                out.append((p, stem, label, SPLITS.index(usage)))
    if not out:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) under train/<emotion>/ or test/<emotion>/")
    return out


def read_gray48(path: Path) -> np.ndarray:
    """One image file as (48, 48) uint8; errors name the file."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise DataError(f"{path}: image is {im.size[0]}x{im.size[1]}, expected 48x48")
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from exc


def _read_image_folder(root: Path, files, duplicate_ids: str) -> FaceSet:
    paths = [f[0] for f in files]
    ids = np.array([f[1] for f in files], dtype=object)  # object: renamed ids may be longer
    labels = np.array([f[2] for f in files])
    splits = np.array([f[3] for f in files])
    keep = np.ones(len(files), dtype=bool)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    for u in np.flatnonzero(counts > 1):
        rows = np.flatnonzero(inverse == u)
        where = " and ".join(str(paths[r].relative_to(root)) for r in rows)
        same_folder = len({paths[r].parent for r in rows}) < len(rows)
        if duplicate_ids == "error" or same_folder:
            raise DataError(f"{root}: duplicate id {str(uniq[u])!r} in {where}")
        if duplicate_ids == "rename":
            for r in rows:
                ids[r] = f"{ids[r]}~{EMOTION_FOLDERS[labels[r]]}"
        else:
            keep[rows] = False
        warnings.warn(f"{root}: id {str(uniq[u])!r} stands in {where}; "
                      f"{'kept both with ~<emotion> ids' if duplicate_ids == 'rename' else 'dropped both'}",
                      stacklevel=3)
    images = np.stack([read_gray48(p) for p, k in zip(paths, keep) if k]) if keep.any() else None
    return FaceSet(images, labels[keep], splits[keep], ids[keep].astype(str), name="fer2013", source=str(root))


# ------------------------------------------------------------------------------------------------- FER+
def load_ferplus(votes_path: str | os.PathLike, base: FaceSet, drop_nonfaces: bool = True,
                 drop_ties: bool = True) -> FaceSet:
    """Relabel FER2013 by the FER+ majority vote (``fer2013new.csv``).

    Args:
        votes_path: the FER+ vote file (Usage, Image name, 10 vote columns), in fer2013.csv row order.
        base: FER2013 loaded from the CSV (same row order, ids ``fer0000000``...).
        drop_nonfaces: drop rows FER+ marks as not a face (empty image name, or ``NF`` wins the vote).
        drop_ties: drop rows whose top vote is shared by two emotions (else the first column wins).

    Returns:
        The faces that keep a FER2013 label; rows whose majority is ``contempt`` or ``unknown`` are dropped.
    """
    votes_path = Path(votes_path)
    if not votes_path.is_file():
        raise DataError(f"{votes_path}: file not found")
    with open(votes_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{votes_path}: empty file")
        header = [h.strip() for h in header]
        missing = [c for c in ("Usage", "Image name", *FERPLUS_VOTES) if c not in header]
        if missing:
            raise DataError(f"{votes_path}: missing column(s) {', '.join(missing)}")
        cols = [header.index(c) for c in FERPLUS_VOTES]
        iu, iname = header.index("Usage"), header.index("Image name")
        votes, names, usages = [], [], []
        for row in reader:
            if not row:
                continue
            try:
                votes.append([int(row[c]) for c in cols])
            except (ValueError, IndexError):
                raise DataError(f"{votes_path}, line {reader.line_num}: vote counts must be integers") from None
            names.append(row[iname].strip())
            usages.append(row[iu].strip())
    if len(votes) != len(base):
        raise DataError(f"{votes_path}: {len(votes)} rows but the FER2013 CSV has {len(base)}; "
                        "FER+ needs the complete fer2013.csv in its original row order")
    splits = _parse_usages(usages, votes_path, np.arange(2, len(usages) + 2))
    if not np.array_equal(splits, base.splits):
        r = int(np.flatnonzero(splits != base.splits)[0])
        raise DataError(f"{votes_path}, line {r + 2}: Usage {usages[r]!r} differs from fer2013.csv's")
    votes = np.asarray(votes)
    top = votes[:, :8].argmax(1)
    top_count = votes[:, :8].max(1)
    tie = (votes[:, :8] == top_count[:, None]).sum(1) > 1
    nonface = (np.array(names) == "") | (votes[:, 9] >= top_count)
    mapped = np.array([-1 if FERPLUS_TO_FER[FERPLUS_VOTES[t]] is None else FERPLUS_TO_FER[FERPLUS_VOTES[t]]
                       for t in top])
    keep = (mapped >= 0) & (votes[:, 8] < top_count)
    if drop_nonfaces:
        keep &= ~nonface
    if drop_ties:
        keep &= ~tie
    out = base.subset(keep)
    out.labels = mapped[keep]
    out.name, out.source = "ferplus", f"{votes_path} + {base.source}"
    return out


# ---------------------------------------------------------------------------------------------- any path
def load_fer2013(path: str | os.PathLike, cache_dir: str | os.PathLike | None = None, **options) -> FaceSet:
    """Load FER2013 from a CSV file, an image-folder root, or an `.npz` written by :meth:`FaceSet.save_npz`.

    Args:
        path: ``fer2013.csv``, a folder with ``train/`` and ``test/``, a folder holding ``fer2013.csv``, or `.npz`.
        cache_dir: folder for parsed caches (``None``: no cache).
        **options: passed to the folder loader (``duplicate_ids``).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (give fer2013.csv, an image-folder root or an .npz)")
    if path.is_dir() and (path / "fer2013.csv").is_file() and not (path / "train").is_dir():
        path = path / "fer2013.csv"
    if path.suffix.lower() == ".npz":
        return FaceSet.load_npz(path)
    if path.suffix.lower() == ".csv":
        return load_fer2013_csv(path, cache_dir=cache_dir)
    if path.is_dir():
        return load_fer2013_folders(path, cache_dir=cache_dir, **options)
    raise DataError(f"{path}: not a .csv, .npz or image folder")


def _cached(kind: str, path: Path, options: dict, cache_dir, build) -> FaceSet:
    if cache_dir is None:
        return build()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file or folder") from None
    parser = {"csv": _parse_fer2013_csv, "folders": _read_image_folder}[kind]  # the code that parses is in the key
    key = json.dumps({"v": _CACHE_VERSION, "kind": kind, "path": str(path.resolve()), "size": st.st_size,
                      "mtime": st.st_mtime_ns, "code": code_fingerprint(parser, FaceSet), **options}, sort_keys=True)
    return cached_faces(Path(cache_dir) / f"{kind}-{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz",
                        build)
