"""Classification metrics over a whole split, from labels and predictions (scikit-learn's definitions).

The authors' code reports the mean of per-class accuracies averaged per batch as "accuracy"; here plain
accuracy, balanced accuracy and macro F1 are computed once over all predictions, with per-class recall (the
paper's "accuracy ratio" per emotion).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from .data.faces import NUM_CLASSES

#: a model that puts more than this share of a split's predictions on one class has collapsed onto it (FER2013's
#: largest class, happy, is a quarter of its faces; a collapsed run's accuracy says nothing about the faces)
COLLAPSE_SHARE = 0.5


def collapsed(metrics: dict) -> bool:
    """Whether a split's predictions concentrate on one class (:data:`COLLAPSE_SHARE`)."""
    return metrics.get("top_prediction_share", 0.0) > COLLAPSE_SHARE


def classification_metrics(y_true, y_pred, num_classes: int = NUM_CLASSES) -> dict:
    """Accuracy, balanced accuracy, macro F1, per-class recall and F1, support, confusion matrix.

    Args:
        y_true: (N,) true class ids.
        y_pred: (N,) predicted class ids.
        num_classes: number of classes.

    Returns:
        A JSON-able dict. Per-class recall is NaN for classes absent from ``y_true``; balanced accuracy averages
        the recall of the classes present in ``y_true``, and macro F1 the F1 of the classes present in
        ``y_true`` or ``y_pred`` (0 where undefined), as scikit-learn computes them. ``top_prediction_share``
        is the share of predictions on the most predicted class (``top_prediction``): above
        :data:`COLLAPSE_SHARE` the model has collapsed (:func:`collapsed`).
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    labels = np.arange(num_classes)
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(1)
    with warnings.catch_warnings():  # absent classes are reported as NaN recall, on purpose
        warnings.simplefilter("ignore")
        recall = np.where(support > 0, skm.recall_score(y_true, y_pred, labels=labels, average=None,
                                                        zero_division=0), np.nan)
        f1 = skm.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
        n = len(y_true)
        return {
            "n": int(n),
            "accuracy": float(skm.accuracy_score(y_true, y_pred)) if n else float("nan"),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)) if n else float("nan"),
            "macro_f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)) if n else float("nan"),
            "per_class_recall": recall.tolist(),
            "per_class_f1": f1.tolist(),
            "support": support.tolist(),
            "confusion": cm.tolist(),
            "top_prediction": int(cm.sum(0).argmax()),
            "top_prediction_share": float(cm.sum(0).max() / n) if n else float("nan"),
        }
