"""Summaries over seeds: mean and a 95% t-interval, and whether a change is within noise."""
from __future__ import annotations

import math

import numpy as np


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the ``level`` t-interval of the mean (half-width NaN for fewer than 2 values).

    Args:
        values: numbers, one per seed (NaNs are dropped).
        level: confidence level.

    Returns:
        ``(mean, half_width)``.
    """
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    from scipy import stats
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def within_noise(mean: float, half_width: float) -> bool:
    """True when the interval includes zero (or cannot be computed from one seed)."""
    return bool(math.isnan(half_width) or abs(mean) <= half_width)


def fmt_ci(mean: float, half_width: float, digits: int = 1, unit: str = "", mark_noise: bool = True) -> str:
    """``-12.3 ± 4.5`` (with ``~`` when the interval includes zero); ``--`` for NaN."""
    if math.isnan(mean):
        return "--"
    text = f"{mean:.{digits}f}{unit}"
    if not math.isnan(half_width):
        text += f" ± {half_width:.{digits}f}"
    if mark_noise and not math.isnan(half_width) and abs(mean) <= half_width:
        text += " ~"
    return text
