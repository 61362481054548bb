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


def _grid_cell(ax, row: int, col: int, title: str, ylabel: str) -> None:
    """A cell of an image grid: no ticks, the column's title on the first row, the row's label in the first column."""
    ax.set_xticks([])
    ax.set_yticks([])
    if row == 0:
        ax.set_title(title, fontsize=8)
    if col == 0:
        ax.set_ylabel(ylabel, fontsize=7)


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


# ------------------------------------------------------------------------------------------ tables
def plot_change_heatmaps(panels: dict[str, pd.DataFrame], title: str, vmax: float = 100.0, fmt: str = ".0f",
                         noise: dict[str, pd.DataFrame] | None = None):
    """Side-by-side heatmaps of percent changes (rows x columns), red for losses, blue for gains.

    Args:
        panels: ``{panel title: wide table of mean changes}`` (e.g. ours and the paper's Table 1).
        title: the figure's title.
        vmax: colour scale limit in percent.
        fmt: number format in the cells.
        noise: per panel, a boolean table; cells within seed noise get a dotted frame.
    """
    import seaborn as sns
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 1.05 * sum(p.shape[1] for p in panels.values()) + 1.2 * len(panels), 3.8),
                             squeeze=False)
    for ax, (name, df) in zip(axes[0], panels.items()):
        sns.heatmap(df.astype(float), ax=ax, cmap="RdBu", center=0, vmin=-vmax, vmax=vmax, annot=True, fmt=fmt,
                    cbar=ax is axes[0][-1], linewidths=0.5, annot_kws={"fontsize": 8})
        if noise and name in noise:
            for (i, j), flag in np.ndenumerate(noise[name].reindex_like(df).fillna(False).values):
                if flag:
                    ax.add_patch(plt.Rectangle((j + 0.05, i + 0.05), 0.9, 0.9, fill=False, ls=":", lw=1, ec="k"))
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_cross_conditions(cross: pd.DataFrame):
    """Test accuracy per model for each train -> test condition, with 95% intervals over seeds."""
    conditions = list(dict.fromkeys(cross["condition"]))
    models = list(dict.fromkeys(cross["model"]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(models), 3.4))
    width = 0.8 / len(conditions)
    for k, cond in enumerate(conditions):
        sub = cross[cross["condition"] == cond].set_index("model").reindex(models)
        ax.bar(np.arange(len(models)) + (k - (len(conditions) - 1) / 2) * width, sub["mean"], width,
               yerr=sub["ci"].fillna(0), capsize=2, label=cond)
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(frameon=False, fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Trained on one condition, tested on each", fontsize=10)
    fig.tight_layout()
    return fig


def plot_perturbation_examples(faces: FaceSet, landmarks: np.ndarray, specs: list[dict], per_emotion: int = 1,
                               seed: int = 0):
    """One face per emotion (rows), clean and under each perturbation spec (columns)."""
    from .perturb import perturbed_images
    from .policy import make_policy
    rng = np.random.default_rng(seed)
    pick = []
    for c in range(len(EMOTIONS)):
        idx = np.flatnonzero(faces.labels == c)
        pick += list(rng.choice(idx, size=min(per_emotion, len(idx)), replace=False)) if len(idx) else []
    pick = np.asarray(pick)
    columns = [("clean", faces.images[pick])]
    for spec in specs:
        columns.append((make_policy(spec).tag(), perturbed_images(faces.images[pick], landmarks[pick], faces.ids[pick], spec)))
    fig, axes = plt.subplots(len(pick), len(columns), figsize=(1.05 * len(columns), 1.1 * len(pick)), squeeze=False)
    for j, (name, imgs) in enumerate(columns):
        for i in range(len(pick)):
            ax = axes[i, j]
            ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=255)
            _grid_cell(ax, i, j, name, EMOTIONS[faces.labels[pick[i]]])
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ saliency
def plot_saliency_comparison(panels: dict[str, dict[str, np.ndarray]], labels: np.ndarray, title: str,
                             show_inputs: bool = True):
    """The paper's Figures 1 and 6: per face (columns), its image, then one saliency map per model (rows).

    Args:
        panels: ``{model label: {"inputs": (B, 48, 48), "maps": (B, 48, 48)}}`` (see
            :func:`perturb_lib.saliency.comparison_maps`).
        labels: (B,) emotion of each face.
        title: figure title.
        show_inputs: add each model's own input row when it differs from the first (e.g. masked faces).
    """
    names = list(panels)
    rows = [("image", panels[names[0]]["inputs"], "gray")]
    for name in names:
        if show_inputs and name != names[0] and not np.array_equal(panels[name]["inputs"], panels[names[0]]["inputs"]):
            rows.append((f"{name} input", panels[name]["inputs"], "gray"))
        rows.append((name, np.abs(panels[name]["maps"]), "inferno"))
    b = len(labels)
    fig, axes = plt.subplots(len(rows), b, figsize=(1.15 * b, 1.2 * len(rows) + 0.4), squeeze=False)
    for i, (name, arr, cmap) in enumerate(rows):
        for j in range(b):
            ax = axes[i, j]
            img = arr[j]
            if cmap == "gray":
                ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(img / max(img.max(), 1e-12), cmap=cmap, vmin=0, vmax=1)
            _grid_cell(ax, i, j, EMOTIONS[labels[j]], name)
    fig.suptitle(title, fontsize=10)
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
            _grid_cell(ax, i, c, emo, name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_region_heatmaps(shares: dict[str, pd.DataFrame], value: str = "ratio", title: str = ""):
    """Emotion x region heatmaps of attribution (``ratio`` = share / area; 1 means 'as much as its area')."""
    import seaborn as sns
    from .landmarks import MAP_REGIONS
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


# ---------------------------------------------------------------------------------------- the scheme
def plot_clusters(images: np.ndarray, labels: np.ndarray, attention: np.ndarray, shared: np.ndarray,
                  per_image: np.ndarray, title: str = "Figure 4: clusters of the highest-attention pixels"):
    """The paper's Figure 4: one face per emotion (columns); rows: face, phase-1 attention, the shared
    cluster map over the face, the face's own clusters."""
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
            _grid_cell(ax, i, j, EMOTIONS[labels[j]], name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_cluster_sweep(sweep: pd.DataFrame, model: str = "VGG16", paper_best: int | None = 3):
    """The paper's Figure 5: accuracy and macro F1 against the number of clusters (0 = the baseline)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, col, label in ((a, "accuracy", "test accuracy (%)"), (b, "macro_f1", "macro F1")):
        ax.errorbar(sweep["n_clusters"], sweep[col], yerr=sweep[f"{col}_ci"].fillna(0), marker="o", capsize=3)
        ax.set_xticks(sweep["n_clusters"], ["base" if n == 0 else str(n) for n in sweep["n_clusters"]])
        ax.set_xlabel("clusters n")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if paper_best:
            ax.axvline(paper_best, color="gray", ls=":", lw=1)
    fig.suptitle(f"Figure 5: {model} with the Perturb Scheme against n (dotted: the paper's best n)", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ landmarks
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
        if kept is not None and (emo, family) in kept:
            k = kept[(emo, family)]
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
