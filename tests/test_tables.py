"""Every table builder against answers computed by hand: intervals (seed and test noise, log-ratio bounds, AUC),
per-class changes (Tables 1 and 3, removal), accuracy differences (Table 2), the truth check with its chance level,
the paper verdicts and the claims."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from perturb_lib import stats, tables
from perturb_lib.experiments.maskfer import score_p_value, truth_check
from perturb_lib.report import paper_verdict

T975 = {1: 12.706204736, 4: 2.776445105}  # two-sided 95 % t quantiles for 1 and 4 degrees of freedom


# ------------------------------------------------------------------------------------------ intervals
def test_one_seed_has_no_interval_and_says_so():
    assert stats.fmt_ci(-12.34, None, 1, "%") == "-12.3% (n = 1, no interval)"
    assert stats.fmt_ci(-1.0, 2.0, 0, "%", seeds=3) == "-1% ± 2, not decided (3 seeds)"
    assert stats.fmt_ci(-5.0, 2.0, 0, "%", seeds=3) == "-5% ± 2"
    assert stats.fmt_ci(None, 1.0) == "--"
    # no face of the class correct in either condition, in any seed: the difference has no spread, and no interval
    assert stats.fmt_ci(0.0, 0.0, 1, " pp", seeds=3) == "0.0 pp (no spread over seeds or faces: not estimable)"
    assert stats.fmt_bounds(-35.4, -48.2, -19.0) == "-35 % [-48, -19]"
    assert stats.fmt_bounds(-35.0, float("nan"), 1.0) == "-35 % (n = 1, no interval)"
    # a ratio and its log-ratio bounds stay above -100 %: rounding must not write them as -100
    assert stats.fmt_relative(-35.4, -48.2, -19.0) == "-35 % [-48, -19]"
    assert stats.fmt_relative(-98.0, -99.66, -95.2) == "-98 % [-99.7, -95]"
    assert stats.fmt_relative(-99.7, -99.96, -95.2) == "-99.7 % [-99.96, -95]"
    assert stats.fmt_relative(-98.0, -99.9999, -95.2) == "-98 % [> -100, -95]"
    assert stats.fmt_relative(-12.0, float("nan"), float("nan")) == "-12 % (n = 1, no interval)"
    # no face correct after the change in any seed: ratio 0, no log-scale interval, the upper bound alone
    assert stats.fmt_relative(-100.0, -100.0, -98.38) == "-100 % (no face correct after; at most -98)"
    assert stats.fmt_range(1.234, 5.678, 1) == "1.2 to 5.7" and stats.fmt_range(None, 1) == "--"


def test_seed_and_test_noise_combine_in_quadrature():
    labels = np.repeat(np.arange(7), 4)
    # a statistic that does not depend on which faces are drawn has no test noise: only the seeds' t-interval
    (e,) = stats.estimates(lambda i: np.array([2.0]), lambda i: np.array([[1.0], [3.0]]), labels)
    assert e.value == 2.0 and e.seeds == 2 and e.half == pytest.approx(T975[1] * 1.0)
    assert e.pred_half == pytest.approx(T975[1] * math.sqrt(2) * math.sqrt(1.5))
    assert (e.lo, e.hi) == pytest.approx((2.0 - e.half, 2.0 + e.half))
    # seeds that agree leave only the test-set noise: 1.96 x the bootstrap standard deviation, in the interval of
    # the mean and in the prediction interval for one more run alike
    values = np.arange(len(labels), dtype=float)
    (e,) = stats.estimates(lambda i: np.array([values[i].mean()]), lambda i: np.array([[values[i].mean()]] * 3),
                           labels, draws=400)
    boot = np.array([values[i].mean() for i in stats.stratified_draws(labels, 400)])
    assert e.half == pytest.approx(stats.Z95 * boot.std(ddof=1)) and e.pred_half == pytest.approx(e.half)
    (one,) = stats.estimates(lambda i: np.array([2.0]), lambda i: np.array([[2.0]]), labels)
    assert one.seeds == 1 and math.isnan(one.half) and math.isnan(one.pred_half) and not one.has_interval


def test_seeds_to_reach_a_margin_by_hand():
    e = stats.Estimate(0.0, 1.0, 2.0, 3, 100, sd_seed=2.0, se_test=0.3)
    # t(n) * 2 / sqrt(n) <= sqrt(1.5^2 - (1.96 * 0.3)^2) = 1.380: n = 10 gives 1.431, n = 11 gives 1.343
    assert e.seeds_to_reach(1.5) == 11
    assert e.seeds_to_reach(0.5) is None  # the test faces alone (1.96 x 0.3 = 0.59) are noisier than that


def test_relative_change_has_log_ratio_bounds_that_never_fall_below_minus_100():
    labels = np.repeat(np.arange(7), 40)
    base = np.tile(labels, (2, 1))
    new = base.copy()
    angry = np.flatnonzero(labels == 0)
    new[0, angry[10:]], new[1, angry[14:]] = 1, 1  # Angry: 40 and 40 correct, then 10 and 14
    new[:, np.flatnonzero(labels == 1)] = 2  # Disgust: 40 correct, then none
    base[:, np.flatnonzero(labels == 2)[12:]] = 3  # Fear: 12 correct at baseline ...
    base[:, np.flatnonzero(labels == 5)[5:]] = 0  # Surprise: 5 correct at baseline: too few for a ratio
    ok_b, ok_n = base == labels, new == labels
    es = stats.ratio_estimates(ok_b, ok_n, labels, 7, draws=300)
    angry_e = es[0]
    assert angry_e.value == pytest.approx(100 * (24 / 80 - 1))  # the ratio of the seeds' summed correct faces
    # by hand: the log of the corrected ratio, the per-seed log ratios' spread, the bootstrap's, in quadrature
    centre = math.log(24.5 / 80.5)
    per_seed = np.log([10.5 / 40.5, 14.5 / 40.5])
    boot = [math.log((ok_n[:, i].sum(0) @ np.eye(7)[labels[i]] + 0.5)[0] / (ok_b[:, i].sum(0) @ np.eye(7)[labels[i]] + 0.5)[0])
            for i in stats.stratified_draws(labels, 300)]
    half = math.hypot(T975[1] * per_seed.std(ddof=1) / math.sqrt(2), stats.Z95 * np.std(boot, ddof=1))
    assert angry_e.lo == pytest.approx(100 * (math.exp(centre - half) - 1))
    assert angry_e.hi == pytest.approx(100 * (math.exp(centre + half) - 1))
    assert angry_e.lo > -100 and angry_e.pred_lo > -100 and angry_e.pred_hi >= angry_e.hi
    disgust = es[1]  # fell to 0: -100 %, an interval from -100 % up, never below
    assert disgust.value == -100.0 and disgust.lo == -100.0 and -100 < disgust.hi < 0
    assert es[2].estimable and not es[5].estimable  # 12 correct faces per seed support a ratio; 5 do not


def test_auc_one_vs_rest_by_hand():
    labels = np.array([0, 0, 1, 1])
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    # class 0's margins (l0 - l1): 2, -1 for its faces; -3, 0 for the others: 2 beats both, -1 beats -3 only -> 3/4
    # class 1's margins are the negatives: 3, 0 against -2, 1: 3 beats both, 0 beats -2 only -> 3/4
    np.testing.assert_allclose(stats.auc_one_vs_rest(logits, labels, 2), [0.75, 0.75])
    tie = np.array([[0.0, 0.0]] * 4)
    np.testing.assert_allclose(stats.auc_one_vs_rest(tie, labels, 2), [0.5, 0.5])  # ties count half


def test_stratified_draws_keep_every_class_count():
    labels = np.array([0, 0, 0, 1, 1, 6])
    for idx in stats.stratified_draws(labels, 50):
        assert np.array_equal(np.sort(labels[idx]), np.sort(labels))


# ---------------------------------------------------------------------------------------- Table 1, 3
def faces_and_predictions(hits: dict[int, list[int]], seeds: int = 2, per_class: int = 10):
    """Labels (7 classes x ``per_class``) and (seeds, N) predictions in which class c has ``hits[c][s]`` correct
    faces in seed s (classes not given: all correct)."""
    labels = np.repeat(np.arange(7), per_class)
    preds = np.tile(labels, (seeds, 1))
    for c, per_seed in hits.items():
        for s, h in enumerate(per_seed):
            preds[s, np.flatnonzero(labels == c)[h:]] = (c + 1) % 7
    return labels, preds


def test_percent_change_by_hand():
    np.testing.assert_allclose(tables.percent_change([0.5, 0.2, 0.3], [0.8, 0.0, 0.2]), [-37.5, np.nan, 50.0])


def test_table1_change_is_the_ratio_of_mean_accuracies():
    # class 0: clean recalls 0.8 and 0.6 (mean 0.7), masked 0.4 and 0.3 (mean 0.35): -50 %; class 3 rises
    labels, clean = faces_and_predictions({0: [8, 6], 3: [5, 5]}, per_class=40)
    _, masked = faces_and_predictions({0: [4, 3], 3: [6, 8]}, per_class=40)
    long = tables.change_table({"vgg16": (labels, clean, masked)}, measures=("relative", "points"))
    row = tables.of_measure(long, "relative").set_index("row").loc
    assert row["Angry", "mean"] == pytest.approx(100 * (7 / 14 - 1))
    assert row["Happy", "mean"] == pytest.approx(100 * (14 / 10 - 1))  # 40 %, not the mean of 20 % and 60 %
    assert row["Angry", "seeds"] == 2 and row["Angry", "test_faces"] == 40 and bool(row["Angry", "few"])
    assert not row["Angry", "estimable"]  # 7 correct faces per seed at baseline: too few for a ratio
    assert row["Angry", "verdict"] == "not estimable (7.0 correct faces per seed)"
    points = tables.of_measure(long, "points").set_index("row").loc
    assert points["Angry", "mean"] == pytest.approx(100 * (3.5 - 7) / 40) and points["Angry", "estimable"]
    one = tables.of_measure(tables.change_table({"vgg16": (labels, clean[:1], masked[:1])}, measures=("points",)),
                            "points").set_index("row").loc
    assert one["Angry", "verdict"] == "n = 1, no interval"


def test_formatted_table_reads_as_the_papers_layout():
    labels, clean = faces_and_predictions({0: [30, 28]}, per_class=40)
    _, masked = faces_and_predictions({0: [15, 14]}, per_class=40)
    long = tables.change_table({"vgg16": (labels, clean, masked)}, measures=("relative", "points"))
    table = tables.formatted(long)
    assert list(table.columns) == ["vgg16"] and table.index[0] == "Angry (40 test faces, few)"
    assert table.iloc[0, 0].startswith("-50 % [") and "±" not in table.iloc[0, 0]
    assert tables.formatted(long, "points").iloc[0, 0].startswith("-36.2 pp ± ")


def test_table2_difference_in_points():
    labels, base = faces_and_predictions({c: [5, 6] for c in range(7)})
    _, new = faces_and_predictions({c: [6, 7] for c in range(7)})
    d = tables.accuracy_difference(labels, base, new)
    assert d.value == pytest.approx(10.0) and d.seeds == 2
    assert tables.accuracy(labels, base).value == pytest.approx(55.0)
    assert tables.verdict(d) in ("increase", "not decided (2 seeds)")


# -------------------------------------------------------------------------------------- truth check
def removal_table(changes: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"row": emo, "column": region, "mean": v} for emo, d in changes.items() for region, v in d.items()])


def test_truth_check_scores_against_a_random_ranking():
    defining = {"Angry": ("brows",), "Happy": ("mouth", "eyes"), "Neutral": ()}
    long = removal_table({"Angry": {"eyes": -10, "brows": -40, "nose": 0, "mouth": -5},
                          "Happy": {"eyes": -20, "brows": 0, "nose": -1, "mouth": -5}})
    table, summary = truth_check(long, defining)
    assert list(table["agrees"]) == [True, True]
    assert summary["score"] == 2 and summary["chance"] == pytest.approx(0.25 + 0.5)
    assert summary["p_value"] == pytest.approx(0.25 * 0.5)  # both agree by chance


def test_a_model_that_ignores_the_face_fails_the_truth_check():
    """A model that looks only at the image border: no removal changes what it sees, so none can agree."""
    from perturb_lib.data import make_synthetic_faces
    from perturb_lib.policies import apply_policy, make_policy
    faces = make_synthetic_faces(size=0.01, seed=1)
    border = torch.ones(48, 48, dtype=torch.bool)
    border[3:-3, 3:-3] = False
    weights = torch.randn(7, int(border.sum()), generator=torch.Generator().manual_seed(0))

    def predict(images):
        return (torch.as_tensor(images).float()[:, border] @ weights.T).argmax(1).numpy()

    labels, base = faces.labels, predict(faces.images)[None]
    cells = {r: (labels, base, predict(apply_policy(make_policy({"kind": "remove", "region": r}), faces.images,
                                                    faces.landmarks, faces.ids))[None])
             for r in ("eyes", "brows", "nose", "mouth")}
    long = tables.change_table(cells, measures=("relative",))
    assert (long["mean"].fillna(0) == 0).all()
    table, summary = truth_check(long, {"Angry": ("brows",), "Happy": ("mouth", "eyes"), "Surprise": ("mouth",)})
    assert summary["score"] == 0 and not summary["beats_chance"]
    assert set(table["most harmful removal"]) == {"(none lowers it)"}


def test_poisson_binomial_p_value_by_hand():
    assert score_p_value(0, [0.25, 0.5]) == pytest.approx(1.0)
    assert score_p_value(1, [0.25, 0.5]) == pytest.approx(1 - 0.75 * 0.5)
    assert score_p_value(2, [0.25, 0.5]) == pytest.approx(0.125)


# ------------------------------------------------------------------------------------- paper verdicts
def cell(mean, lo, hi, seeds=3, estimable=True):
    return {"mean": mean, "pred_lo": lo, "pred_hi": hi, "seeds": seeds, "estimable": estimable}


@pytest.mark.parametrize("paper, ours, change, expected", [
    (-35, cell(-30, -40, -20), True, "consistent with the paper (not rejected)"),
    (-35, cell(-10, -20, 0.5), True, "differs from the paper"),
    (-35, cell(-10, -40, 5), True, "not decided (3 seeds, one more run: -40.0 to 5.0)"),  # holds -35 and 0 alike
    (66.5, cell(64, 62, 67), False, "consistent with the paper (not rejected)"),
    (-35, cell(-30, float("nan"), float("nan"), seeds=1), True, "not decided (1 seed, no interval)"),
    (-35, cell(-100, -100, -20, estimable=False), True, "not estimable"),
    (66.5, None, False, "no value"),
])
def test_paper_verdicts(paper, ours, change, expected):
    assert paper_verdict(paper, ours, change) == expected


# ------------------------------------------------------------------------------------------- claims
def est(value, lo, hi, seeds=5, estimable=True, sd=2.0, se=0.3):
    return stats.Estimate(value, float("nan"), float("nan"), seeds, 100, lo=lo, hi=hi, sd_seed=sd, se_test=se,
                          estimable=estimable)


@pytest.mark.parametrize("e, claimed, direction, verdict", [
    (est(-12, -20, -5), -10, 0, "confirmed"),  # holds the claim, excludes no effect
    (est(-16, -20, -12), -10, 0, "refuted"),  # excludes the claim
    (est(-8, -20, 3), -10, 0, "not decided"),  # holds both
    (est(5, 2, 9), None, +1, "confirmed"),  # an increase, as claimed
    (est(-5, -9, -2), None, +1, "refuted"),  # a decrease where an increase was claimed
    (est(-100, -100, -20, estimable=False), -10, 0, "not decided"),
])
def test_claims_are_decided_by_one_rule(e, claimed, direction, verdict):
    from perturb_lib.claims import decide
    assert decide(e, claimed, direction)[0] == verdict


def test_an_undecided_claim_says_how_many_seeds_would_decide_it():
    from perturb_lib.claims import decide
    verdict, by = decide(est(1.0, -2.0, 4.0, sd=2.0, se=0.3), 3.0)
    assert verdict == "not decided" and by == "about 11 seeds (now 5) with this spread"  # as in the seeds test
    verdict, by = decide(est(1.0, -2.0, 4.0, sd=2.0, se=1.0), 3.0)
    assert by.startswith("more test faces")  # 1.96 x 1.0 > 1.5: seeds cannot decide it


def test_a_ranking_claim_needs_intervals_that_do_not_overlap():
    from perturb_lib.claims import ranking_claim

    def long(intervals):
        return pd.DataFrame([{"row": e, "column": "vgg16", "measure": "auc", "mean": (lo + hi) / 2, "lo": lo, "hi": hi,
                              "ci": (hi - lo) / 2, "seeds": 5, "estimable": True} for e, (lo, hi) in intervals.items()])
    rest = {e: (-0.02, 0.0) for e in ("Angry", "Disgust", "Fear", "Sad", "Surprise")}
    assert ranking_claim(long({"Happy": (-0.2, -0.1), "Neutral": (-0.15, -0.05), **rest}),
                         ("Happy", "Neutral"), "auc")[0] == "confirmed"
    assert ranking_claim(long({"Happy": (-0.2, -0.1), "Neutral": (-0.15, -0.01), **rest}),
                         ("Happy", "Neutral"), "auc")[0] == "not decided"  # Neutral overlaps the others
    worse = {**rest, "Angry": (-0.3, -0.2), "Fear": (-0.3, -0.2)}
    assert ranking_claim(long({"Happy": (-0.1, -0.05), "Neutral": (-0.15, -0.05), **worse}),
                         ("Happy", "Neutral"), "auc")[0] == "refuted"  # two others are hurt more than Happy


def test_the_paper_claims_come_from_its_tables():
    from perturb_lib import paper
    assert paper.mask_hurts_most() == ("Neutral", "Happy")  # most often among each column's two largest drops
    assert paper.perturb_gain("VGG16") == pytest.approx(3.0) and paper.perturb_gain("DenseNet") is None


def test_a_claim_without_runs_is_listed_undecided_with_what_would_decide_it():
    """A study without removal-trained runs, or with one cluster count, still lists those claims of the paper."""
    from types import SimpleNamespace

    from perturb_lib import claims
    maskfer = SimpleNamespace(table1=pd.DataFrame(), removal_trained=pd.DataFrame())
    scheme = SimpleNamespace(table2=pd.DataFrame(), sweep=pd.DataFrame({"n_clusters": [0, 3], "delta lo": [0.0, -1.0]}))
    table = claims.claims(maskfer, scheme)
    assert len(table) == 4 and set(table["verdict"]) == {claims.UNDECIDED}
    assert list(table["what would decide it"]) == [claims.NO_REMOVAL_RUNS] * 3 + [claims.NO_SWEEP_RUNS]
    assert table["claim"].iloc[0] == "removing a feature in training drops happy strongly (up to -85 %)"
    assert table["claim"].iloc[3] == "3 clusters are best"


def test_a_claim_about_several_members_combines_their_verdicts():
    from perturb_lib.claims import CONFIRMED as C, REFUTED as R, UNDECIDED as U, members_claim
    assert members_claim({"a": (C, ""), "b": (C, "")}, "every") == (C, "a: confirmed; b: confirmed (each at its own "
                                                                      "95 %)", "")
    assert members_claim({"a": (C, ""), "b": (U, "about 9 seeds")}, "every") == (
        U, "a: confirmed; b: not decided (each at its own 95 %)", "b: about 9 seeds")  # each member's own reason
    assert members_claim({"a": (U, "x"), "b": (R, "")}, "every")[0] == R  # one member against it refutes "every"
    assert members_claim({"a": (R, ""), "b": (U, "x")}, "some")[0] == U
    assert members_claim({"a": (R, ""), "b": (C, "")}, "some")[0] == C  # one member for it confirms "some"
    assert members_claim({"a": (R, ""), "b": (R, "")}, "some")[0] == R
    three = {"a": (C, ""), "b": (C, ""), "c": (R, "")}
    assert [members_claim(three, rule)[0] for rule in ("every", "some", "most")] == [R, C, C]  # 2 of 3 is most
    assert members_claim({"a": (C, ""), "b": (R, "")}, "most")[0] == U  # 1 of 2 is not more than half
    with pytest.raises(ValueError, match="rule 'any'"):
        members_claim(three, "any")


def test_the_papers_table1_has_neutral_and_happy_first_in_most_of_its_architectures():
    from perturb_lib import paper
    # DPN -63/-60, ResMasking -53/-42, ResNet -60/-55 strictly; DenseNet's Happy -49 ties Disgust -49; VGG16's
    # largest drop is Disgust -49, before Neutral -43 and Happy -35
    assert paper.mask_hurts_most_columns(("Neutral", "Happy")) == (["DPN", "ResMasking", "ResNet"],
                                                                   ["DenseNet", "DPN", "ResMasking", "ResNet"])


def test_the_claims_table_asks_across_architectures_and_backbones():
    """Table 1 of two architectures and their ensemble gets a ranking row over the architectures (not the
    ensemble); Perturb runs on two backbones get 'some' and 'every' rows from each one's direction."""
    from types import SimpleNamespace

    from perturb_lib import claims
    rest = {e: (-0.02, 0.0) for e in ("Angry", "Disgust", "Fear", "Sad", "Surprise")}
    hurt = {"Happy": (-0.2, -0.1), "Neutral": (-0.15, -0.05)}  # confirmed: below every other emotion
    overlap = {"Happy": (-0.2, -0.1), "Neutral": (-0.15, -0.01)}  # not decided: Neutral overlaps the others
    refuted = {"Happy": (-0.01, 0.0), "Neutral": (-0.01, 0.0), **rest, "Angry": (-0.3, -0.2), "Fear": (-0.3, -0.2)}
    table1 = pd.DataFrame([{"row": e, "column": column, "measure": m, "mean": (lo + hi) / 2, "lo": lo, "hi": hi,
                            "ci": (hi - lo) / 2, "seeds": 3, "estimable": True}
                           for column, cells in (("vgg16", {**rest, **hurt}), ("resnet50", {**rest, **overlap}),
                                                 ("Ensemble", refuted))
                           for e, (lo, hi) in cells.items() for m in ("auc", "points")])
    maskfer = SimpleNamespace(table1=table1, models=["vgg16", "resnet50"], removal_trained=pd.DataFrame())
    # vgg16: -0.9 +- 0.6 pp lies below 0; resnet50: +1.0 +- 2.0 holds 0
    table2 = pd.DataFrame({"model": ["vgg16", "resnet50"], "delta acc": [-0.9, 1.0], "delta acc ci": [0.6, 2.0],
                           "delta acc lo": [-1.5, -1.0], "delta acc hi": [-0.3, 3.0], "seeds": [6, 3],
                           "test faces": [3589, 3589],
                           "delta acc sd": [0.5, 1.5], "delta acc se_test": [0.2, 0.2]})
    scheme = SimpleNamespace(table2=table2, sweep=pd.DataFrame())
    table = claims.claims(maskfer, scheme).set_index("claim")
    across = table.loc["masking hurts neutral and happy most, in most architectures (auc)"]
    assert across["verdict"] == "not decided"  # confirmed for vgg16 only, 1 of 2; the refuted Ensemble left out
    assert across["evidence"] == "vgg16: confirmed; resnet50: not decided (each at its own 95 %)"
    assert across["what would decide it"] == "resnet50: more seeds (the intervals of the ranked emotions overlap)"
    assert across["the paper"].startswith("Neutral, Happy are its two largest drops in 3 of its 5 architectures")
    assert table.loc["masking hurts neutral and happy most (Ensemble, auc)", "verdict"] == "refuted"
    some = table.loc["the Perturb Scheme raises the accuracy of some backbone"]
    assert (some["verdict"], some["evidence"]) == ("not decided", "vgg16: refuted; resnet50: not decided (each at its "
                                                                  "own 95 %)")
    assert some["what would decide it"].startswith("resnet50: about ")  # its own seeds to decide a direction
    assert some["the paper"] == "+3.0 to +3.1 points (Table 2, each backbone)"  # VGG16 +3.0, ResNet +3.1
    assert table.loc["the Perturb Scheme raises the accuracy of every backbone", "verdict"] == "refuted"
