"""Every table builder against answers computed by hand: intervals at n = 1, 2 and 5, per-class changes (Tables 1
and 3, removal), accuracy differences (Table 2), the truth check with its chance level, and the paper verdicts."""
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
def test_mean_ci_and_prediction_interval_at_one_two_and_five_seeds():
    assert stats.mean_ci([3.0])[0] == 3.0 and math.isnan(stats.mean_ci([3.0])[1])
    assert math.isnan(stats.prediction_half_width([3.0]))
    m, h = stats.mean_ci([1.0, 3.0])  # sd = sqrt(2), se = 1
    assert m == 2.0 and h == pytest.approx(T975[1] * 1.0)
    assert stats.prediction_half_width([1.0, 3.0]) == pytest.approx(T975[1] * math.sqrt(2) * math.sqrt(1.5))
    m, h = stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])  # sd = sqrt(2.5)
    assert m == 3.0 and h == pytest.approx(T975[4] * math.sqrt(2.5) / math.sqrt(5))
    assert stats.prediction_half_width([1, 2, 3, 4, 5]) == pytest.approx(T975[4] * math.sqrt(2.5) * math.sqrt(1.2))
    assert stats.mean_ci([None, float("nan"), 4.0])[0] == 4.0


def test_one_seed_is_never_within_noise_and_says_so():
    assert stats.within_noise(-12.0, float("nan")) is None
    assert stats.within_noise(None, None) is None  # values that went through JSON
    assert stats.within_noise(-1.0, 2.0) is True and stats.within_noise(-3.0, 2.0) is False
    assert stats.fmt_ci(-12.34, None, 1, "%") == "-12.3% (n = 1, no interval)"
    assert stats.fmt_ci(-1.0, 2.0, 0, "%", seeds=3) == "-1% ± 2 inconclusive (3 seeds)"
    assert stats.fmt_ci(-5.0, 2.0, 0, "%", seeds=3) == "-5% ± 2"
    assert stats.fmt_ci(None, 1.0) == "--"


def test_seed_and_test_noise_combine_in_quadrature():
    labels = np.repeat(np.arange(7), 4)
    # a statistic that does not depend on which faces are drawn has no test noise: only the seeds' t-interval
    (e,) = stats.estimates(lambda i: np.array([2.0]), lambda i: np.array([[1.0], [3.0]]), labels)
    assert e.value == 2.0 and e.seeds == 2 and e.half == pytest.approx(T975[1] * 1.0)
    assert e.pred_half == pytest.approx(T975[1] * math.sqrt(2) * math.sqrt(1.5))
    # seeds that agree leave only the test-set noise: 1.96 x the bootstrap standard deviation
    values = np.arange(len(labels), dtype=float)
    (e,) = stats.estimates(lambda i: np.array([values[i].mean()]), lambda i: np.array([[values[i].mean()]] * 3),
                           labels, draws=400)
    boot = np.array([values[i].mean() for i in stats.stratified_draws(labels, 400)])
    assert e.half == pytest.approx(stats.Z95 * boot.std(ddof=1))
    (one,) = stats.estimates(lambda i: np.array([2.0]), lambda i: np.array([[2.0]]), labels)
    assert one.seeds == 1 and math.isnan(one.half) and math.isnan(one.pred_half)


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
    labels, clean = faces_and_predictions({0: [8, 6], 3: [5, 5]})
    _, masked = faces_and_predictions({0: [4, 3], 3: [6, 8]})
    long = tables.change_table({"vgg16": (labels, clean, masked)})
    row = long.set_index("row").loc
    assert row["Angry", "mean"] == pytest.approx(-50.0)
    assert row["Happy", "mean"] == pytest.approx(100 * (0.7 / 0.5 - 1))  # 40 %, not the mean of 20 % and 60 %
    assert row["Angry", "verdict"] == "decrease" and row["Angry", "seeds"] == 2 and row["Angry", "test_faces"] == 10
    assert bool(row["Angry", "few"])  # 10 test faces: flagged
    points = tables.change_table({"vgg16": (labels, clean, masked)}, relative=False).set_index("row").loc
    assert points["Angry", "mean"] == pytest.approx(-35.0) and points["Happy", "mean"] == pytest.approx(20.0)
    one = tables.change_table({"vgg16": (labels, clean[:1], masked[:1])}).set_index("row").loc
    assert one["Angry", "mean"] == pytest.approx(-50.0) and one["Angry", "verdict"] == "n = 1, no interval"


def test_formatted_table_reads_as_the_papers_layout():
    labels, clean = faces_and_predictions({0: [8, 6]})
    _, masked = faces_and_predictions({0: [4, 3]})
    table = tables.formatted(tables.change_table({"vgg16": (labels, clean, masked)}))
    assert list(table.columns) == ["vgg16"] and table.index[0] == "Angry (10 test faces, few)"
    assert table.iloc[0, 0].startswith("-50% ± ")


def test_table2_difference_in_points():
    labels, base = faces_and_predictions({c: [5, 6] for c in range(7)})
    _, new = faces_and_predictions({c: [6, 7] for c in range(7)})
    d = tables.accuracy_difference(labels, base, new)
    assert d.value == pytest.approx(10.0) and d.seeds == 2
    assert tables.accuracy(labels, base).value == pytest.approx(55.0)
    assert tables.verdict(d) in ("increase", "inconclusive (2 seeds)")


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
    long = tables.change_table(cells)
    assert (long["mean"].fillna(0) == 0).all()
    table, summary = truth_check(long, {"Angry": ("brows",), "Happy": ("mouth", "eyes"), "Surprise": ("mouth",)})
    assert summary["score"] == 0 and not summary["beats_chance"]
    assert set(table["most harmful removal"]) == {"(none lowers it)"}


def test_poisson_binomial_p_value_by_hand():
    assert score_p_value(0, [0.25, 0.5]) == pytest.approx(1.0)
    assert score_p_value(1, [0.25, 0.5]) == pytest.approx(1 - 0.75 * 0.5)
    assert score_p_value(2, [0.25, 0.5]) == pytest.approx(0.125)


# ------------------------------------------------------------------------------------- paper verdicts
@pytest.mark.parametrize("paper, ours, pred, seeds, span, expected", [
    (-35, -30, 10, 3, 200, "paper inside our prediction interval"),
    (-35, -10, 10, 3, 200, "paper outside our prediction interval"),
    (-35, -30, float("nan"), 1, 200, "inconclusive (1 seed)"),
    (-35, -30, 128, 3, 200, "inconclusive (3 seeds)"),  # wider than the quantity's own range
    (66.5, float("nan"), float("nan"), 0, 100, "no value"),
])
def test_paper_verdicts(paper, ours, pred, seeds, span, expected):
    assert paper_verdict(paper, ours, pred, seeds, span) == expected
