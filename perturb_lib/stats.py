"""Intervals that mean what they say.

Two sources of noise move every number of the study: training (the seed) and the test set (a finite sample of
faces; Disgust has 55 test faces in FER2013). An estimate over seeds therefore carries

* the spread of the per-seed values (a t-interval of their mean; none from one seed), and
* the test-set sampling of the same faces shared by every seed (a bootstrap over test faces, stratified by
  class, that re-evaluates the estimate on resampled faces),

combined into one 95 % interval: ``sqrt((t * se_seed)^2 + (1.96 * se_test)^2)``. To judge a single run reported
elsewhere (the paper's), the right interval is a *prediction* interval for one more run, which holds the seed
spread of one run and the test-face noise of one measurement: ``sqrt((t * sd_seed * sqrt(1 + 1/n))^2 +
(1.96 * se_test)^2)``. One seed gives no interval: it is reported as "n = 1, no interval", and no verdict is drawn
from it.

Relative changes (the paper's Table 1 unit) are ratios of mean accuracies, ``100 * (mean new / mean base - 1)``,
and their intervals are computed on the log-ratio scale, so no bound falls below -100 %: the counts of correct faces
get 0.5 added (a continuity correction), so a class whose accuracy falls to 0 still has a finite upper bound. A
class with fewer than :data:`MIN_CORRECT` correct test faces per seed at baseline supports no ratio: it is "not
estimable", never "± 0".
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
#: fewest correct test faces per seed, at baseline, behind a relative change (below: "not estimable")
MIN_CORRECT = 10
NAN = float("nan")


def _nan(x) -> float:
    return NAN if x is None else float(x)


def t95(n: int) -> float:
    """The two-sided 95 % t quantile with ``n - 1`` degrees of freedom (NaN below 2)."""
    return float(sps.t.ppf(0.975, n - 1)) if n >= 2 else NAN


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
        half: half-width of its 95 % interval (seeds and test faces combined; NaN for one seed); for an interval
            that is not symmetric (a ratio's), NaN, and ``lo``/``hi`` hold it.
        pred_half: half-width of the 95 % prediction interval for one more run (seed spread and test faces).
        seeds: seeds behind it.
        test_faces: test faces behind it.
        lo, hi: the 95 % interval's bounds.
        pred_lo, pred_hi: the prediction interval's bounds.
        sd_seed: the standard deviation of the per-seed values (in the scale the interval is computed on).
        se_test: the test-face standard error (same scale).
        estimable: False when the data cannot support the quantity (a ratio over too few correct faces).
        scale: ``linear`` or ``log`` (a ratio: its interval is symmetric in the log of the ratio).
    """

    value: float
    half: float
    pred_half: float
    seeds: int
    test_faces: int
    lo: float = NAN
    hi: float = NAN
    pred_lo: float = NAN
    pred_hi: float = NAN
    sd_seed: float = NAN
    se_test: float = NAN
    estimable: bool = True
    scale: str = "linear"

    def __post_init__(self):
        if self.scale == "linear":
            if math.isnan(self.lo) and not math.isnan(self.half):
                self.lo, self.hi = self.value - self.half, self.value + self.half
            if math.isnan(self.pred_lo) and not math.isnan(self.pred_half):
                self.pred_lo, self.pred_hi = self.value - self.pred_half, self.value + self.pred_half

    @property
    def has_interval(self) -> bool:
        return self.estimable and not (math.isnan(self.lo) or math.isnan(self.hi))

    def seeds_to_reach(self, margin: float) -> int | None:
        """Seeds at which the 95 % interval of the mean would be narrower than ``margin`` on each side (in the
        scale the interval is computed on), with this spread; None when the test faces alone are noisier than
        that (more seeds cannot decide it) or when there is no spread to extrapolate from."""
        if math.isnan(self.sd_seed) or math.isnan(self.se_test) or margin <= 0:
            return None
        test_part = Z95 * self.se_test
        if test_part >= margin:
            return None
        for n in range(2, 1001):
            if t95(n) * self.sd_seed / math.sqrt(n) <= math.sqrt(margin ** 2 - test_part ** 2):
                return n
        return None


#: the two kinds of interval a verdict judges against: the 95 % interval of the mean (over seeds and test faces), and
#: the 95 % prediction interval for one more run (a single run, as the paper reports, is judged against it)
MEAN, ONE_MORE_RUN = "mean", "one more run"


def position(lo: float, hi: float, value: float) -> str:
    """Where ``value`` lies against the interval ``[lo, hi]``: ``below`` it, ``above`` it, ``inside``, or ``none``
    (no interval). The one test every verdict of the study is made of (:func:`judge`)."""
    if math.isnan(lo) or math.isnan(hi):
        return "none"
    return "above" if value > hi else "below" if value < lo else "inside"


def judge(e: "Estimate", value: float, interval: str = MEAN) -> str:
    """Where ``value`` lies against an estimate's interval of the given kind (:data:`MEAN` or :data:`ONE_MORE_RUN`):
    ``below``, ``above``, ``inside``, or ``none`` when the estimate has no such interval (one seed, not estimable).
    Each table words it its own way: a change against 0 (increase, decrease), a claimed value (confirmed, refuted),
    a paper's single run (differs, consistent)."""
    if not e.estimable:
        return "none"
    lo, hi = (e.lo, e.hi) if interval == MEAN else (e.pred_lo, e.pred_hi)
    if interval == MEAN and not e.has_interval:
        return "none"
    return position(lo, hi, value)


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
    se_test = _nanstd(boot)
    faces = faces_per_value if faces_per_value is not None else np.full(len(value), len(labels))
    out = []
    for k in range(len(value)):
        v = values[:, k][np.isfinite(values[:, k])]
        out.append(_combine(float(value[k]), v, float(se_test[k]), int(faces[k])))
    return out


def _nanstd(boot: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # a class absent from the test faces has no bootstrap spread: NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(boot, axis=0, ddof=1)


def _combine(value: float, per_seed: np.ndarray, se_test: float, faces: int) -> Estimate:
    """A linear-scale estimate from its per-seed values and its test-face standard error."""
    n = len(per_seed)
    if n < 2 or not math.isfinite(value):
        return Estimate(value, NAN, NAN, n, faces, se_test=se_test)
    sd = float(per_seed.std(ddof=1))
    half = math.hypot(t95(n) * sd / math.sqrt(n), Z95 * se_test)
    pred = math.hypot(t95(n) * sd * math.sqrt(1 + 1 / n), Z95 * se_test)
    return Estimate(value, half, pred, n, faces, sd_seed=sd, se_test=se_test)


def class_hits(correct: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Correct faces per class: (S, N) bool -> (S, classes)."""
    onehot = np.eye(classes, dtype=np.float64)[labels]
    return np.asarray(correct, dtype=np.float64) @ onehot


def recalls(correct: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Per-class recall of per-face correctness: (..., N) bool -> (..., classes), NaN where a class is absent."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    hits = np.stack([correct[..., labels == c].sum(-1) for c in range(classes)], -1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / counts, np.nan)


def ratio_estimates(base_ok: np.ndarray, new_ok: np.ndarray, labels: np.ndarray, classes: int,
                    draws: int = BOOTSTRAP_DRAWS, seed: int = 0, min_correct: int = MIN_CORRECT) -> list[Estimate]:
    """Per-class relative change of accuracy, ``100 * (mean new / mean base - 1)``, with intervals on the
    log-ratio scale.

    Args:
        base_ok, new_ok: (S, N) whether each seed's model got each test face right, before and after (paired:
            the same seeds, the same faces).
        labels: (N,) the faces' classes.
        classes: number of classes.
        draws: bootstrap resamples of the test faces.
        seed: seed of the resampling.
        min_correct: fewest correct faces per seed at baseline for a ratio (else not estimable).

    Returns:
        One estimate per class (``scale="log"``: ``lo``/``hi`` and ``pred_lo``/``pred_hi`` in percent, never
        below -100; ``sd_seed`` and ``se_test`` on the log scale).
    """
    labels = np.asarray(labels)
    base_ok, new_ok = np.atleast_2d(base_ok), np.atleast_2d(new_ok)
    s = len(base_ok)
    b, c = class_hits(base_ok, labels, classes), class_hits(new_ok, labels, classes)  # (S, K)
    faces = np.bincount(labels, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(b.sum(0) > 0, 100 * (c.sum(0) / b.sum(0) - 1), np.nan)
    log_ratio = np.log((c.sum(0) + 0.5) / (b.sum(0) + 0.5))
    per_seed = np.log((c + 0.5) / (b + 0.5))
    onehot = np.eye(classes)[labels]
    boot = np.empty((draws, classes))
    for d, idx in enumerate(stratified_draws(labels, draws, seed)):
        bb = base_ok[:, idx].sum(0) @ onehot[idx]  # summed over seeds: (K,)
        cc = new_ok[:, idx].sum(0) @ onehot[idx]
        boot[d] = np.log((cc + 0.5) / (bb + 0.5))
    se_test = _nanstd(boot)
    out = []
    for k in range(classes):
        estimable = bool(faces[k] > 0 and b[:, k].mean() >= min_correct)
        e = Estimate(float(value[k]), NAN, NAN, s, int(faces[k]), se_test=float(se_test[k]), estimable=estimable,
                     scale="log")
        if s >= 2 and faces[k] > 0:
            sd = float(per_seed[:, k].std(ddof=1))
            half = math.hypot(t95(s) * sd / math.sqrt(s), Z95 * se_test[k])
            pred = math.hypot(t95(s) * sd * math.sqrt(1 + 1 / s), Z95 * se_test[k])
            e.sd_seed = sd
            e.lo, e.hi = (100 * (math.exp(log_ratio[k] + sign * half) - 1) for sign in (-1, 1))
            e.pred_lo, e.pred_hi = (100 * (math.exp(log_ratio[k] + sign * pred) - 1) for sign in (-1, 1))
            if math.isfinite(e.value):  # the corrected centre can sit beside an extreme ratio (e.g. a fall to 0)
                e.lo, e.hi = min(e.lo, e.value), max(e.hi, e.value)
                e.pred_lo, e.pred_hi = min(e.pred_lo, e.value), max(e.pred_hi, e.value)
        out.append(e)
    return out


def auc_one_vs_rest(scores: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """One-vs-rest ROC AUC per class from scores (..., N, C) (logits or probabilities): the probability that a face
    of the class scores higher for it than a face of another class (ties count half). (..., C); NaN for a class
    with no faces."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape[:-2] + (classes,), np.nan)
    for k in range(classes):
        pos = labels == k
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        # a face's score for class k against the others: its logit margin (rank-equivalent to softmax p_k)
        s = scores[..., k] - _logsumexp_except(scores, k)
        ranks = sps.rankdata(s, axis=-1)
        out[..., k] = (ranks[..., pos].sum(-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return out


def _logsumexp_except(scores: np.ndarray, k: int) -> np.ndarray:
    others = np.delete(scores, k, axis=-1)
    m = others.max(-1, keepdims=True)
    return (m + np.log(np.exp(others - m).sum(-1, keepdims=True)))[..., 0]


def auc_change_estimates(base_scores: np.ndarray, new_scores: np.ndarray, labels: np.ndarray, classes: int,
                         draws: int = 200, seed: int = 0) -> list[Estimate]:
    """Per-class change of one-vs-rest AUC (a measure free of the decision threshold) from ``base`` to ``new``
    scores, (S, N, C) each, paired: the seed mean of the per-seed differences, with its interval."""
    labels = np.asarray(labels)

    def per_seed(idx):
        return auc_one_vs_rest(new_scores[:, idx], labels[idx], classes) - \
            auc_one_vs_rest(base_scores[:, idx], labels[idx], classes)
    return estimates(lambda idx: per_seed(idx).mean(0), per_seed, labels, draws, seed,
                     np.bincount(labels, minlength=classes))


def seeds_text(n) -> str:
    """``1 seed``, ``3 seeds``."""
    n = int(n)
    return f"{n} seed{'s' if n != 1 else ''}"


def count_span(counts) -> str:
    """``5`` when the counts agree, ``3-5`` when they differ (``0`` for none): how many seeds a table's columns have."""
    counts = sorted({int(n) for n in counts}) or [0]
    return f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"


def fmt_ci(mean, half_width, digits: int = 1, unit: str = "", seeds: int | None = None, mark: bool = True) -> str:
    """``-12.3 ± 4.5``, ``-1.2 ± 4.5, not decided (3 seeds)`` when the interval includes 0 (``mark``),
    ``-12.3 (n = 1, no interval)`` for one seed, ``0.0 (no spread over seeds or faces: not estimable)`` for a
    zero-width interval (never "± 0"), or ``--`` for no value."""
    mean, half_width = _nan(mean), _nan(half_width)
    if math.isnan(mean):
        return "--"
    text = f"{mean:.{digits}f}{unit}"
    if math.isnan(half_width):
        return text + " (n = 1, no interval)"
    if half_width == 0:  # every seed scored every face alike (say, none correct in either condition): no interval
        return text + " (no spread over seeds or faces: not estimable)"
    text += f" ± {half_width:.{digits}f}"
    if mark and abs(mean) <= half_width:
        text += f", not decided ({seeds_text(seeds)})" if seeds else ", not decided"
    return text


def fmt_bounds(value, lo, hi, digits: int = 0, unit: str = " %") -> str:
    """``-35 % [-48, -19]``: a value with an interval that need not be symmetric."""
    value, lo, hi = _nan(value), _nan(lo), _nan(hi)
    if math.isnan(value):
        return "--"
    if math.isnan(lo) or math.isnan(hi):
        return f"{value:.{digits}f}{unit} (n = 1, no interval)"
    return f"{value:.{digits}f}{unit} [{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_relative(value, lo, hi, digits: int = 0) -> str:
    """A relative change in percent with its log-ratio interval: ``-35 % [-48, -19]``.

    A ratio and every bound of its log-ratio interval lie above -100 %, so none is written as -100: one that rounds
    to it gets the decimals that keep it above (``-99.7``), or reads ``> -100``. Where no face is correct after
    the change in any seed, the ratio is 0 and its logarithm has no interval: ``-100 % (no face correct after; at
    most -98)``, the upper bound alone.
    """
    value, lo, hi = _nan(value), _nan(lo), _nan(hi)
    if math.isnan(value):
        return "--"
    if math.isnan(lo) or math.isnan(hi):
        return f"{_above_minus_100(value, digits)} % (n = 1, no interval)"
    if lo <= -100:
        return f"{value:.{digits}f} % (no face correct after; at most {hi:.{digits}f})"
    return f"{_above_minus_100(value, digits)} % [{_above_minus_100(lo, digits)}, {hi:.{digits}f}]"


def _above_minus_100(x: float, digits: int) -> str:
    """``x`` (above -100) as text with ``digits`` decimals, or the few more that keep the text above -100."""
    for d in range(digits, digits + 3):
        text = f"{x:.{d}f}"
        if x <= -100 or float(text) > -100:
            return text
    return "> -100"


def fmt_range(lo, hi, digits: int = 1) -> str:
    """``12.3 to 45.6`` (``--`` without bounds)."""
    lo, hi = _nan(lo), _nan(hi)
    return "--" if math.isnan(lo) or math.isnan(hi) else f"{lo:.{digits}f} to {hi:.{digits}f}"


def bounded(e: Estimate, low: float, high: float) -> Estimate:
    """The estimate with its interval bounds kept inside the quantity's own range (an accuracy in [0, 100])."""
    for name in ("lo", "hi", "pred_lo", "pred_hi"):
        value = getattr(e, name)
        if not math.isnan(value):
            setattr(e, name, min(max(value, low), high))
    return e
