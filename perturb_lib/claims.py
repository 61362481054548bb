"""The paper's claims, each with the verdict our data can support.

Every claim of the paper's text (``perturb_lib.paper``) is tested against our results with one rule. A claim
names a value (a change of -10 %, a gain of +3 points) or a direction (an increase) against the null of no
effect; our 95 % interval of the mean decides it:

* **confirmed**: the interval holds the claimed value (or lies on the claimed side of 0) and excludes 0;
* **refuted**: the interval excludes the claimed value (or lies on the other side of 0);
* **not decided**: the interval holds both the claim and 0; we then say how many seeds would decide it (those
  at which the interval would be narrower than half the distance between the claim and 0, with the spread we
  measured), or that the test faces alone are too few.

Rankings ("masking hurts happy and neutral most") are decided by intervals that do not overlap; the best number
of clusters by the sweep's paired differences to the baseline. The verdicts are about our laptop-scale models;
the evidence column gives each number, interval, measure and seed count.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .experiments import LandmarkResults, MaskFerResults, SchemeResults
from .experiments.scheme import configuration, paper_configuration
from .paper import (ARCHITECTURE_COLUMNS, FIGURE5_BEST_CLUSTERS, TABLE2_BASELINE, TEXT_FEAR_MASK_CHANGE,
                    TEXT_HAPPY_MASK_CHANGE, TEXT_REMOVAL_CHANGE, TEXT_REMOVAL_EMOTIONS, TEXT_REMOVAL_IMPROVES, TEXT_SAD_MASK, mask_hurts_most,
                    mask_hurts_most_columns, paper_column, perturb_gain)
from .stats import Z95, Estimate, fmt_bounds, fmt_ci, fmt_relative, judge, seeds_text, t95
from .tables import cell_text, estimate_from, of_measure

CONFIRMED, REFUTED, UNDECIDED = "confirmed", "refuted", "not decided"
COLUMNS = ["claim", "the paper", "verdict", "evidence", "what would decide it"]


def _estimate(r) -> Estimate:
    return Estimate(float(r["mean"]), float(r.get("ci", np.nan)), float(r.get("pred", np.nan)), int(r["seeds"]),
                    int(r.get("test_faces", 0)), lo=float(r["lo"]), hi=float(r["hi"]),
                    sd_seed=float(r.get("sd_seed", np.nan)), se_test=float(r.get("se_test", np.nan)),
                    estimable=bool(r.get("estimable", True)),
                    scale="log" if r.get("measure") == "relative" else "linear")


def _to_scale(value: float, scale: str) -> float:
    return math.log1p(value / 100) if scale == "log" else value


def decide(e: Estimate, claimed: float | None, direction: int = 0) -> tuple[str, str]:
    """A verdict on a claimed value (or, with ``claimed`` None, a direction: +1 increase, -1 decrease) from our
    interval, and what would decide it when it is not decided."""
    if not e.estimable:
        return UNDECIDED, "more correct test faces than FER2013 has for this class (not estimable)"
    zero = judge(e, 0.0)
    if zero == "none":
        return UNDECIDED, "at least 2 seeds (there is no interval from one)"
    if claimed is None:
        if zero != "inside":  # 0 below the interval: an increase
            return (CONFIRMED if (zero == "below") == (direction > 0) else REFUTED), ""
        target = abs(e.value) if e.value else None
    else:
        if judge(e, claimed) != "inside":
            return REFUTED, ""
        if zero != "inside":
            return CONFIRMED, ""
        target = claimed
    if not target:
        return UNDECIDED, "an effect other than none (ours is 0 on average)"
    margin = abs(_to_scale(target, e.scale)) / 2
    n = e.seeds_to_reach(margin)
    if n is None:
        return UNDECIDED, (f"more test faces: their noise alone (± {Z95 * e.se_test:.2g} on the "
                           f"{'log-ratio' if e.scale == 'log' else 'same'} scale) exceeds half the distance to 0")
    return UNDECIDED, f"about {n} seeds (now {e.seeds}) with this spread"


def _evidence(r, measure: str, what: str) -> str:
    return f"{what}: {cell_text(r, measure)} ({measure}, {seeds_text(int(r['seeds']))})"


def _cell(long: pd.DataFrame, emotion: str, column: str | None = None, measure: str = "relative"):
    sub = of_measure(long, measure)
    sub = sub[sub["row"] == emotion]
    if column is not None:
        sub = sub[sub["column"] == column]
    return sub.iloc[0] if len(sub) else None


def ranking_claim(long: pd.DataFrame, named: tuple[str, ...], measure: str) -> tuple[str, str, str]:
    """Are the ``named`` emotions hurt most? Confirmed when each named emotion's interval lies below every other
    emotion's; refuted when some named emotion's interval lies above those of ``len(named)`` others; else not
    decided."""
    sub = of_measure(long, measure).set_index("row")
    if sub.empty:
        return UNDECIDED, "", "a table of changes"
    order = sub["mean"].sort_values().index.tolist()
    text = "; ".join(f"{e} {cell_text(sub.loc[e], measure)}" for e in order[:len(named) + 1])
    others = [e for e in sub.index if e not in named]
    if all(sub.loc[n, "hi"] < sub.loc[o, "lo"] for n in named for o in others):
        return CONFIRMED, f"most hurt by {measure}: {text}", ""
    if any(sum(sub.loc[n, "lo"] > sub.loc[o, "hi"] for o in others) >= len(named) for n in named):
        return REFUTED, f"most hurt by {measure}: {text}", ""
    return UNDECIDED, f"most hurt by {measure}: {text}", "more seeds (the intervals of the ranked emotions overlap)"


# what the profile's design needs, and the command that grows it
NO_REMOVAL_RUNS = ("removal-trained runs, at least 3 seeds of every region (the design's removal_train_regions and "
                   "removal_train_seeds; python -m perturb_lib.grow --only removal)")
NO_SWEEP_RUNS = ("the sweep's runs, at least 3 seeds (the design's cluster_sweep and sweep_seeds; "
                 "python -m perturb_lib.grow --only sweep)")


def claims(maskfer: MaskFerResults | None, scheme: SchemeResults | None, model: str = "vgg16",
           landmarks: LandmarkResults | None = None) -> pd.DataFrame:
    """The claims table: each claim of the paper, our verdict, its evidence and what would decide it.

    Args:
        maskfer: notebook 01's results (None: its claims are left out).
        scheme: notebook 03's results (None: its claims are left out).
        model: the backbone the claims are tested on (the paper's text is about its models in general; its
            numbers are VGG16's where a column is needed).
        landmarks: notebook 04's results: the second seed paper's two claims, per model family (None: left out).

    Returns:
        A table with :data:`COLUMNS`.
    """
    rows = []

    def add(claim, paper, verdict, evidence, decide_by=""):
        rows.append({"claim": claim, "the paper": paper, "verdict": verdict, "evidence": evidence,
                     "what would decide it": decide_by if verdict == UNDECIDED else ""})

    if maskfer is not None and not maskfer.table1.empty:
        t1 = maskfer.table1[maskfer.table1["column"] == model]
        named = mask_hurts_most()
        # the ranking for every architecture (and the ensemble) that Table 1 holds: does it hold across them?
        columns = [model] + [c for c in dict.fromkeys(maskfer.table1["column"]) if c != model]
        hurt = " and ".join(e.lower() for e in named)
        paper_ranking = f"the two largest drops of its Table 1, most often: {', '.join(named)}"
        strict, tied = mask_hurts_most_columns(named)
        verdicts: dict[str, dict[str, tuple[str, str]]] = {"auc": {}, "points": {}}
        for column in columns:
            for measure in ("auc", "points"):
                verdict, evidence, by = ranking_claim(maskfer.table1[maskfer.table1["column"] == column], named,
                                                      measure)
                add(f"masking hurts {hurt} most ({column}, {measure})", paper_ranking, verdict, evidence, by)
                if column in maskfer.models:  # an architecture (the ensemble is not one of its own)
                    verdicts[measure][column] = verdict, by
        for measure, of_column in verdicts.items():
            if len(of_column) >= 2:  # the paper's "most often": its own Table 1 has them first in most columns
                verdict, evidence, by = members_claim(of_column, "most")
                add(f"masking hurts {hurt} most, in most architectures ({measure})",
                    f"{', '.join(named)} are its two largest drops in {len(strict)} of its "
                    f"{len(ARCHITECTURE_COLUMNS)} architectures ({len(tied)} with ties: {', '.join(tied)})",
                    verdict, evidence, by)
        for emotion, claimed, paper_text in (("Happy", TEXT_HAPPY_MASK_CHANGE, "about -60 % (text)"),
                                             ("Fear", TEXT_FEAR_MASK_CHANGE, "only about -10 % (text)")):
            r = _cell(t1, emotion)
            if r is not None:
                verdict, by = decide(_estimate(r), claimed)
                add(f"masking: {emotion.lower()} changes by about {claimed:+.0f} %", paper_text, verdict,
                    _evidence(r, "relative", emotion), by)
        r = _cell(t1, "Sad")
        if r is not None:
            verdict, by = decide(_estimate(r), None, +1 if TEXT_SAD_MASK == "increase" else -1)
            add("masking: sad slightly increases", "a slight increase (text; every sad cell of its Table 1 is "
                "negative)", verdict, _evidence(r, "relative", "Sad"), by)
    if maskfer is not None and maskfer.removal_trained.empty:  # claims of the paper stay listed, undecided
        for emotion in TEXT_REMOVAL_EMOTIONS:
            add(f"removing a feature in training drops {emotion.lower()} strongly (up to {TEXT_REMOVAL_CHANGE:.0f} %)",
                f"up to {TEXT_REMOVAL_CHANGE:.0f} % for happy and surprise (abstract)", UNDECIDED,
                "no removal-trained runs in this study", NO_REMOVAL_RUNS)
        add(f"removing a feature slightly improves {TEXT_REMOVAL_IMPROVES.lower()}", "a slight improvement (abstract)",
            UNDECIDED, "no removal-trained runs in this study", NO_REMOVAL_RUNS)
    if maskfer is not None and not maskfer.removal_trained.empty:
        removed = maskfer.removal_trained
        for emotion in TEXT_REMOVAL_EMOTIONS:
            sub = of_measure(removed, "relative")
            sub = sub[(sub["row"] == emotion) & sub["estimable"].astype(bool)]
            if sub.empty:
                continue
            r = sub.loc[sub["mean"].idxmin()]
            verdict, by = decide(_estimate(r), TEXT_REMOVAL_CHANGE)
            add(f"removing a feature in training drops {emotion.lower()} strongly (up to {TEXT_REMOVAL_CHANGE:.0f} %)",
                f"up to {TEXT_REMOVAL_CHANGE:.0f} % for happy and surprise (abstract)", verdict,
                _evidence(r, "relative", f"{emotion} without the {r['column']}"), by)
        sub = of_measure(removed, "points")
        sub = sub[sub["row"] == TEXT_REMOVAL_IMPROVES]
        if len(sub):
            r = sub.loc[sub["mean"].idxmax()]
            verdict, by = decide(_estimate(r), None, +1)
            add(f"removing a feature slightly improves {TEXT_REMOVAL_IMPROVES.lower()}",
                "a slight improvement (abstract)", verdict,
                _evidence(r, "points", f"{TEXT_REMOVAL_IMPROVES} without the {r['column']} (its best region)"), by)
    if scheme is not None and not scheme.table2.empty and "delta acc lo" in scheme.table2:
        t2 = scheme.table2.set_index("model")
        backbones = [m for m in [model] + [b for b in t2.index if b != model]
                     if m in t2.index and np.isfinite(float(t2.loc[m, "delta acc"]))]
        helps: dict[str, tuple[str, str]] = {}  # each backbone's verdict on "the Perturb Scheme raises its accuracy"
        for backbone in backbones:  # every backbone with Perturb runs, against the paper's gain for its column
            r = t2.loc[backbone]
            column = paper_column(backbone)
            gain = perturb_gain(column)
            if gain is None:
                continue
            e = estimate_from(r, "delta acc")
            helps[backbone] = decide(e, None, +1)
            verdict, by = decide(e, gain)
            add(f"the Perturb Scheme adds about {gain:+.1f} points of accuracy ({backbone})",
                f"{gain:+.1f} points (Table 2, {column})", verdict,
                f"{fmt_ci(e.value, e.half, 2, ' pp', mark=False)} ({seeds_text(int(r['seeds']))}, paired by seed; "
                f"power to detect {gain:+.1f} pp: {power(e, gain):.0%})", by)
        if len(helps) >= 2:  # the paper reports a gain for each of its three backbones
            gains = [perturb_gain(paper_column(b)) for b in helps]
            paper_gains = f"{min(gains):+.1f} to {max(gains):+.1f} points (Table 2, each backbone)"
            for rule in ("some", "every"):
                verdict, evidence, by = members_claim(helps, rule)
                add(f"the Perturb Scheme raises the accuracy of {rule} backbone", paper_gains, verdict, evidence, by)
    variants = getattr(scheme, "variants", None)
    if variants is not None and not variants.empty:
        for _, r in variants.iterrows():
            if not r["recipe"]:
                continue  # the variants that move the clusters are in the variant table; a stronger model's is a claim
            gain = perturb_gain(paper_column(scheme.sweep_model))
            e = variant_estimate(r)
            verdict, by = decide(e, gain)
            column = paper_column(scheme.sweep_model)
            add(f"the Perturb Scheme adds about {gain:+.1f} points of accuracy with a stronger model "
                f"({scheme.sweep_model}, {r['changes']})", f"{gain:+.1f} points (Table 2, its {column} at "
                f"{TABLE2_BASELINE[column][0]} %)", verdict,
                f"baseline {r['baseline acc']:.1f} %; change {fmt_ci(e.value, e.half, 2, ' pp', mark=False)} "
                f"({seeds_text(int(r['seeds']))}, paired by seed)", by)
    locations = getattr(scheme, "locations", None)
    if locations is not None and not locations.empty:
        own = locations[locations["variant"] == "paper"]
        seeds = {seed: group for seed, group in own.groupby("seed")}
        if seeds:
            hits = [s for s, g in seeds.items() if paper_configuration(g)]
            verdict = (CONFIRMED if len(seeds) >= 3 and len(hits) == len(seeds) else
                       REFUTED if len(seeds) >= 3 and not hits else UNDECIDED)
            add("the clusters fall two on the eyes, one on the mouth and nose",
                "two clusters on the eyes, one on the mouth and nose (Figure 4's text)", verdict,
                "; ".join(f"seed {s}: {configuration(g)}" for s, g in seeds.items())
                + " (each cluster's dominant region in the shared map of the kept epoch; confirmed when every seed "
                  "of 3 or more shows the paper's, refuted when none does)",
                "at least 3 seeds whose Perturb runs recorded their maps" if len(seeds) < 3 else
                "more seeds (the seeds disagree)")
    if scheme is not None and (scheme.sweep.empty or (scheme.sweep["n_clusters"] > 0).sum() < 2):
        add(f"{FIGURE5_BEST_CLUSTERS} clusters are best", f"{FIGURE5_BEST_CLUSTERS} clusters (Figure 5)", UNDECIDED,
            "no cluster sweep in this study (fewer than two cluster counts)", NO_SWEEP_RUNS)
    elif scheme is not None and "delta lo" in scheme.sweep:
        verdict, evidence, by = best_clusters_claim(scheme.sweep)
        add(f"{FIGURE5_BEST_CLUSTERS} clusters are best", f"{FIGURE5_BEST_CLUSTERS} clusters (Figure 5)", verdict,
            evidence, by)
    if landmarks is not None and not landmarks.overall.empty:
        for _, r in landmarks.overall.iterrows():
            family = r["family"]
            if "delta" in r and np.isfinite(r.get("delta", np.nan)):
                e = _landmark_estimate(r, "delta")
                verdict, by = decide(e, None, +1)
                add(f"reducing the landmarks improves accuracy ({family})", "improves the classification accuracy "
                    "(second paper, abstract)", verdict,
                    f"reduced minus full balanced accuracy, mean over {int(r['emotions'])} emotions: "
                    f"{fmt_bounds(e.value, e.lo, e.hi, 2, ' pp')} ({seeds_text(e.seeds)}, each choosing its own set; "
                    f"{r['kept']:.0f} of {int(r['landmarks'])} landmarks kept on average)", by)
            e = _landmark_estimate(r, "time change")
            verdict, by = decide(e, None, -1)
            size = _landmark_estimate(r, "parameter change")
            add(f"reducing the landmarks lowers the computational cost ({family})", "diminishes the computational "
                "cost (second paper, abstract)", verdict,
                f"inference time per face {fmt_relative(e.value, e.lo, e.hi)}, parameters "
                f"{fmt_relative(size.value, size.lo, size.hi)} (geometric mean over emotions, "
                f"{seeds_text(e.seeds)}; time measured on this machine)", by)
    return pd.DataFrame(rows, columns=COLUMNS)


def _landmark_estimate(r, prefix: str) -> Estimate:
    """An estimate of :attr:`~perturb_lib.experiments.LandmarkResults.overall` (columns ``<prefix>``, ``lo``...)."""
    return Estimate(float(r[prefix]), float(r[f"{prefix} ci"]), float("nan"), int(r[f"{prefix} seeds"]), 0,
                    lo=float(r[f"{prefix} lo"]), hi=float(r[f"{prefix} hi"]), sd_seed=float(r[f"{prefix} sd"]),
                    se_test=float(r[f"{prefix} se_test"]), scale=r[f"{prefix} scale"])


def variant_estimate(r) -> Estimate:
    """The paired change of accuracy of a row of :attr:`~perturb_lib.experiments.SchemeResults.variants`."""
    return estimate_from(r, "delta acc")


def members_claim(verdicts: dict[str, tuple[str, str]], rule: str) -> tuple[str, str, str]:
    """A claim about several members (architectures, backbones) from each one's own verdict, each member tested at
    its own 95 % (no correction for testing several: with more members, one false call grows likelier).

    Args:
        verdicts: ``{member: (verdict, what would decide it)}``.
        rule: ``every`` (confirmed when confirmed for each, refuted when refuted for one), ``some`` (confirmed when
            confirmed for one, refuted when refuted for each) or ``most`` (confirmed, or refuted, for more than
            half of them).

    Returns:
        ``(verdict, evidence, what would decide it)``; the last lists what would decide each undecided member.
    """
    values = [v for v, _ in verdicts.values()]
    n, confirmed, refuted = len(values), values.count(CONFIRMED), values.count(REFUTED)
    if rule == "every":
        verdict = CONFIRMED if confirmed == n else REFUTED if refuted else UNDECIDED
    elif rule == "some":
        verdict = CONFIRMED if confirmed else REFUTED if refuted == n else UNDECIDED
    elif rule == "most":
        verdict = CONFIRMED if confirmed > n / 2 else REFUTED if refuted > n / 2 else UNDECIDED
    else:
        raise ValueError(f"rule {rule!r}: choose every, some or most")
    evidence = "; ".join(f"{m}: {v}" for m, (v, _) in verdicts.items()) + " (each at its own 95 %)"
    by = "; ".join(f"{m}: {b}" for m, (v, b) in verdicts.items() if v == UNDECIDED and b)
    return verdict, evidence, by if verdict == UNDECIDED else ""


def best_clusters_claim(sweep: pd.DataFrame) -> tuple[str, str, str]:
    """Is :data:`FIGURE5_BEST_CLUSTERS` the best number of clusters? The sweep's paired test-accuracy
    differences to the baseline per n: confirmed when its interval lies above every other n's; refuted when another
    n's lies above it; else not decided."""
    perturbed = sweep[sweep["n_clusters"] > 0].set_index("n_clusters")
    if FIGURE5_BEST_CLUSTERS not in perturbed.index:
        return UNDECIDED, "the sweep does not hold n = 3", f"a sweep over n = {FIGURE5_BEST_CLUSTERS}"
    best = perturbed.loc[FIGURE5_BEST_CLUSTERS]
    others = perturbed.drop(FIGURE5_BEST_CLUSTERS)
    evidence = "; ".join(f"n = {n}: {fmt_bounds(r['delta'], r['delta lo'], r['delta hi'], 2, ' pp')}"
                         for n, r in perturbed.iterrows()) + f", against no clusters ({seeds_text(int(best['seeds']))})"
    if len(others) and (others["delta hi"] < best["delta lo"]).all():
        return CONFIRMED, evidence, ""
    if (others["delta lo"] > best["delta hi"]).any():
        return REFUTED, evidence, ""
    return UNDECIDED, evidence, "more seeds (the n's intervals overlap)"


def power(e: Estimate, effect: float) -> float:
    """The chance that a study with this spread, seeds and test faces finds an effect of ``effect`` (its 95 %
    interval excluding 0), normal approximation."""
    from scipy.stats import norm
    if math.isnan(e.sd_seed) or e.seeds < 2:
        return float("nan")
    se = math.hypot(t95(e.seeds) / Z95 * e.sd_seed / math.sqrt(e.seeds), e.se_test)
    return float(norm.cdf(abs(effect) / se - Z95) + norm.cdf(-abs(effect) / se - Z95))


