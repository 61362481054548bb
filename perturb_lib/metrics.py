"""Classification metrics over a whole split, from labels and predictions (numpy, no per-batch averaging).

The authors' code reports the mean of per-class accuracies averaged per batch as "accuracy"; here plain
accuracy, balanced accuracy (mean per-class recall, scikit-learn's definition) and macro F1 are computed
once over all predictions, with per-class recall (the paper's "accuracy ratio" per emotion).
"""
from __future__ import annotations

import numpy as np

from .data.faces import NUM_CLASSES


def confusion_matrix(y_true, y_pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(C, C) counts; rows are true classes, columns predictions."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_metrics(y_true, y_pred, num_classes: int = NUM_CLASSES) -> dict:
    """Accuracy, balanced accuracy, macro F1, per-class recall and F1, confusion matrix.

    Args:
        y_true: (N,) true class ids.
        y_pred: (N,) predicted class ids.
        num_classes: number of classes.

    Returns:
        A dict; per-class recall is NaN for classes absent from ``y_true``. Balanced accuracy averages the
        recall of the classes present in ``y_true``, and macro F1 the F1 of the classes present in
        ``y_true`` or ``y_pred`` (F1 is 0 where undefined) - both as scikit-learn computes them.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
    present = (support > 0) | (predicted > 0)
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "balanced_accuracy": float(np.nanmean(recall)) if (support > 0).any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "support": support.tolist(),
        "confusion": cm.tolist(),
    }
