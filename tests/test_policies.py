"""Perturbation policies: MaskFer masks, feature removal, published-MaskFer pairing, canonical specs."""
import numpy as np
import pytest
import torch
from PIL import Image

from perturb_lib import landmarks as lmk
from perturb_lib import policies
from perturb_lib.data import EMOTION_FOLDERS, SPLITS, load_maskfer_folders
from perturb_lib.data.fer2013 import load_fer2013_folders
from perturb_lib.images import hash_noise, id_keys
from perturb_lib.params import FILLS, MASK_STYLES, REMOVAL_REGIONS
from perturb_lib.policies import SplitTensors, apply_policy, make_policy


def wear_mask(images, landmarks, ids, style="n95", seed=0):
    return apply_policy(make_policy({"kind": "mask", "style": style, "seed": seed}), images, landmarks, ids)


# ------------------------------------------------------------------------------------------ MaskFer
def test_mask_covers_mouth_and_nose_but_not_eyes(tiny_faces):
    x = torch.as_tensor(tiny_faces.images).float() / 255
    lm = torch.as_tensor(tiny_faces.landmarks)
    for style in MASK_STYLES:
        alpha, tone = policies.mask_layers(x, lm, id_keys(tiny_faces.ids), style)
        regions = lmk.region_masks(lm, ("mouth", "eyes")) > 0.99
        mouth_cover = (alpha * regions[:, 0]).sum((1, 2)) / regions[:, 0].sum((1, 2))
        eye_cover = (alpha * regions[:, 1]).amax((1, 2))
        assert (mouth_cover > 0.98).all(), style  # every face: the whole mouth is under the mask
        assert (eye_cover < 0.05).all(), style  # every face: no part of the eyes is
        nose_tip = alpha[torch.arange(len(lm)), lm[:, 31:36, 1].round().long().T, lm[:, 31:36, 0].round().long().T]
        assert (nose_tip > 0.9).all(), style  # the lower nose is covered too
        assert ((alpha > 0) & (alpha < 1)).any()  # anti-aliased edges
        assert tone.min() >= 0 and tone.max() <= 1


def test_masks_are_deterministic_per_id_and_seed(tiny_faces):
    imgs, lm, ids = tiny_faces.images[:12], tiny_faces.landmarks[:12], tiny_faces.ids[:12]
    a = wear_mask(imgs, lm, ids, "cloth", seed=0)
    b = wear_mask(imgs[::-1], lm[::-1], ids[::-1], "cloth", seed=0)[::-1]  # order does not matter
    np.testing.assert_array_equal(a, b)
    c = wear_mask(imgs, lm, ids, "cloth", seed=1)
    assert not np.array_equal(a, c)
    noise = hash_noise(id_keys(ids))
    assert noise.shape == (12, 48, 48) and 0.45 < float(noise.mean()) < 0.55 and noise.std() > 0.25


def test_mask_hides_the_face_under_it_and_matches_its_brightness(tiny_faces):
    x = torch.as_tensor(tiny_faces.images[:6]).float() / 255
    lm = torch.as_tensor(tiny_faces.landmarks[:6])
    keys = id_keys(tiny_faces.ids[:6])
    alpha, tone = policies.mask_layers(x, lm, keys, "surgical")
    under = alpha > 0
    changed = x.clone()
    changed[under] = 1 - changed[under]  # another mouth, nose, jaw and cheeks under the mask
    _, tone2 = policies.mask_layers(changed, lm, keys, "surgical")
    torch.testing.assert_close(tone2, tone)  # not a trace of what the mask covers
    _, brighter = policies.mask_layers((x * 1.3).clamp(0, 1), lm, keys, "surgical")
    inside = alpha > 0.99
    assert (brighter[inside] >= tone[inside] - 1e-6).all() and brighter[inside].mean() > tone[inside].mean() + 0.02


def test_a_probe_on_the_mask_pixels_is_at_chance(small_faces):
    """A logistic regression on the pixels (nearly) every face's mask covers cannot tell the emotions apart."""
    from perturb_lib.experiments.maskfer import mask_probe
    probe = mask_probe(small_faces, small_faces.landmarks, "n95")
    assert probe["pixels"] > 100  # the pixels under the masks
    test = int((small_faces.splits == 2).sum())
    se = np.sqrt((1 / 7) * (6 / 7) / test) * np.sqrt(7)  # per-class recalls average 7 binomials
    assert probe["test_faces"] == test and probe["chance_band"] == pytest.approx(3 * se)
    assert probe["balanced_accuracy"] < 1 / 7 + 3 * se, probe


def test_the_mask_probe_runs_when_no_pixel_is_under_every_mask(small_faces):
    """Real faces differ in pose and size: one face shifted far to a corner leaves no pixel under every mask, and
    the probe still reads the pixels 95 % of the masks cover (that face gets its own mean mask tone there)."""
    from perturb_lib.experiments.maskfer import mask_probe
    lm = small_faces.landmarks.copy()
    lm[0] = lm[0] * 0.3  # a small face in the top-left corner
    x = torch.as_tensor(small_faces.images).float() / 255
    alpha, _ = policies.mask_layers(x, torch.as_tensor(lm), id_keys(small_faces.ids), "n95")
    assert not (alpha > 0.99).all(0).any()
    probe = mask_probe(small_faces, lm, "n95")
    assert probe["pixels"] > 100 and 0 <= probe["balanced_accuracy"] <= 1


def test_mask_policy_is_a_view_on_the_device_data(tiny_faces):
    split = SplitTensors("Training", torch.as_tensor(tiny_faces.images[:16]), torch.as_tensor(tiny_faces.labels[:16]),
                         torch.as_tensor(tiny_faces.landmarks[:16]), tiny_faces.ids[:16])
    pol = make_policy({"kind": "mask", "style": "n95", "seed": 0})
    pol.prepare(split)
    idx = torch.tensor([3, 7])
    x, y = pol.train_inputs(split.batch(idx), split.labels[idx], split, idx, torch.Generator())
    expected = wear_mask(tiny_faces.images[[3, 7]], tiny_faces.landmarks[[3, 7]], tiny_faces.ids[[3, 7]], "n95")
    assert np.abs((x[:, 0] * 255).numpy() - expected).max() <= 1  # the same masks, batch or not
    assert torch.equal(split.images, torch.as_tensor(tiny_faces.images[:16]))  # the data itself is untouched


# ------------------------------------------------------------------------------------------ removal
@pytest.mark.parametrize("region", REMOVAL_REGIONS)
@pytest.mark.parametrize("fill", FILLS)
def test_removal_changes_exactly_its_region(tiny_faces, region, fill):
    n = 24
    split = SplitTensors("Training", torch.as_tensor(tiny_faces.images[:n]), torch.as_tensor(tiny_faces.labels[:n]),
                         torch.as_tensor(tiny_faces.landmarks[:n]), tiny_faces.ids[:n])
    pol = make_policy({"kind": "remove", "region": region, "fill": fill, "seed": 0})
    pol.prepare(split)
    idx = torch.arange(n)
    before = split.batch(idx)
    after = pol.eval_views(before, split, idx)
    alpha = lmk.region_masks(tiny_faces.landmarks[:n], (region,))
    outside, inside = alpha == 0, alpha >= 0.999
    assert torch.equal(after[outside], before[outside])  # not a pixel outside the region moves
    changed = ((after - before).abs() > 1e-3)[inside].float().mean()
    assert changed > (0.6 if fill == "blur" else 0.8)  # and the region itself is replaced
    if fill == "mean":
        means = before.mean(dim=(2, 3), keepdim=True).expand_as(before)
        torch.testing.assert_close(after[inside], means[inside])


def test_unknown_region_and_fill_are_rejected():
    with pytest.raises(ValueError, match="unknown region 'ears'"):
        make_policy({"kind": "remove", "region": "ears"})
    with pytest.raises(ValueError, match="unknown fill 'zero'"):
        make_policy({"kind": "remove", "region": "eyes", "fill": "zero"})
    with pytest.raises(ValueError, match="unknown mask style 'kn95'"):
        make_policy({"kind": "mask", "style": "kn95"})


# ---------------------------------------------------------------------------------- published MaskFer
def test_published_maskfer_folders_pair_with_originals(tmp_path, tiny_faces):
    root, masked_root = tmp_path / "fer", tmp_path / "maskfer"
    masked = wear_mask(tiny_faces.images[:10], tiny_faces.landmarks[:10], tiny_faces.ids[:10])
    for i in range(10):
        usage = SPLITS[0] if i < 7 else SPLITS[1]
        part = "train" if i < 7 else "test"
        for base, img, suffix in ((root, tiny_faces.images[i], ""), (masked_root, masked[i], "_N95")):
            if base is masked_root and i in (2, 8):
                continue  # the mask tool found no face on these two
            d = base / part / EMOTION_FOLDERS[tiny_faces.labels[i]]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"{usage}_{500 + i}{suffix}.png")
    extra = masked_root / "train" / "happy"
    extra.mkdir(parents=True, exist_ok=True)
    Image.fromarray(masked[0]).save(extra / "Training_999_N95.png")
    originals = load_fer2013_folders(root)
    pairs = load_maskfer_folders(masked_root, originals)
    assert len(pairs.masked) == 8 and pairs.unmatched_originals == 2
    assert pairs.unmatched_masked == ["train/happy/Training_999_N95.png"]
    for j, i in enumerate(pairs.original_index):
        assert pairs.masked.ids[j] == originals.ids[i] and pairs.masked.labels[j] == originals.labels[i]
        k = int(originals.ids[i].split("_")[1]) - 500
        np.testing.assert_array_equal(pairs.masked.images[j], masked[k])
    assert "2 originals have no masked twin" in pairs.report()


def test_two_spellings_of_a_policy_have_one_canonical_spec():
    readme = {"kind": "mask", "style": "n95"}
    spelled_out = {"kind": "mask", "style": "n95", "seed": 0}
    assert policies.canonical_spec(readme) == policies.canonical_spec(spelled_out) == spelled_out
    assert policies.canonical_spec({"kind": "remove", "region": "eyes"}) == {"kind": "remove", "region": "eyes",
                                                                             "fill": "mean", "seed": 0}
    perturb = policies.canonical_spec({"kind": "perturb", "phase1": "p1"})
    assert perturb["n_clusters"] == 3 and perturb["lam"] == 1.5 and perturb["phase1"] == "p1"
