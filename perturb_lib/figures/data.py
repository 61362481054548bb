"""Figures of the data: the class distribution (the paper's Figure 3), faces with landmarks, region maps, and
faces under each perturbation."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS, SPLITS, FaceSet, pick_per_emotion
from ..landmarks.regions import MAP_REGIONS, region_map
from ..policies import apply_policy, make_policy
from .common import grid_cell


def plot_class_distribution(counts: pd.DataFrame, name: str):
    """The paper's Figure 3: number of faces per emotion, one bar group per split.

    Args:
        counts: faces per emotion (rows, or an ``emotion`` column) and split (columns), as
            :func:`perturb_lib.experiments.data.class_counts` makes them.
        name: the dataset's name, for the title.

    Returns:
        The figure.
    """
    counts = counts.set_index("emotion") if "emotion" in counts.columns else counts
    counts = counts.reindex(list(EMOTIONS))
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(EMOTIONS))
    width = 0.8 / len(SPLITS)
    for k, split in enumerate(SPLITS):
        ax.bar(x + (k - 1) * width, counts[split].to_numpy(), width, label=split)
    ax.set_xticks(x, EMOTIONS)
    ax.set_ylabel("faces")
    ax.set_title(f"Figure 3: class distribution of {name} ({int(counts[list(SPLITS)].to_numpy().sum()):,} faces)")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_samples(faces: FaceSet, per_emotion: int = 6, landmarks: np.ndarray | None = None, seed: int = 0,
                 split: str = "Training"):
    """A grid of faces, one row per emotion, with landmarks drawn on top when given."""
    fig, axes = plt.subplots(len(EMOTIONS), per_emotion, figsize=(per_emotion * 1.1, len(EMOTIONS) * 1.15))
    in_split = np.flatnonzero(faces.splits == SPLITS.index(split))
    chosen = in_split[pick_per_emotion(faces.labels[in_split], per_emotion, seed)]
    for c, emo in enumerate(EMOTIONS):
        pick = chosen[faces.labels[chosen] == c]
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


def plot_perturbation_examples(faces: FaceSet, landmarks: np.ndarray, specs: list[dict], per_emotion: int = 1,
                               seed: int = 0):
    """One face per emotion (rows), clean and under each perturbation spec (columns)."""
    pick = pick_per_emotion(faces.labels, per_emotion, seed)
    columns = [("clean", faces.images[pick])]
    for spec in specs:
        policy = make_policy(spec)
        columns.append((policy.tag(), apply_policy(policy, faces.images[pick], landmarks[pick], faces.ids[pick])))
    fig, axes = plt.subplots(len(pick), len(columns), figsize=(1.05 * len(columns), 1.1 * len(pick)), squeeze=False)
    for j, (name, imgs) in enumerate(columns):
        for i in range(len(pick)):
            ax = axes[i, j]
            ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=255)
            grid_cell(ax, i, j, name, EMOTIONS[faces.labels[pick[i]]])
    fig.tight_layout()
    return fig


def plot_landmark_comparison(faces: FaceSet, points: dict[str, np.ndarray], found: dict[str, np.ndarray] | None = None,
                             n: int = 8, seed: int = 0):
    """The same faces (columns) with each provider's landmarks (rows); faces a detector did not find are marked.

    Args:
        faces: the dataset.
        points: ``{provider: (N, K, 2)}``.
        found: ``{provider: (N,) bool}`` for detectors.
        n: how many faces (one per emotion first).
        seed: which faces.

    Returns:
        The figure.
    """
    pick = pick_per_emotion(faces.labels, max(1, n // len(EMOTIONS) + 1), seed)[:n]
    fig, axes = plt.subplots(len(points), len(pick), figsize=(1.15 * len(pick), 1.25 * len(points) + 0.3), squeeze=False)
    for i, (name, pts) in enumerate(points.items()):
        for j, k in enumerate(pick):
            ax = axes[i, j]
            ax.imshow(faces.images[k], cmap="gray", vmin=0, vmax=255)
            missed = found is not None and name in found and not found[name][k]
            ax.scatter(pts[k, :, 0], pts[k, :, 1], s=0.8 if pts.shape[1] > 100 else 1.5,
                       c="#ff9500" if missed else "#ff3b30", linewidths=0)
            ax.set_xlim(-0.5, 47.5)
            ax.set_ylim(47.5, -0.5)
            grid_cell(ax, i, j, EMOTIONS[faces.labels[k]] + (" (not found)" if missed else ""), name)
    fig.suptitle("landmarks of the same faces by provider (orange: the detector found no face; points from its "
                 "fallback)", fontsize=8)
    fig.tight_layout()
    return fig
