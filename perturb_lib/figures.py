"""Figures and tables of the study. Every function draws from data it is given (faces, run records, result
files) and never trains anything; :func:`save_figure` and :func:`save_table` write them to disk.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .data.faces import EMOTIONS, SPLITS, FaceSet
from .paths import resolve

EMOTION_COLORS = dict(zip(EMOTIONS, plt.get_cmap("tab10").colors))


# ---------------------------------------------------------------------------------------------- saving
def save_figure(fig, figures_dir: str | os.PathLike, name: str, formats=("png", "pdf")) -> list[Path]:
    """Save a figure as ``<figures_dir>/<name>.png`` and ``.pdf`` (written to a temp name, then renamed)."""
    out_dir = resolve(figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        tmp = out_dir / f".{name}.tmp.{fmt}"
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def save_table(df: pd.DataFrame, tables_dir: str | os.PathLike, name: str, floatfmt: str = ".3g") -> list[Path]:
    """Write a table as CSV, Markdown and LaTeX under ``tables_dir``."""
    out_dir = resolve(tables_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = {
        "csv": df.to_csv(),
        "md": _markdown(df, floatfmt),
        "tex": df.to_latex(float_format=lambda v: format(v, floatfmt), na_rep="--"),
    }
    paths = []
    for ext, text in outputs.items():
        path = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.tmp.{ext}"
        tmp.write_text(text)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def _markdown(df: pd.DataFrame, floatfmt: str) -> str:
    """A Markdown table without the optional `tabulate` dependency."""
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "--" if np.isnan(v) else format(v, floatfmt)
        return str(v)
    index_name = df.index.name or ""
    header = [index_name] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [fmt(v) for v in row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- data
def class_count_table(faces: FaceSet) -> pd.DataFrame:
    """Faces per emotion (rows) and split (columns), with totals."""
    counts = pd.DataFrame(faces.class_counts()).reindex(list(EMOTIONS))
    counts["All"] = counts.sum(1)
    counts.loc["All"] = counts.sum(0)
    counts.index.name = "emotion"
    return counts


def plot_class_distribution(faces: FaceSet, title: str | None = None):
    """The paper's Figure 3: number of faces per emotion, one bar group per split."""
    counts = class_count_table(faces).drop(index="All").drop(columns="All")
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(EMOTIONS))
    width = 0.8 / len(SPLITS)
    for k, split in enumerate(SPLITS):
        ax.bar(x + (k - 1) * width, counts[split].values, width, label=split)
    ax.set_xticks(x, EMOTIONS)
    ax.set_ylabel("faces")
    ax.set_title(title or f"Class distribution of {faces.name} ({len(faces):,} faces)")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_samples(faces: FaceSet, per_emotion: int = 6, landmarks: np.ndarray | None = None, seed: int = 0,
                 split: str = "Training"):
    """A grid of faces, one row per emotion, with landmarks drawn on top when given."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(EMOTIONS), per_emotion, figsize=(per_emotion * 1.1, len(EMOTIONS) * 1.15))
    in_split = faces.splits == SPLITS.index(split)
    for c, emo in enumerate(EMOTIONS):
        idx = np.flatnonzero(in_split & (faces.labels == c))
        pick = rng.choice(idx, size=min(per_emotion, len(idx)), replace=False) if len(idx) else []
        for j in range(per_emotion):
            ax = axes[c, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(emo, rotation=0, ha="right", va="center", fontsize=9)
            if j >= len(pick):
                ax.axis("off")
                continue
            ax.imshow(faces.images[pick[j]], cmap="gray", vmin=0, vmax=255)
            if landmarks is not None:
                lm = landmarks[pick[j]]
                ax.scatter(lm[:, 0], lm[:, 1], s=1.5, c="#ff3b30", linewidths=0)
                ax.set_xlim(-0.5, 47.5)
                ax.set_ylim(47.5, -0.5)  # landmarks may fall outside the crop (chins often do)
    fig.suptitle(f"{faces.name}: samples per emotion" + (" with landmarks" if landmarks is not None else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_region_maps(faces: FaceSet, landmarks: np.ndarray, n: int = 6, seed: int = 0):
    """Faces next to their region maps (brows, eyes, nose, mouth) rasterised from landmarks."""
    from .landmarks import MAP_REGIONS, region_map
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(faces), size=min(n, len(faces)), replace=False)
    maps = region_map(landmarks[pick])
    cmap = matplotlib.colors.ListedColormap(["#00000000", "#ff9500", "#34c759", "#007aff", "#ff2d55"])
    fig, axes = plt.subplots(2, len(pick), figsize=(len(pick) * 1.3, 2.8))
    for j, i in enumerate(pick):
        axes[0, j].imshow(faces.images[i], cmap="gray", vmin=0, vmax=255)
        axes[1, j].imshow(faces.images[i], cmap="gray", vmin=0, vmax=255)
        axes[1, j].imshow(maps[j], cmap=cmap, vmin=0, vmax=len(MAP_REGIONS) - 1, alpha=0.55, interpolation="nearest")
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [matplotlib.patches.Patch(color=cmap(k), label=r) for k, r in enumerate(MAP_REGIONS) if k]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
