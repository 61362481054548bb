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


_CLUSTER_COLORS = ["#ff2d55", "#34c759", "#007aff", "#ff9500", "#af52de", "#5ac8fa", "#ffcc00", "#8e8e93"]


def plot_attention(clusters: dict, title: str = "Phase 1: where the attention classifier looks"):
    """One test face per emotion and its phase-1 attention (the first two rows of Figure 4)."""
    images, labels, attention = clusters["images"], clusters["labels"], clusters["attention"]
    fig, axes = plt.subplots(2, len(images), figsize=(1.15 * len(images), 2.9), squeeze=False)
    for j in range(len(images)):
        for i, name in enumerate(("face", "attention")):
            ax = axes[i, j]
            ax.imshow(images[j], cmap="gray", vmin=0, vmax=255)
            if name == "attention":
                ax.imshow(attention[j], cmap="inferno", alpha=0.7)
            grid_cell(ax, i, j, EMOTIONS[labels[j]], name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_cluster_steps(steps: dict):
    """Phase 2 on one face, step by step: the face, its attention, the pixels selected, their Eq. 1 coordinates
    coloured by their k-means cluster, and the map (:meth:`perturb_lib.experiments.SchemeExperiment.phase2_steps`)."""
    colors = matplotlib.colors.ListedColormap(_CLUSTER_COLORS)
    o = steps["options"]
    fig = plt.figure(figsize=(12, 2.9))
    grid = fig.add_gridspec(1, 5, width_ratios=[1, 1, 1, 1.6, 1])
    panels = [("the face", steps["face"], None), ("its attention", steps["attention"], "inferno"),
              (f"the {'top ' + format(o['top_fraction'], '.0%') if o['cluster_selection'] == 'top' else 'selected'} "
               "pixels", steps["selected"].astype(float), "Greens")]
    for k, (title, image, cmap) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(steps["face"], cmap="gray", vmin=0, vmax=255)
        if cmap:
            ax.imshow(image, cmap=cmap, alpha=0.6)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, 3], projection="3d")
    f, lab = steps["features"], steps["labels"]
    ax.scatter(f[:, 0], f[:, 1], f[:, 2], c=lab, cmap=colors, vmin=0, vmax=7, s=6)
    third = "intensity" if o["cluster_features"] == "intensity" else "attention"
    ax.set_xlabel(f"{o['lam']} x", fontsize=7)
    ax.set_ylabel(f"{o['lam']} y", fontsize=7)
    ax.set_zlabel(f"{o['alpha']} {third}", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f"Eq. 1 coordinates, k-means into {o['n_clusters']}", fontsize=8)
    ax = fig.add_subplot(grid[0, 4])
    ax.imshow(steps["face"], cmap="gray", vmin=0, vmax=255)
    ax.imshow(np.ma.masked_less(steps["map"].astype(float), 0), cmap=colors, vmin=0, vmax=7, alpha=0.6,
              interpolation="nearest")
    ax.set_title("the clusters", fontsize=8)
    ax.axis("off")
    fig.suptitle(f"Phase 2 on one {steps['emotion'].lower()} test face", fontsize=10)
    fig.tight_layout()
    return fig


def plot_epoch_maps(maps: np.ndarray, background: np.ndarray):
    """The shared cluster map of every epoch, on the mean face (phase 2 as phase 3 trained with it)."""
    colors = matplotlib.colors.ListedColormap(_CLUSTER_COLORS)
    fig, axes = plt.subplots(1, len(maps), figsize=(1.3 * len(maps), 1.7), squeeze=False)
    for e, ax in enumerate(axes[0]):
        ax.imshow(background, cmap="gray")
        ax.imshow(np.ma.masked_less(maps[e].astype(float), 0), cmap=colors, vmin=0, vmax=7, alpha=0.6,
                  interpolation="nearest")
        ax.set_title(f"epoch {e + 1}", fontsize=8)
        ax.axis("off")
    fig.suptitle("the shared clusters, recomputed at each epoch", fontsize=9)
    fig.tight_layout()
    return fig


def plot_training_batch(batch: dict):
    """Phase 3's inputs: training faces with one cluster of the epoch's shared map masked out (or none)."""
    inputs, labels = batch["inputs"], batch["labels"]
    fig, axes = plt.subplots(1, len(inputs), figsize=(1.2 * len(inputs), 1.7), squeeze=False)
    for ax, image, label in zip(axes[0], inputs, labels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(EMOTIONS[label], fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Phase 3's training inputs at epoch {batch['epoch']}: one cluster masked out at random, or none",
                 fontsize=9)
    fig.tight_layout()
    return fig
