"""The table builders of the study, from per-face predictions of several seeds.

Every table cell is an :class:`~perturb_lib.stats.Estimate`: the value, its 95 % interval (seeds and test faces
combined), the prediction interval for one more run, and how many seeds and test faces are behind it. Long
tables have one row per cell (``row``, ``column``, ``mean``, ``ci``, ``pred``, ``seeds``, ``test_faces``,
``few``, ``verdict``); :func:`wide` and :func:`formatted` turn them into the paper's layout.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .data.faces import EMOTIONS, NUM_CLASSES
from .stats import Estimate, estimates, fmt_ci, recalls, within_noise

FEW_TEST_FACES = 100  # classes with fewer test faces than this are flagged


def percent_change(new, base) -> np.ndarray:
    """Relative change in percent, ``100 * (new - base) / base`` (NaN where ``base`` is 0 or NaN)."""
    new, base = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, 100 * (new - base) / base, np.nan)


def verdict(e: Estimate) -> str:
    """What an estimate of a change says: ``n = 1, no interval``, ``inconclusive (n seeds)`` when its interval
    includes 0, else ``decrease`` or ``increase``."""
    noise = within_noise(e.value, e.half)
    if noise is None:
        return "n = 1, no interval" if math.isfinite(e.value) else "--"
    if noise:
        return f"inconclusive ({e.seeds} seeds)"
    return "decrease" if e.value < 0 else "increase"


def _row(row: str, column: str, e: Estimate) -> dict:
    return {"row": row, "column": column, "mean": e.value, "ci": e.half, "pred": e.pred_half, "seeds": e.seeds,
            "test_faces": e.test_faces, "few": e.test_faces < FEW_TEST_FACES, "verdict": verdict(e)}


def class_changes(labels: np.ndarray, base: np.ndarray, new: np.ndarray, relative: bool = True) -> list[Estimate]:
    """Per-class change of accuracy from ``base`` to ``new`` predictions of the same test faces.

    Args:
        labels: (N,) true classes.
        base, new: (S, N) predicted classes, one row per seed (paired: the same seed's runs, the same faces).
        relative: percent change of the mean accuracies (Table 1's unit), or percentage points.

    Returns:
        One estimate per class: the change of the seed-mean recall (``100 * (mean new / mean base - 1)``, or
        ``100 * (mean new - mean base)``), with its interval.
    """
    labels, base_ok, new_ok = np.asarray(labels), np.asarray(base) == labels, np.asarray(new) == labels

    def change(b, n):
        return percent_change(n, b) if relative else 100 * (n - b)

    def stat(idx):
        return change(recalls(base_ok[:, idx], labels[idx], NUM_CLASSES).mean(0),
                      recalls(new_ok[:, idx], labels[idx], NUM_CLASSES).mean(0))

    def per_seed(idx):
        return change(recalls(base_ok[:, idx], labels[idx], NUM_CLASSES), recalls(new_ok[:, idx], labels[idx], NUM_CLASSES))

    return estimates(stat, per_seed, labels, faces_per_value=np.bincount(labels, minlength=NUM_CLASSES))


def change_table(cells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], relative: bool = True) -> pd.DataFrame:
    """A long table of per-class changes, one column per entry of ``cells``.

    Args:
        cells: ``{column: (labels (N,), base (S, N), new (S, N))}``.
        relative: percent change (Table 1) or percentage points.

    Returns:
        The long table (``row`` is the emotion).
    """
    rows = []
    for column, (labels, base, new) in cells.items():
        rows += [_row(emo, column, e) for emo, e in zip(EMOTIONS, class_changes(labels, base, new, relative))]
    return pd.DataFrame(rows)


def accuracy(labels: np.ndarray, preds: np.ndarray) -> Estimate:
    """Test accuracy in percent over seeds: (S, N) predictions of the same faces."""
    ok = np.asarray(preds) == np.asarray(labels)
    return estimates(lambda i: 100 * ok[:, i].mean(), lambda i: 100 * ok[:, i].mean(1)[:, None], labels)[0]


def macro_f1(labels: np.ndarray, preds: np.ndarray) -> Estimate:
    """Macro F1 over seeds (the mean of the seeds' F1): (S, N) predictions of the same faces."""
    labels, preds = np.asarray(labels), np.asarray(preds)

    def per_seed(i):
        return np.array([[f1_score(labels[i], p[i], average="macro", zero_division=0)] for p in preds])
    return estimates(lambda i: per_seed(i).mean(), per_seed, labels, draws=200)[0]


def accuracy_difference(labels: np.ndarray, base: np.ndarray, new: np.ndarray) -> Estimate:
    """Change of test accuracy in percentage points from ``base`` to ``new`` ((S, N) each, paired)."""
    b, n = np.asarray(base) == labels, np.asarray(new) == labels
    return estimates(lambda i: 100 * (n[:, i].mean() - b[:, i].mean()),
                     lambda i: 100 * (n[:, i].mean(1) - b[:, i].mean(1))[:, None], labels)[0]


def largest_drop(long: pd.DataFrame) -> dict:
    """The most negative mean change in a long table: ``{"row", "column", "mean", "ci", "verdict"}`` (empty if none)."""
    if long.empty or long["mean"].isna().all():
        return {}
    r = long.loc[long["mean"].idxmin()]
    return {k: r[k] for k in ("row", "column", "mean", "ci", "verdict")}


def wide(long: pd.DataFrame, value: str = "mean", index=EMOTIONS) -> pd.DataFrame:
    """A wide table (rows x columns) of one value of a long table, in the original orders."""
    columns = list(dict.fromkeys(long["column"]))
    out = long.pivot(index="row", columns="column", values=value).reindex(index=list(index), columns=columns)
    out.index.name, out.columns.name = "emotion" if index is EMOTIONS else "row", None
    return out


def formatted(long: pd.DataFrame, digits: int = 0, unit: str = "%") -> pd.DataFrame:
    """The paper's layout with ``mean ± interval`` cells (``inconclusive (n seeds)`` where the interval includes
    0, ``n = 1, no interval`` for one seed); emotions with fewer than 100 test faces are flagged in the row label."""
    text = long.assign(text=[fmt_ci(m, c, digits, unit, s) for m, c, s in zip(long["mean"], long["ci"], long["seeds"])])
    out = wide(text, "text")
    faces = long.groupby("row")["test_faces"].min()
    out.index = [f"{e} ({int(faces[e])} test faces, few)" if e in faces and faces[e] < FEW_TEST_FACES else e
                 for e in out.index]
    out.index.name = "emotion"
    return out
