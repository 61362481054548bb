"""Writing results safely: every file the study writes goes to a temporary name beside its target and is renamed
into place, so a killed process never leaves a half-written record, cache, checkpoint or figure behind.

The one place for atomic writes (text, bytes, JSON, ``.npz``, torch checkpoints, matplotlib figures) and for
the stable hash that names configs.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import os
import tempfile
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: the permissions of a file this package writes: what ``open()`` would give, not mkstemp's owner-only 0600
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block ends without an error.

    Args:
        path: the final file.

    Yields:
        The temporary path to write to (it keeps ``path``'s suffix, so writers that pick a format by suffix
        still work).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically.

    Args:
        path: the file.
        text: its contents.

    Returns:
        The path written.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays, tuples, paths and NaN made JSON-safe (NaN and infinities become None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write JSON (sorted keys, NaN as null); returns the path."""
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The parsed contents of a JSON file."""
    with open(path) as f:
        return json.load(f)


def named_runs(results: dict) -> set[str]:
    """The run records a saved results document (``results/<name>.json``) names: the values of its ``runs`` and
    ``phase1`` maps. One definition for what a study publishes and for what its minutes count."""
    return {name for key in ("runs", "phase1") if isinstance(results.get(key), dict)
            for name in results[key].values() if isinstance(name, str)}


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """``np.savez`` (or ``np.savez_compressed``) atomically; returns the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return Path(path)


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` atomically: a killed process never leaves a torn checkpoint."""
    import torch
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def stable_hash(obj: Any, length: int = 10) -> str:
    """A short hash of a JSON-able object that does not depend on dict key order.

    Args:
        obj: dicts, lists, numbers, strings (numpy values are converted).
        length: hex digits kept.

    Returns:
        The hash.
    """
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def array_fingerprint(a: np.ndarray, length: int = 16) -> str:
    """A short content hash of an array (as float32), e.g. the landmarks a run was trained with."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()[:length]


def code_fingerprint(*objects: Any, length: int = 12) -> str:
    """A short hash of the source code behind some functions, classes or modules (a package: every ``.py`` file
    under it), so that a cache keyed by it is invalidated when the code that made it changes.

    Functions and classes are looked up where they are used, at call time: a function replaced at run time (a
    monkeypatch, a new definition in a notebook) has other source and so another key.
    """
    h = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, types.ModuleType):
            files = sorted(Path(obj.__file__).parent.rglob("*.py")) if hasattr(obj, "__path__") else [Path(obj.__file__)]
            for f in files:
                h.update(_file_digest(str(f), f.stat().st_mtime_ns))
        else:
            target = inspect.unwrap(obj)
            try:
                h.update(inspect.getsource(target).encode())
            except (OSError, TypeError):  # built in, or defined where its source is gone: its qualified name
                h.update(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}".encode())
    return h.hexdigest()[:length]


@functools.lru_cache(maxsize=512)
def _file_digest(path: str, mtime_ns: int) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()
