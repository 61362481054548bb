"""Figures of the Perturb Scheme: the clusters (Figure 4) and the cluster sweep (Figure 5)."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS
from ..paper import FIGURE5_BEST_CLUSTERS
from .common import grid_cell


def plot_clusters(clusters: dict, title: str = "Figure 4: clusters of the highest-attention pixels"):
    """The paper's Figure 4: one face per emotion (columns); rows: face, phase-1 attention, the shared
    cluster map over the face, the face's own clusters.

    Args:
        clusters: ``images``, ``labels``, ``attention`` and ``own`` maps of the faces, and the ``shared`` map
            (:attr:`perturb_lib.experiments.scheme.SchemeResults.clusters`).
        title: the figure's title.

    Returns:
        The figure.
    """
    images, labels, attention = clusters["images"], clusters["labels"], clusters["attention"]
    shared, per_image = clusters["shared"], clusters["own"]
    colors = matplotlib.colors.ListedColormap(["#ff2d55", "#34c759", "#007aff", "#ff9500", "#af52de", "#5ac8fa",
                                               "#ffcc00", "#8e8e93"])
    rows = ("face", "attention", "shared clusters", "own clusters")
    fig, axes = plt.subplots(len(rows), len(images), figsize=(1.15 * len(images), 1.2 * len(rows) + 0.5), squeeze=False)
    for j in range(len(images)):
        for i, name in enumerate(rows):
            ax = axes[i, j]
            ax.imshow(images[j], cmap="gray", vmin=0, vmax=255)
            if name == "attention":
                ax.imshow(attention[j], cmap="inferno", alpha=0.7)
            elif name != "face":
                m = (shared if name == "shared clusters" else per_image[j]).astype(float)
                ax.imshow(np.ma.masked_less(m, 0), cmap=colors, vmin=0, vmax=7, alpha=0.6, interpolation="nearest")
            grid_cell(ax, i, j, EMOTIONS[labels[j]], name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_cluster_sweep(sweep: pd.DataFrame, model: str, paper_best: int | None = FIGURE5_BEST_CLUSTERS):
    """The paper's Figure 5: accuracy and macro F1 against the number of clusters (0 = the baseline).

    Args:
        sweep: :attr:`perturb_lib.experiments.scheme.SchemeResults.sweep` (validation and test columns, the
            ``chosen`` n).
        model: the backbone, for the title.
        paper_best: the paper's best n (a dotted line).

    Returns:
        The figure.
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    chosen = sweep.loc[sweep["chosen"], "n_clusters"]
    for ax, col, label in ((a, "accuracy", "accuracy (%)"), (b, "macro_f1", "macro F1")):
        for prefix, name, style in (("val_", "validation", "s--"), ("", "test", "o-")):
            ax.errorbar(sweep["n_clusters"], sweep[prefix + col], yerr=sweep[f"{prefix}{col}_ci"].fillna(0), fmt=style,
                        capsize=3, label=name)
        ax.set_xticks(sweep["n_clusters"], ["base" if n == 0 else str(n) for n in sweep["n_clusters"]])
        ax.set_xlabel("clusters n")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if paper_best:
            ax.axvline(paper_best, color="gray", ls=":", lw=1)
        if len(chosen):
            ax.axvline(int(chosen.iloc[0]), color="C2", ls="-", lw=0.8, alpha=0.6)
    a.legend(frameon=False, fontsize=8)
    fig.suptitle(f"Figure 5: {model} with the Perturb Scheme against n (green: chosen on validation; "
                 "dotted: the paper's best)", fontsize=9)
    fig.tight_layout()
    return fig
