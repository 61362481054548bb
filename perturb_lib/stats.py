"""Intervals that mean what they say.

Two sources of noise move every number of the study: training (the seed) and the test set (a finite sample of
faces; Disgust has 55 test faces in FER2013). An estimate over seeds therefore carries

* the spread of the per-seed values (a t-interval of their mean; none from one seed), and
* the test-set sampling of the same faces shared by every seed (a bootstrap over test faces, stratified by
  class, that re-evaluates the estimate on resampled faces),

combined into one 95 % interval: ``sqrt((t * se_seed)^2 + (1.96 * se_test)^2)``. To judge a single run reported
elsewhere (the paper's), the right interval is a *prediction* interval for one more run,
``t * sd_seed * sqrt(1 + 1/n)``, not the interval of our mean. One seed gives no interval: it is reported as
"n = 1, no interval", and no verdict is drawn from it.

Relative changes are ratios of mean accuracies (``100 * (mean new / mean base - 1)``), not means of per-seed
ratios, whose heavy tails follow a small base accuracy.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats as sps

Z95 = 1.959963984540054
BOOTSTRAP_DRAWS = 1000


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def t95(n: int) -> float:
    """The two-sided 95 % t quantile with ``n - 1`` degrees of freedom (NaN below 2)."""
    return float(sps.t.ppf(0.975, n - 1)) if n >= 2 else float("nan")


def mean_ci(values, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the ``level`` t-interval of the mean (half-width NaN for fewer than 2 values).

    Args:
        values: numbers, one per seed (None and NaN are dropped).
        level: confidence level.

    Returns:
        ``(mean, half_width)``.
    """
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    half = sps.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def prediction_half_width(values) -> float:
    """Half-width of the 95 % prediction interval for one more run: ``t * sd * sqrt(1 + 1/n)`` (NaN for n < 2)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) < 2:
        return float("nan")
    return float(t95(len(v)) * v.std(ddof=1) * math.sqrt(1 + 1 / len(v)))


def stratified_draws(labels: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> np.ndarray:
    """Bootstrap resamples of test faces that keep each class's count: (draws, N) indices into ``labels``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty((draws, len(labels)), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        out[:, idx] = idx[rng.integers(0, len(idx), (draws, len(idx)))]
    return out


@dataclass
class Estimate:
    """A number with its noise.

    Attributes:
        value: the estimate.
        half: half-width of its 95 % interval (seeds and test faces combined; NaN for one seed).
        pred_half: half-width of the 95 % prediction interval for one more run (NaN for one seed).
        seeds: seeds behind it.
        test_faces: test faces behind it.
    """

    value: float
    half: float
    pred_half: float
    seeds: int
    test_faces: int


def estimates(stat: Callable[[np.ndarray], np.ndarray], per_seed: Callable[[np.ndarray], np.ndarray],
              labels: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
              faces_per_value: np.ndarray | None = None) -> list[Estimate]:
    """Estimates (a vector of them, e.g. one per class) with seed spread and test-set sampling combined.

    Args:
        stat: ``stat(index (N,)) -> (K,)`` the estimates over all seeds, on the test faces ``index``.
        per_seed: ``per_seed(index (N,)) -> (S, K)`` the same quantities per seed (their spread is the seed noise).
        labels: (N,) test labels (resamples keep each class's count).
        draws: bootstrap resamples of the test faces.
        seed: seed of the resampling.
        faces_per_value: (K,) test faces behind each value (default: all N).

    Returns:
        K estimates.
    """
    everything = np.arange(len(labels))
    value = np.atleast_1d(np.asarray(stat(everything), dtype=np.float64))
    values = np.asarray(per_seed(everything), dtype=np.float64).reshape(-1, len(value))
    boot = np.array([np.atleast_1d(stat(idx)) for idx in stratified_draws(labels, draws, seed)], dtype=np.float64)
    with warnings.catch_warnings():  # a class absent from the test faces has no bootstrap spread: NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        se_test = np.nanstd(boot, axis=0, ddof=1)
    faces = faces_per_value if faces_per_value is not None else np.full(len(value), len(labels))
    out = []
    for k in range(len(value)):
        v = values[:, k][np.isfinite(values[:, k])]
        if len(v) < 2 or not math.isfinite(value[k]):
            out.append(Estimate(float(value[k]), float("nan"), float("nan"), len(v), int(faces[k])))
            continue
        se_seed = float(v.std(ddof=1) / math.sqrt(len(v)))
        half = math.sqrt((t95(len(v)) * se_seed) ** 2 + (Z95 * float(se_test[k])) ** 2)
        out.append(Estimate(float(value[k]), half, prediction_half_width(v), len(v), int(faces[k])))
    return out


def recalls(correct: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Per-class recall of per-face correctness: (..., N) bool -> (..., classes), NaN where a class is absent."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    hits = np.stack([correct[..., labels == c].sum(-1) for c in range(classes)], -1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / counts, np.nan)


def within_noise(mean, half_width) -> bool | None:
    """Whether the interval includes zero; None when there is no interval (one seed) or no value."""
    mean, half_width = _nan(mean), _nan(half_width)
    if math.isnan(mean) or math.isnan(half_width):
        return None
    return bool(abs(mean) <= half_width)


def fmt_ci(mean, half_width, digits: int = 1, unit: str = "", seeds: int | None = None, mark: bool = True) -> str:
    """``-12.3 ± 4.5``, ``-1.2 ± 4.5 inconclusive (3 seeds)`` when the interval includes 0 (``mark``),
    ``-12.3 (n = 1, no interval)`` for one seed, or ``--`` for no value."""
    mean, half_width = _nan(mean), _nan(half_width)
    if math.isnan(mean):
        return "--"
    text = f"{mean:.{digits}f}{unit}"
    if math.isnan(half_width):
        return text + " (n = 1, no interval)"
    text += f" ± {half_width:.{digits}f}"
    if mark and abs(mean) <= half_width:
        text += f" inconclusive ({seeds} seeds)" if seeds else " inconclusive"
    return text
