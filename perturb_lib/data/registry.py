"""``load_dataset``: every dataset of the study by name, so notebooks only say which one they want."""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

from .. import geometry as _geometry
from ..io import read_json, write_json
from ..landmarks import layout as _layout
from ..landmarks import regions as _regions
from ..params import CACHE_DIR
from ..paths import resolve
from . import synthetic as _synthetic
from .faces import DataError, FaceSet, cached_faces
from .fer2013 import load_fer2013, load_fer2013_csv, load_ferplus

DATASETS = ("synthetic", "fer2013", "ferplus")


def _generator_key() -> str:
    """The synthetic generator's own source, hashed: part of every cache key of what it makes, so a changed
    generator never reuses old faces or old measurements of them."""
    code = hashlib.sha256(b"".join(inspect.getsource(m).encode() for m in (_synthetic, _layout, _regions, _geometry)))
    return code.hexdigest()[:10]


def defining_regions(size: float = 0.05, seed: int = 0, cache_dir: str | Path | None = CACHE_DIR
                     ) -> dict[str, tuple[str, ...]]:
    """:func:`perturb_lib.data.synthetic.defining_regions`, kept in ``cache_dir`` as JSON.

    Measuring them renders 1,795 faces twice (about 4 s), and notebooks 01, 02 and 04 each need them: the cache
    makes that once per generator version instead of once per notebook. A damaged cache file is remeasured.

    Args:
        size, seed: the faces measured (see the synthetic module).
        cache_dir: where the JSON is kept (``None``: measure every time).

    Returns:
        ``{emotion: regions, strongest first}``.
    """
    if cache_dir is None:
        return _synthetic.defining_regions(size, seed)
    path = resolve(cache_dir) / f"defining-regions-{size:g}-{seed}-{_generator_key()}.json"
    if path.is_file():
        try:
            return {emo: tuple(regions) for emo, regions in read_json(path).items()}
        except (ValueError, AttributeError, TypeError):
            path.unlink(missing_ok=True)
    out = _synthetic.defining_regions(size, seed)
    write_json(path, {emo: list(regions) for emo, regions in out.items()})
    return out


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
        path = None if cdir is None else Path(cdir) / f"synthetic-{size:g}-{seed}-{_generator_key()}.npz"
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
