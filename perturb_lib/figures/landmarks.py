"""Figures of the landmark experiment: relevance on the mean face, and accuracy against landmarks kept."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS
from .common import EMOTION_COLORS


def plot_landmark_relevance(relevance: pd.DataFrame, mean_face: np.ndarray, mean_landmarks: np.ndarray,
                            kept: dict | None = None, family: str = "mlp", method: str = "ig_medoids"):
    """Per emotion: landmark relevance drawn on the mean face (size and colour), kept landmarks ringed."""
    emotions = [e for e in EMOTIONS if e in set(relevance["emotion"])]
    fig, axes = plt.subplots(1, len(emotions), figsize=(1.7 * len(emotions), 2.1), squeeze=False)
    for ax, emo in zip(axes[0], emotions):
        r = relevance[(relevance["emotion"] == emo) & (relevance["family"] == family) & (relevance["method"] == method)]
        v = r.sort_values("landmark")["relevance"].to_numpy()
        v = v / max(v.max(), 1e-12)
        ax.imshow(mean_face, cmap="gray")
        ax.scatter(mean_landmarks[:, 0], mean_landmarks[:, 1], s=4 + 60 * v, c=v, cmap="plasma", vmin=0, vmax=1)
        if kept is not None and f"{emo}/{family}" in kept:
            k = kept[f"{emo}/{family}"]
            ax.scatter(mean_landmarks[k, 0], mean_landmarks[k, 1], s=70, facecolors="none", edgecolors="#34c759", lw=0.8)
        ax.set_title(emo, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-0.5, 47.5)
        ax.set_ylim(47.5, -0.5)
    fig.suptitle(f"landmark relevance ({method}, {family}); green rings: the kept set", fontsize=9)
    fig.tight_layout()
    return fig


def plot_reduction(reduction: pd.DataFrame, metric: str = "val_balanced_accuracy"):
    """Score and inference cost against the number of landmarks kept, per emotion and family."""
    fams = list(dict.fromkeys(reduction["family"]))
    fig, axes = plt.subplots(2, len(fams), figsize=(4.2 * len(fams), 5.4), squeeze=False, sharex=True)
    for j, fam in enumerate(fams):
        sub = reduction[reduction["family"] == fam]
        for emo, df in sub.groupby("emotion", sort=False):
            color = EMOTION_COLORS.get(emo)
            axes[0, j].plot(df["landmarks"], df[metric], marker=".", color=color, label=emo)
            chosen = df[df["chosen"]]
            axes[0, j].scatter(chosen["landmarks"], chosen[metric], s=60, facecolors="none", edgecolors=color)
            axes[1, j].plot(df["landmarks"], df["inference_us"], marker=".", color=color)
        axes[0, j].set_title(fam, fontsize=9)
        axes[0, j].set_ylabel(metric.replace("_", " "))
        axes[1, j].set_ylabel("inference (us / face)")
        axes[1, j].set_xlabel("landmarks kept")
        axes[0, j].invert_xaxis()
    axes[0, 0].legend(fontsize=7, frameon=False, ncol=2)
    fig.suptitle("progressive landmark reduction (circles: the chosen set)", fontsize=10)
    fig.tight_layout()
    return fig
