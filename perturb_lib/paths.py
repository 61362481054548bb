"""Where things live. Relative paths in parameters are resolved from the project root, so notebooks and the
study runner behave the same whatever the working directory (papermill runs kernels in the notebook's folder).
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path: ``~`` expanded, relative paths taken from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p
