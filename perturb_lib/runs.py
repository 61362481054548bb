"""Run records: every result of the study lives in a folder under ``runs/<study>/`` and is read back from there.

* Training runs (``records/<name>-<hash>/``): config, metrics, per-epoch history, checkpoints, environment.
  A run is named by a hash of its config, so asking again for a finished run loads it instead of retraining,
  and an interrupted run resumes from its last checkpoint. Writes are atomic.
* Notebook results (``notebooks/<notebook>.json``): the key numbers each executed notebook reports, next to
  the executed notebook, for the figures notebook and the tests.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .paths import resolve


# ------------------------------------------------------------------------------------------ atomic I/O
def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays, tuples, paths and NaN made JSON-safe (NaN becomes None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(float(obj)) or math.isinf(float(obj)) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write JSON (sorted keys, NaN as null)."""
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------------- notebook results
def notebook_results_path(study_dir: str | os.PathLike, notebook: str) -> Path:
    return resolve(study_dir) / "notebooks" / f"{notebook}.json"


def save_notebook_results(study_dir: str | os.PathLike, notebook: str, results: dict) -> Path:
    """Record a notebook's key numbers as JSON next to its executed copy (``<study>/notebooks/``)."""
    return write_json(notebook_results_path(study_dir, notebook), results)


def load_notebook_results(study_dir: str | os.PathLike, notebook: str) -> dict | None:
    """The results a notebook recorded, or ``None`` when it has not run in this study."""
    path = notebook_results_path(study_dir, notebook)
    return read_json(path) if path.is_file() else None
