"""Saliency figures: the paper's Figures 1 and 6, per-emotion mean maps, region heatmaps, sanity checks."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..data.faces import EMOTIONS
from ..landmarks.regions import MAP_REGIONS
from .common import grid_cell


def plot_saliency_comparison(comparison: dict, title: str, show_inputs: bool = True):
    """The paper's Figures 1 and 6: per face (columns), its image, then one saliency map per model (rows).

    Args:
        comparison: ``{"labels": (B,), "inputs": {label: (B, 48, 48)}, "maps": {label: (B, 48, 48)}}`` (see
            :func:`perturb_lib.experiments.saliency.compare`).
        title: figure title.
        show_inputs: add each model's own input row when it differs from the first (e.g. masked faces).

    Returns:
        The figure.
    """
    labels, inputs, maps = comparison["labels"], comparison["inputs"], comparison["maps"]
    names = list(maps)
    rows = [("image", inputs[names[0]], "gray")]
    for name in names:
        if show_inputs and name != names[0] and not np.array_equal(inputs[name], inputs[names[0]]):
            rows.append((f"{name} input", inputs[name], "gray"))
        rows.append((name, np.abs(maps[name]), "inferno"))
    b = len(labels)
    fig, axes = plt.subplots(len(rows), b, figsize=(1.15 * b, 1.2 * len(rows) + 0.6), squeeze=False)
    for i, (name, arr, cmap) in enumerate(rows):
        for j in range(b):
            ax = axes[i, j]
            img = arr[j]
            if cmap == "gray":
                ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(img / max(img.max(), 1e-12), cmap=cmap, vmin=0, vmax=1)
            grid_cell(ax, i, j, EMOTIONS[labels[j]], name)
    fig.suptitle(textwrap.fill(title, 100), fontsize=8)
    fig.tight_layout()
    return fig


def plot_mean_maps(mean_maps: dict[str, np.ndarray], mean_face: np.ndarray | None = None, title: str = ""):
    """Per-emotion mean maps (columns) for each model (rows), over a mean face when given."""
    names = list(mean_maps)
    fig, axes = plt.subplots(len(names), len(EMOTIONS), figsize=(1.15 * len(EMOTIONS), 1.25 * len(names) + 0.4),
                             squeeze=False)
    for i, name in enumerate(names):
        for c, emo in enumerate(EMOTIONS):
            ax = axes[i, c]
            if mean_face is not None:
                ax.imshow(mean_face, cmap="gray")
            m = mean_maps[name][c]
            ax.imshow(m / max(m.max(), 1e-12), cmap="inferno", alpha=0.75 if mean_face is not None else 1.0)
            grid_cell(ax, i, c, emo, name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_region_heatmaps(shares: dict[str, pd.DataFrame], value: str = "ratio", title: str = ""):
    """Emotion x region heatmaps of attribution (``ratio`` = share / area; 1 means 'as much as its area')."""
    fig, axes = plt.subplots(1, len(shares), figsize=(3.6 * len(shares) + 0.6, 3.4), squeeze=False)
    for ax, (name, df) in zip(axes[0], shares.items()):
        table = df.pivot(index="emotion", columns="region", values=value).reindex(
            index=[e for e in EMOTIONS if e in set(df["emotion"])], columns=list(MAP_REGIONS))
        sns.heatmap(table, ax=ax, cmap="viridis", annot=True, fmt=".2f", cbar=False, annot_kws={"fontsize": 7})
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_sanity(randomization: pd.DataFrame, deletion: pd.DataFrame, method: str):
    """Left: rank correlation under cascading weight randomisation. Right: deletion and insertion curves."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.3))
    for m, df in randomization.groupby("method", sort=False):
        a.plot(df["step"], df["spearman"], marker="o", label=m)
    a.set_xlabel("blocks re-initialised (output first)")
    a.set_ylabel("rank correlation with trained maps")
    a.set_ylim(-0.1, 1.05)
    a.axhline(0, color="k", lw=0.5)
    a.legend(fontsize=7, frameon=False)
    a.set_title("model-parameter randomisation", fontsize=9)
    for col, style in (("deletion", "-"), ("deletion_random", ":"), ("insertion", "--"), ("insertion_random", "-.")):
        b.plot(deletion["fraction"], deletion[col], style, marker=".", label=col.replace("_", " "))
    b.set_xlabel("fraction of pixels deleted / inserted")
    b.set_ylabel("accuracy")
    b.legend(fontsize=7, frameon=False)
    b.set_title(f"deletion / insertion ({method})", fontsize=9)
    fig.tight_layout()
    return fig
