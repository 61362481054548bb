"""Figures of the MaskFer tables: heatmaps of per-class changes (Table 1, removal) and the cross conditions."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def plot_change_heatmaps(panels: dict[str, pd.DataFrame], title: str, vmax: float = 100.0, fmt: str = ".0f",
                         noise: dict[str, pd.DataFrame] | None = None):
    """Side-by-side heatmaps of percent changes (rows x columns), red for losses, blue for gains.

    Args:
        panels: ``{panel title: wide table of mean changes}`` (e.g. ours and the paper's Table 1).
        title: the figure's title.
        vmax: colour scale limit in percent.
        fmt: number format in the cells.
        noise: per panel, a boolean table; cells the data cannot decide (one seed, or an interval that
            includes 0) get a dotted frame.
    """
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
