"""Landmark classifiers, dataset-level Integrated Gradients and progressive reduction."""
import numpy as np
import pandas as pd
import pytest
import torch

from perturb_lib import landmark_models as lmm
from perturb_lib.data import EMOTIONS, FaceSet, defining_regions
from perturb_lib.experiments import explain_emotions
from perturb_lib.params import LandmarkNotebook


def test_per_landmark_aggregation_sums_x_and_y():
    attr = np.arange(2 * 68 * 2, dtype=float).reshape(2, 136)
    agg = lmm.per_landmark(attr, 68)
    assert agg.shape == (2, 68)
    assert agg[0, 0] == attr[0, 0] + attr[0, 1] and agg[1, 67] == attr[1, 134] + attr[1, 135]
    both = np.ones((3, 68 * 4))
    assert (lmm.per_landmark(both, 68) == 4).all()  # coordinates and displacement of a landmark together


def test_features_remove_pose_and_know_the_neutral_face(tiny_faces):
    coords = lmm.landmark_features(tiny_faces, tiny_faces.landmarks, "coords")
    assert coords.shape == (len(tiny_faces), 68, 2)
    np.testing.assert_allclose(coords.mean(1), 0, atol=1e-5)  # centred
    np.testing.assert_allclose(np.sqrt((coords**2).sum(-1).mean(1)), 1, rtol=1e-5)  # unit RMS radius
    eyes = coords[:, 42:48].mean(1) - coords[:, 36:42].mean(1)
    np.testing.assert_allclose(eyes[:, 1], 0, atol=1e-5)  # eyes level
    disp = lmm.landmark_features(tiny_faces, tiny_faces.landmarks, "displacement")
    neutral = tiny_faces.extras["label_clean"] == EMOTIONS.index("Neutral")
    happy = tiny_faces.extras["label_clean"] == EMOTIONS.index("Happy")
    move = np.linalg.norm(disp, axis=-1)
    assert move[happy][:, 48:68].mean() > 3 * move[neutral][:, 48:68].mean()
    with pytest.raises(ValueError, match="needs each identity's neutral face"):
        no_neutral = FaceSet(tiny_faces.images, tiny_faces.labels, tiny_faces.splits, tiny_faces.ids)
        lmm.landmark_features(no_neutral, tiny_faces.landmarks, "both")


def test_randomised_readout_matches_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 10, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(300, generator=g) > 0.5).float()
    net = lmm.RandomizedNet(10, hidden=(32, 16), ridge=0.1).fit(x, y)
    h = net.hidden_features(x).double()
    h1 = torch.cat([h, torch.ones(300, 1, dtype=torch.float64)], 1)
    pos = y.sum()
    w = torch.where(y > 0.5, 0.5 / pos, 0.5 / (300 - pos)).double() * 300
    # the same weighted ridge problem as an ordinary least-squares system
    a = torch.cat([h1 * w.sqrt()[:, None], np.sqrt(0.1) * torch.eye(h1.shape[1], dtype=torch.float64)])
    b = torch.cat([(2 * y - 1).double() * w.sqrt(), torch.zeros(h1.shape[1], dtype=torch.float64)])
    beta = torch.linalg.lstsq(a, b[:, None]).solution[:, 0]
    torch.testing.assert_close(net.readout.weight[0].double(), beta[:-1].float().double(), rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(net.readout.bias.double(), beta[-1:].float().double(), rtol=1e-3, atol=1e-4)
    assert lmm.binary_metrics(y.numpy(), net(x).detach().numpy())["balanced_accuracy"] > 0.8


def test_dataset_ig_is_complete(tiny_faces):
    feats = lmm.landmark_features(tiny_faces, tiny_faces.landmarks, "coords")
    data = lmm.emotion_data(feats, tiny_faces, EMOTIONS.index("Happy"))
    flat = data.x["Training"].reshape(len(data.x["Training"]), -1)
    model = lmm.MLPClassifier(136, 16).fit(torch.as_tensor(flat), torch.as_tensor(data.y["Training"]), epochs=20)
    positives = flat[data.y["Training"] > 0.5]
    baselines = lmm.medoid_baselines(flat[data.y["Training"] < 0.5], 3)
    ig = lmm.dataset_ig(model, positives, baselines, 68, steps=64)
    scale = np.abs(ig["per_sample"].sum(1)).mean()
    assert np.abs(ig["delta"]).mean() < 0.02 * scale + 1e-3  # attributions add up to f(x) - mean f(baselines)
    assert ig["relevance"].shape == (68,) and (ig["relevance"] >= 0).all()
    assert baselines.shape == (3, 136) and all((flat == b).all(1).any() for b in baselines)  # real samples


def test_summed_gradients_are_captums_per_row_gradients():
    """One backward pass of the sum gives what Captum's per-output backward gives, to the last bit; and a
    linear model's IG is (x - baseline) * w, by hand."""
    from captum._utils.gradient import compute_gradients
    torch.manual_seed(0)
    x = torch.randn(40, 8, requires_grad=True)
    model = lmm.MLPClassifier(8, 16).fit(x.detach(), (x[:, 0] > 0).float().detach(), epochs=3)
    mine, = lmm.summed_gradients(model, (x,))
    captums, = compute_gradients(model, (x,))
    assert torch.equal(mine, captums)
    with pytest.raises(ValueError, match="without a target"):
        lmm.summed_gradients(model, (x,), target_ind=0)
    linear = torch.nn.Linear(4, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 0.0]]))
        linear.bias.fill_(0.3)
    one_logit = lambda v: linear(v)[:, 0]  # noqa: E731
    xs, base = np.array([[1.0, 1.0, 2.0, 5.0]], np.float32), np.zeros((1, 4), np.float32)
    ig = lmm.dataset_ig(one_logit, xs, base, n_landmarks=2, steps=4)
    # landmark 0 holds features 0, 1: 1*1 - 2*1 = -1; landmark 1 holds 2, 3: 0.5*2 + 0*5 = 1
    np.testing.assert_allclose(ig["per_sample"], [[-1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(ig["delta"], [0.0], atol=1e-6)


def test_reduction_keeps_a_prefix_of_the_ranking(tiny_faces):
    feats = lmm.landmark_features(tiny_faces, tiny_faces.landmarks, "displacement")
    data = lmm.emotion_data(feats, tiny_faces, EMOTIONS.index("Surprise"))
    ranking = np.random.default_rng(0).permutation(68)
    table, kept, logits = lmm.progressive_reduction("random", data, ranking, step=16,
                                                    splits=("PublicTest", "PrivateTest"), random_hidden=(64,))
    assert logits.shape == (len(data.y["PrivateTest"]),)  # the chosen set's model on the test faces
    assert list(table["landmarks"]) == [68, 52, 36, 20, 4]
    assert table["chosen"].sum() == 1
    np.testing.assert_array_equal(kept, ranking[:len(kept)])  # never drops one ranked above one it keeps
    best = table["val_balanced_accuracy"].max()
    assert table.loc[table["chosen"], "val_balanced_accuracy"].iloc[0] >= best - 0.01
    assert (table["parameters"].diff().dropna() < 0).all()  # fewer landmarks, fewer parameters


def test_explain_emotions_finds_defining_landmarks(small_faces):
    params = LandmarkNotebook(lm_features="both", lm_emotions=["Happy", "Surprise"], lm_families=["mlp"],
                              ig_baselines=3, ig_steps=16, lm_step=16, lm_epochs=20)
    res = explain_emotions(small_faces, small_faces.landmarks, params, progress=lambda *_: None)
    assert set(res.summary["emotion"]) == {"Happy", "Surprise"}
    assert set(res.relevance["method"]) == {"ig_medoids", "ig_zero", "ablation"}
    for emo in ("Happy", "Surprise"):
        agreement = lmm.region_agreement(np.asarray(res.kept[f"{emo}/mlp/0"]), defining_regions()[emo])
        assert agreement["lift"] > 1.1, (emo, agreement)  # kept landmarks sit in the defining regions


def test_each_seed_is_a_record_reused_and_the_seeds_compared(tmp_path, tiny_faces):
    """Two seeds: each computed once and recorded (then read back, not computed again), each with its own kept set;
    the comparison gives the reduced set's change with an interval, the landmarks kept and the sets' overlap; the
    claims table gets the second paper's two claims per family."""
    from perturb_lib.claims import claims
    from perturb_lib.experiments import landmarks as lx
    from perturb_lib.runs import Study
    params = LandmarkNotebook(lm_features="both", lm_emotions=["Happy", "Surprise"], lm_families=["random"],
                              random_hidden=[64], ig_baselines=2, ig_steps=8, lm_step=16, lm_seeds=[0, 1],
                              study_dir=str(tmp_path / "study"), cache_dir=str(tmp_path / "cache"))
    study = Study(tmp_path / "study", tmp_path / "ledger")
    lines = []
    res = lx.explain_seeds(tiny_faces, tiny_faces.landmarks, params, study, progress=lines.append)
    records = sorted(p.parent.name for p in (tmp_path / "study" / "records").glob("*/metrics.json"))
    assert len(records) == 2 and all(r.startswith("landmarks-") for r in records)
    assert sorted(res.kept) == ["Happy/random/0", "Happy/random/1", "Surprise/random/0", "Surprise/random/1"]
    table = res.comparison.set_index(["emotion", "family"])
    assert set(table.index) == {("Happy", "random"), ("Surprise", "random")} and (table["seeds"] == 2).all()
    assert (table["delta lo"] <= table["delta"]).all() and (table["delta"] <= table["delta hi"]).all()
    assert ((table["overlap"] >= 0) & (table["overlap"] <= 1)).all()
    happy = res.summary[res.summary["emotion"] == "Happy"]
    by_hand = 100 * (happy["reduced test_balanced_accuracy"] - happy["full test_balanced_accuracy"]).mean()
    assert table.loc[("Happy", "random"), "delta"] == pytest.approx(by_hand, abs=1e-6)
    again = lx.explain_seeds(tiny_faces, tiny_faces.landmarks, params, study, progress=lines.append)
    assert sum("recorded results reused" in line for line in lines) == 2  # the second time, read back
    pd.testing.assert_frame_equal(again.comparison, res.comparison)
    rows = claims(None, None, landmarks=res)
    assert list(rows["claim"]) == ["reducing the landmarks improves accuracy (random)",
                                   "reducing the landmarks lowers the computational cost (random)"]
