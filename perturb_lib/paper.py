"""The numbers the paper reports, as data, so our results can be set beside them (never used as results).

Columns of the paper's tables cite architectures by reference: [5] DenseNet, [1] DPN, [9] ResMasking,
[4] ResNet, [12] VGG16. The authors' code uses ResNet50 and DPN26 for "ResNet" and "DPN".
"""
from __future__ import annotations

import pandas as pd

from .params import EMOTION_NAMES as EMOTIONS

PAPER_COLUMNS = ("DenseNet", "DPN", "ResMasking", "ResNet", "VGG16", "Ensemble")
#: Table 1's columns that are architectures (its Ensemble repeats its ResMasking column)
ARCHITECTURE_COLUMNS = PAPER_COLUMNS[:-1]

# Table 1: percent change of per-class accuracy, models trained and tested on MaskFer vs on FER2013.
# (The authors' code copy of this table repeats the ResMasking column as "Ensemble"; the paper's text is used.)
TABLE1 = {
    "Angry": (-39, -35, -32, -20, -23, -32),
    "Happy": (-49, -63, -42, -55, -35, -42),
    "Sad": (-12, -24, -4, -16, -8, -4),
    "Neutral": (-51, -60, -53, -60, -43, -53),
    "Surprise": (-19, -26, -35, -19, -20, -35),
    "Disgust": (-49, -59, -39, -49, -49, -39),
    "Fear": (-20, -23, -13, -18, -17, -13),
}

# Table 2: test accuracy (%) and macro F1, baseline and with the Perturb Scheme (None: not reported).
TABLE2_BASELINE = {"DenseNet": (72.6, 0.70), "DPN": (71.2, 0.68), "ResMasking": (66.0, 0.63),
                   "ResNet": (69.2, 0.685), "VGG16": (66.5, 0.653), "Ensemble": (73.4, 0.71)}
TABLE2_PERTURB = {"DenseNet": None, "DPN": (71.9, 0.69), "ResMasking": None, "ResNet": (72.3, 0.70),
                  "VGG16": (69.5, 0.66), "Ensemble": None}

# Table 3: change of per-class accuracy with the Perturb Scheme (percent; None: not reported).
TABLE3 = {
    "Angry": {"DPN": 0.8, "ResNet": 3.5, "VGG16": 12.0},
    "Happy": {"DPN": 2.0, "ResNet": 1.0, "VGG16": -1.0},
    "Sad": {"DPN": 1.5, "ResNet": 1.5, "VGG16": -17.0},
    "Neutral": {"DPN": 1.4, "ResNet": -0.6, "VGG16": 2.2},
    "Surprise": {"DPN": -0.5, "ResNet": 2.1, "VGG16": 1.6},
    "Disgust": {"DPN": -3.6, "ResNet": 5.6, "VGG16": 5.0},
    "Fear": {"DPN": 3.0, "ResNet": 8.4, "VGG16": 18.0},
}

# Figure 5 (accuracy against the number of clusters, VGG16) is published only as a plot; the text says three
# clusters were best. No values are transcribed.
FIGURE5_BEST_CLUSTERS = 3


def paper_column(model: str) -> str:
    """The paper's column for one of our model names (resnet18/34/50 all compare with "ResNet";
    :data:`perturb_lib.params.MODEL_ZOO`), or for the ensemble."""
    from .params import MODEL_ZOO
    if model in MODEL_ZOO:
        return MODEL_ZOO[model].paper_column
    if model.lower() == "ensemble":
        return "Ensemble"
    raise ValueError(f"no paper column for model {model!r}")


def table1_frame() -> pd.DataFrame:
    """The paper's Table 1 as a DataFrame (emotions x columns), in our emotion order."""
    df = pd.DataFrame({e: dict(zip(PAPER_COLUMNS, TABLE1[e])) for e in EMOTIONS}).T
    df.index.name = "emotion"
    return df.astype(float)

# Claims of the paper's text (its abstract and sections 1-3), as data; perturb_lib.claims tests each against ours.
TEXT_HAPPY_MASK_CHANGE = -60.0  # "the accuracy for emotions like happiness dropped by around 60%"
TEXT_FEAR_MASK_CHANGE = -10.0  # "for fear, there was only a slight drop of around 10%"
TEXT_SAD_MASK = "increase"  # "for the emotion sad, there's even a slight increase in accuracy ratio"
TEXT_REMOVAL_CHANGE = -85.0  # "up to an 85% accuracy drop ... for emotions like happy and surprise"
TEXT_REMOVAL_EMOTIONS = ("Happy", "Surprise")
TEXT_REMOVAL_IMPROVES = "Disgust"  # "for the emotion disgust, there seem to be slight improvement in accuracy"


def mask_hurts_most(top: int = 2) -> tuple[str, ...]:
    """The emotions Table 1 names most often among each column's ``top`` largest drops (Happy and Neutral)."""
    counts: dict[str, int] = {}
    for k in range(len(PAPER_COLUMNS)):
        for emotion in sorted(EMOTIONS, key=lambda e: TABLE1[e][k])[:top]:
            counts[emotion] = counts.get(emotion, 0) + 1
    return tuple(sorted(counts, key=lambda e: (-counts[e], EMOTIONS.index(e)))[:top])


def mask_hurts_most_columns(named: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The architectures' columns of Table 1 (not its Ensemble) in which the ``named`` emotions have the largest
    drops: strictly (each below every other emotion), and with ties allowed (at or below)."""
    strict, tied = [], []
    for column in ARCHITECTURE_COLUMNS:
        k = PAPER_COLUMNS.index(column)
        others = [TABLE1[e][k] for e in EMOTIONS if e not in named]
        worst = max(TABLE1[e][k] for e in named)
        strict += [column] if worst < min(others) else []
        tied += [column] if worst <= min(others) else []
    return strict, tied


def perturb_gain(column: str = "VGG16") -> float | None:
    """The Perturb Scheme's gain in test accuracy (points) Table 2 reports for a column (VGG16: +3.0)."""
    base, perturb = TABLE2_BASELINE.get(column), TABLE2_PERTURB.get(column)
    return round(perturb[0] - base[0], 6) if base and perturb else None
