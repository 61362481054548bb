"""The table builders of the study, from per-face logits of several seeds.

Every table cell is an :class:`~perturb_lib.stats.Estimate`: the value, its 95 % interval (seeds and test faces
combined), the prediction interval for one more run, and how many seeds and test faces are behind it. Long
tables have one row per cell (``row``, ``column``, ``measure``, ``mean``, ``lo``, ``hi``, ``ci``, ``pred_lo``,
``pred_hi``, ``pred``, ``sd_seed``, ``se_test``, ``seeds``, ``test_faces``, ``base_correct``, ``estimable``,
``few``, ``verdict``); :func:`wide` and :func:`formatted` turn them into the paper's layout.

A per-class change is given three ways (``measure``):

* ``relative``: the relative change of per-class accuracy, the paper's unit (intervals on the log-ratio scale;
  "not estimable" below :data:`~perturb_lib.stats.MIN_CORRECT` correct faces per seed at baseline);
* ``points``: the change of per-class accuracy in percentage points, which does not divide by a weak baseline;
* ``auc``: the change of the one-vs-rest AUC, a measure free of the decision threshold (a class the model rarely
  predicts can still be ranked well).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .data.faces import EMOTIONS, NUM_CLASSES
from .stats import (MIN_CORRECT, Estimate, auc_change_estimates, bounded, class_hits, estimates, fmt_ci, fmt_relative, judge,
                    ratio_estimates, recalls)

FEW_TEST_FACES = 100  # classes with fewer test faces than this are flagged
MEASURES = {"relative": "% change of per-class accuracy", "points": "change of per-class accuracy (points)",
            "auc": "change of one-vs-rest AUC"}
UNITS = {"relative": " %", "points": " pp", "auc": ""}


def percent_change(new, base) -> np.ndarray:
    """Relative change in percent, ``100 * (new - base) / base`` (NaN where ``base`` is 0 or NaN)."""
    new, base = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, 100 * (new - base) / base, np.nan)


def verdict(e: Estimate, base_correct: float | None = None) -> str:
    """What an estimate of a change says: ``not estimable``, ``n = 1, no interval``, ``decrease`` or
    ``increase`` when its 95 % interval excludes 0, else ``not decided (n seeds)``."""
    if not math.isfinite(e.value):
        return "--"
    if not e.estimable:
        return (f"not estimable ({base_correct:.1f} correct faces per seed)" if base_correct is not None
                else "not estimable")
    zero = judge(e, 0.0)  # 0 above the interval: a decrease
    if zero == "none":
        return "n = 1, no interval"
    return {"above": "decrease", "below": "increase"}.get(zero, f"not decided ({e.seeds} seeds)")


def _row(row: str, column: str, measure: str, e: Estimate, base_correct: float = float("nan")) -> dict:
    return {"row": row, "column": column, "measure": measure, "mean": e.value, "lo": e.lo, "hi": e.hi, "ci": e.half,
            "pred_lo": e.pred_lo, "pred_hi": e.pred_hi, "pred": e.pred_half, "sd_seed": e.sd_seed,
            "se_test": e.se_test, "seeds": e.seeds, "test_faces": e.test_faces, "base_correct": base_correct,
            "estimable": e.estimable, "few": e.test_faces < FEW_TEST_FACES,
            "verdict": verdict(e, base_correct if math.isfinite(base_correct) else None)}


def class_changes(labels: np.ndarray, base: np.ndarray, new: np.ndarray, measure: str = "relative") -> list[Estimate]:
    """Per-class change from ``base`` to ``new`` logits of the same test faces.

    Args:
        labels: (N,) true classes.
        base, new: (S, N, C) logits, one row per seed (paired: the same seed's runs, the same faces); (S, N)
            predicted classes are accepted for ``relative`` and ``points``.
        measure: ``relative`` (percent, log-ratio intervals), ``points`` or ``auc``.

    Returns:
        One estimate per class.
    """
    labels = np.asarray(labels)
    base, new = np.asarray(base), np.asarray(new)
    if measure == "auc":
        return [bounded(e, -1, 1) for e in auc_change_estimates(base, new, labels, NUM_CLASSES)]
    base_ok = (base.argmax(-1) if base.ndim == 3 else base) == labels
    new_ok = (new.argmax(-1) if new.ndim == 3 else new) == labels
    if measure == "relative":
        return ratio_estimates(base_ok, new_ok, labels, NUM_CLASSES)

    def per_seed(idx):
        return 100 * (recalls(new_ok[:, idx], labels[idx], NUM_CLASSES) - recalls(base_ok[:, idx], labels[idx], NUM_CLASSES))
    return [bounded(e, -100, 100) for e in estimates(lambda idx: per_seed(idx).mean(0), per_seed, labels,
                                                     faces_per_value=np.bincount(labels, minlength=NUM_CLASSES))]


def change_table(cells: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                 measures: tuple[str, ...] = ("relative", "points", "auc")) -> pd.DataFrame:
    """A long table of per-class changes, one column per entry of ``cells``, each measure apart.

    Args:
        cells: ``{column: (labels (N,), base (S, N, C), new (S, N, C))}`` logits.
        measures: which of :data:`MEASURES`.

    Returns:
        The long table (``row`` is the emotion).
    """
    rows = []
    for column, (labels, base, new) in cells.items():
        base_ok = (np.asarray(base).argmax(-1) if np.asarray(base).ndim == 3 else np.asarray(base)) == labels
        correct = class_hits(np.atleast_2d(base_ok), np.asarray(labels), NUM_CLASSES).mean(0)
        for measure in measures:
            for k, (emo, e) in enumerate(zip(EMOTIONS, class_changes(labels, base, new, measure))):
                rows.append(_row(emo, column, measure, e, float(correct[k])))
    return pd.DataFrame(rows)


def accuracy(labels: np.ndarray, preds: np.ndarray) -> Estimate:
    """Test accuracy in percent over seeds: (S, N) predictions of the same faces."""
    ok = np.asarray(preds) == np.asarray(labels)
    return bounded(estimates(lambda i: 100 * ok[:, i].mean(), lambda i: 100 * ok[:, i].mean(1)[:, None], labels)[0],
                   0, 100)


def macro_f1(labels: np.ndarray, preds: np.ndarray) -> Estimate:
    """Macro F1 over seeds (the mean of the seeds' F1): (S, N) predictions of the same faces."""
    labels, preds = np.asarray(labels), np.asarray(preds)

    def per_seed(i):
        return np.array([[f1_score(labels[i], p[i], average="macro", zero_division=0)] for p in preds])
    return bounded(estimates(lambda i: per_seed(i).mean(), per_seed, labels, draws=200)[0], 0, 1)


def accuracy_difference(labels: np.ndarray, base: np.ndarray, new: np.ndarray) -> Estimate:
    """Change of test accuracy in percentage points from ``base`` to ``new`` ((S, N) each, paired by seed)."""
    b, n = np.asarray(base) == labels, np.asarray(new) == labels
    return bounded(estimates(lambda i: 100 * (n[:, i].mean() - b[:, i].mean()),
                             lambda i: 100 * (n[:, i].mean(1) - b[:, i].mean(1))[:, None], labels)[0], -100, 100)


#: how an estimate is stored in a wide table row, by the suffix of its column (``<prefix>``, ``<prefix> ci``, ...)
ESTIMATE_COLUMNS = {"ci": "half", "pred": "pred_half", "lo": "lo", "hi": "hi", "sd": "sd_seed", "se_test": "se_test"}


def estimate_columns(prefix: str, e: Estimate, parts=("ci", "pred")) -> dict:
    """An estimate as columns of a wide table row: ``<prefix>`` (its value) and ``<prefix> <part>`` for each part
    (:data:`ESTIMATE_COLUMNS`). The one place Table 2's and the variants' columns are named."""
    return {prefix: e.value, **{f"{prefix} {part}": getattr(e, ESTIMATE_COLUMNS[part]) for part in parts}}


def estimate_from(row, prefix: str) -> Estimate:
    """The estimate :func:`estimate_columns` stored in a row (its seeds and test faces from the row's ``seeds`` and
    ``test faces``); parts the row lacks stay unknown."""
    get = (lambda k: row.get(k, math.nan)) if hasattr(row, "get") else (lambda k: getattr(row, k, math.nan))
    parts = {attr: float(get(f"{prefix} {part}")) for part, attr in ESTIMATE_COLUMNS.items()}
    return Estimate(float(get(prefix)), parts["half"], parts["pred_half"], int(get("seeds")),
                    int(get("test faces")) if math.isfinite(float(get("test faces"))) else 0,
                    lo=parts["lo"], hi=parts["hi"], sd_seed=parts["sd_seed"], se_test=parts["se_test"])


def estimate_row(e: Estimate) -> dict:
    """An estimate's numbers as table columns (``mean``, ``lo``, ``hi``, ``ci``, ``pred_lo``, ``pred_hi``, ``pred``,
    ``sd_seed``, ``se_test``, ``seeds``, ``test_faces``)."""
    return {"mean": e.value, "lo": e.lo, "hi": e.hi, "ci": e.half, "pred_lo": e.pred_lo, "pred_hi": e.pred_hi,
            "pred": e.pred_half, "sd_seed": e.sd_seed, "se_test": e.se_test, "seeds": e.seeds,
            "test_faces": e.test_faces}


def largest_drop(long: pd.DataFrame, measure: str = "relative") -> dict:
    """The most negative estimable mean change in a long table: ``{"row", "column", "mean", "lo", "hi", "seeds",
    "verdict"}`` (empty if none)."""
    if "measure" in long:
        long = long[long["measure"] == measure]
    if "estimable" in long:
        long = long[long["estimable"].astype(bool)]
    if long.empty or long["mean"].isna().all():
        return {}
    r = long.loc[long["mean"].idxmin()]
    return {k: r[k] for k in ("row", "column", "mean", "lo", "hi", "seeds", "verdict")}


def of_measure(long: pd.DataFrame, measure: str = "relative") -> pd.DataFrame:
    """The rows of one measure (a table without a ``measure`` column is returned as it is)."""
    return long[long["measure"] == measure] if "measure" in long else long


def wide(long: pd.DataFrame, value: str = "mean", index=EMOTIONS, measure: str = "relative") -> pd.DataFrame:
    """A wide table (rows x columns) of one value of one measure of a long table, in the original orders."""
    long = of_measure(long, measure)
    columns = list(dict.fromkeys(long["column"]))
    out = long.pivot(index="row", columns="column", values=value).reindex(index=list(index), columns=columns)
    out.index.name, out.columns.name = "emotion" if index is EMOTIONS else "row", None
    return out


def cell_text(r, measure: str = "relative") -> str:
    """One cell as a person writes it: ``-35 % [-48, -19]``, ``-4.1 pp ± 2.0``, ``not estimable (3.0 correct
    faces per seed)``, ``-12 % (n = 1, no interval)``."""
    if not bool(r.get("estimable", True)):
        return f"not estimable ({r['base_correct']:.1f} correct faces per seed)"
    if measure == "relative":
        return fmt_relative(r["mean"], r["lo"], r["hi"], 0)
    digits = 3 if measure == "auc" else 1
    return fmt_ci(r["mean"], r["ci"], digits, UNITS[measure], int(r["seeds"]))


def formatted(long: pd.DataFrame, measure: str = "relative") -> pd.DataFrame:
    """The paper's layout with one measure's cells as text (:func:`cell_text`); emotions with fewer than 100 test
    faces are flagged in the row label."""
    sub = of_measure(long, measure)
    text = sub.assign(text=[cell_text(r, measure) for _, r in sub.iterrows()])
    out = wide(text, "text", measure=measure)
    faces = sub.groupby("row")["test_faces"].min()
    out.index = [f"{e} ({int(faces[e])} test faces, few)" if e in faces and faces[e] < FEW_TEST_FACES else e
                 for e in out.index]
    out.index.name = "emotion"
    return out


__all__ = ["FEW_TEST_FACES", "MEASURES", "MIN_CORRECT", "accuracy", "accuracy_difference", "cell_text", "change_table",
           "class_changes", "estimate_row", "formatted", "largest_drop", "macro_f1", "of_measure", "percent_change",
           "verdict", "wide"]
