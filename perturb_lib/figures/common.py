"""Shared pieces of the figures: emotion colours and the cells of image grids."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..data.faces import EMOTIONS

EMOTION_COLORS = dict(zip(EMOTIONS, plt.get_cmap("tab10").colors))


def grid_cell(ax, row: int, col: int, title: str, ylabel: str) -> None:
    """A cell of an image grid: no ticks, the column's title on the first row, the row's label in the first column."""
    ax.set_xticks([])
    ax.set_yticks([])
    if row == 0:
        ax.set_title(title, fontsize=8)
    if col == 0:
        ax.set_ylabel(ylabel, fontsize=7)
