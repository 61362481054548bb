"""Writing figures and tables: PNG and PDF figures, CSV, Markdown and LaTeX tables, each written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path, atomic_write_text
from ..paths import resolve


def save_figure(fig, figures_dir: str | os.PathLike, name: str, formats=("png", "pdf")) -> list[Path]:
    """Save a figure as ``<figures_dir>/<name>.png`` and ``.pdf``, each atomically.

    Args:
        fig: the matplotlib figure (left open, so a notebook still shows it).
        figures_dir: the folder.
        name: the file stem.
        formats: the formats written.

    Returns:
        The paths written.
    """
    out_dir = resolve(figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        with atomic_path(out_dir / f"{name}.{fmt}") as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt)
        paths.append(out_dir / f"{name}.{fmt}")
    return paths


def save_table(df: pd.DataFrame, tables_dir: str | os.PathLike, name: str, floatfmt: str = ".3g") -> list[Path]:
    """Write a table as CSV, Markdown and LaTeX under ``tables_dir``, each atomically.

    Args:
        df: the table (its index is written as the first column).
        tables_dir: the folder.
        name: the file stem.
        floatfmt: number format of the Markdown and LaTeX versions.

    Returns:
        The paths written.
    """
    out_dir = resolve(tables_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = readable(df)
    outputs = {
        "csv": df.to_csv(),
        "md": _markdown(df, floatfmt),
        "tex": df.to_latex(float_format=lambda v: number_text(v, floatfmt), na_rep="--"),
    }
    return [atomic_write_text(out_dir / f"{name}.{ext}", text) for ext, text in outputs.items()]


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A table as a person writes it: the levels of a multi-index become columns (no tuples as row labels), and
    yes/no stands for True/False."""
    if isinstance(df.index, pd.MultiIndex):
        df = df.reset_index().set_index(df.index.names[0])
    return df.apply(lambda col: col.map(lambda v: ("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else v))


def number_text(v, floatfmt: str = ".3g") -> str:
    """A number without an exponent: counts as integers with thousands separators, other values in ``floatfmt``
    (fixed point where that would print an exponent)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return f"{int(v):,}"
    v = float(v)
    if np.isnan(v):
        return "--"
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    text = format(v, floatfmt)
    if "e" in text:
        text = f"{v:,.0f}" if abs(v) >= 1 else f"{v:.6f}".rstrip("0").rstrip(".")
    return text


def _markdown(df: pd.DataFrame, floatfmt: str) -> str:
    """A Markdown table without the optional `tabulate` dependency."""
    def fmt(v):
        if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            return number_text(v, floatfmt)
        return str(v)
    index_name = df.index.name or ""
    header = [index_name] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [fmt(v) for v in row.tolist()]) + " |")
    return "\n".join(lines) + "\n"
