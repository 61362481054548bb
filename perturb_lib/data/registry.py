"""``load_dataset``: every dataset of the study by name, so notebooks only say which one they want."""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from .. import geometry as _geometry
from ..landmarks import layout as _layout
from ..landmarks import regions as _regions
from ..params import CACHE_DIR
from ..paths import resolve
from . import synthetic as _synthetic
from .faces import DataError, FaceSet, cached_faces
from .fer2013 import load_fer2013, load_fer2013_csv, load_ferplus

DATASETS = ("synthetic", "fer2013", "ferplus")


def load_dataset(dataset: str = "synthetic", data_path: str | None = None, size: float = 0.1, seed: int = 0,
                 cache_dir: str | Path | None = CACHE_DIR) -> FaceSet:
    """Load a dataset of the study.

    Args:
        dataset: ``synthetic`` (generated, the default), ``fer2013`` (Kaggle CSV, image folders or `.npz` at
            ``data_path``) or ``ferplus`` (FER2013 relabelled by FER+ majority votes: ``data_path`` is a folder
            with ``fer2013.csv`` and ``fer2013new.csv``, or the vote file with ``fer2013.csv`` beside it).
        data_path: where the real data is; relative paths start at the project root.
        size: synthetic only: fraction of FER2013's size.
        seed: synthetic only: generator seed.
        cache_dir: where a parsed `.npz` is kept for fast reloads (relative paths start at the project root;
            ``None``: no cache).

    Returns:
        The FaceSet.
    """
    cdir = resolve(cache_dir) if cache_dir is not None else None
    if dataset == "synthetic":
        # the generator's own source is part of the key: a changed generator never reuses old faces
        code = hashlib.sha256(b"".join(inspect.getsource(m).encode() for m in (_synthetic, _layout, _regions, _geometry)))
        path = None if cdir is None else Path(cdir) / f"synthetic-{size:g}-{seed}-{code.hexdigest()[:10]}.npz"
        return cached_faces(path, lambda: _synthetic.make_synthetic_faces(size=size, seed=seed))
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if not data_path:
        raise ValueError(f"dataset={dataset!r} needs data_path (a file or folder with the data)")
    path = resolve(data_path)
    if dataset == "fer2013":
        return load_fer2013(path, cache_dir=cdir)
    votes = path / "fer2013new.csv" if path.is_dir() else path
    pixels = votes.parent / "fer2013.csv"
    for p in (votes, pixels):
        if not p.is_file():
            raise DataError(f"{p}: not found (ferplus needs fer2013new.csv and fer2013.csv in one folder)")
    return load_ferplus(votes, load_fer2013_csv(pixels, cache_dir=cdir))
