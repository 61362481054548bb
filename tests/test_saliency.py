"""Saliency with Captum: shapes, region shares, randomisation and deletion checks, ground-truth scores."""
import numpy as np
import pytest
import torch

from perturb_lib import saliency
from perturb_lib.data import SPLITS, defining_regions, pick_per_emotion
from perturb_lib.landmarks import MAP_REGIONS
from perturb_lib.models import build_model



@pytest.mark.parametrize("method", sorted(saliency.METHODS))
@pytest.mark.parametrize("model_name", ["vgg16", "resnet18"])
def test_every_method_returns_input_shaped_maps(tiny_faces, method, model_name):
    torch.manual_seed(0)
    model = build_model(model_name, width=0.0625)
    maps = saliency.attribute(model, tiny_faces.images[:5], tiny_faces.labels[:5], method, batch_size=3)
    assert maps.shape == (5, 48, 48) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and np.abs(maps).sum() > 0


def test_unknown_method_is_rejected(tiny_faces):
    with pytest.raises(ValueError, match="unknown saliency method 'lime'; choose from saliency"):
        saliency.attribute(build_model("vgg16", width=0.0625), tiny_faces.images[:1], [0], "lime")


def test_region_shares_sum_to_one(tiny_faces):
    maps = np.random.default_rng(0).normal(size=(40, 48, 48)).astype(np.float32)
    shares = saliency.region_shares(maps, tiny_faces.landmarks[:40], tiny_faces.labels[:40])
    assert set(shares["region"]) == set(MAP_REGIONS)
    totals = shares.groupby("emotion")["attribution"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, rtol=1e-6)
    # random maps spread attribution like the area: the ratio is about 1 everywhere
    assert shares["ratio"].between(0.6, 1.6).all()


def test_randomisation_lowers_rank_correlation(trained_attention):
    _, run, small_faces = trained_attention
    model = run.model()
    test = small_faces.split("PrivateTest")
    idx = pick_per_emotion(test.labels, 3)
    check = saliency.randomization_check(model, test.images[idx], test.labels[idx], "saliency")
    assert check["spearman"].iloc[0] == 1.0
    assert check["spearman"].iloc[-1] < 0.5  # maps of a randomised model are not the trained model's maps
    again = saliency.attribute(model, test.images[idx], test.labels[idx], "saliency")
    assert saliency._spearman(np.abs(again), np.abs(again)).min() > 0.999  # and the maps are deterministic


def test_deletion_hurts_more_than_random_deletion(trained_attention):
    _, run, small_faces = trained_attention
    model = run.model()
    test = small_faces.split("PrivateTest")
    idx = pick_per_emotion(test.labels, 8)
    maps = saliency.attribute(model, test.images[idx], test.labels[idx], "saliency")
    curve = saliency.deletion_insertion(model, test.images[idx], test.labels[idx], maps, fractions=(0.0, 0.1, 0.2))
    assert set(curve.columns) == {"fraction", "deletion", "deletion_random", "insertion", "insertion_random"}
    assert curve["deletion"].iloc[0] == curve["deletion_random"].iloc[0]
    assert curve["deletion"].iloc[1:].mean() < curve["deletion_random"].iloc[1:].mean()


def test_some_method_finds_the_defining_regions(trained_attention):
    """On synthetic faces a briefly trained model's attribution lands on the regions that define each emotion
    more than their share of the image, for at least one method."""
    _, run, small_faces = trained_attention
    model = run.model()
    sel = small_faces.splits == SPLITS.index("PrivateTest")
    test, lm = small_faces.split("PrivateTest"), small_faces.landmarks[sel]
    idx = pick_per_emotion(test.labels, 10)
    ratios = {}
    for method in ("saliency", "integrated_gradients", "gradcam"):
        maps = saliency.attribute(model, test.images[idx], test.labels[idx], method)
        scores = saliency.ground_truth_scores(maps, lm[idx], test.labels[idx], defining_regions())
        assert set(scores["emotion"]) <= {e for e, r in defining_regions().items() if r}
        ratios[method] = float((scores["attribution"] / scores["area"]).mean())
    assert max(ratios.values()) > 1.2, ratios
