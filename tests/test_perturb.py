"""Landmark providers, region geometry, MaskFer masks, feature removal, published-MaskFer pairing."""
import numpy as np
import pytest
import torch
from PIL import Image

from perturb_lib import landmarks as lmk
from perturb_lib import perturb
from perturb_lib.data import EMOTION_FOLDERS, SPLITS, DataError
from perturb_lib.data.fer2013 import load_fer2013_folders
from perturb_lib.policy import SplitTensors, make_policy


def err(a, b):
    return float(np.linalg.norm(a - b, axis=-1).mean())


# ------------------------------------------------------------------------------------------ landmarks
def test_template_provider_agrees_with_ground_truth(small_faces):
    gt = small_faces.landmarks
    fitted = lmk.landmarks_for(small_faces, "template")  # fitted to the pixels; the ground truth is not used
    dataset_level = lmk.fit_template(small_faces.images, refine=False)
    assert err(fitted, gt) < 1.8  # pixels, on 48x48 faces whose pose and identity vary
    assert err(fitted, gt) < err(dataset_level, gt)  # the per-image refinement helps
    assert err(dataset_level, gt) < 2.6


def test_file_provider_roundtrip_and_errors(tmp_path, tiny_faces):
    path = tmp_path / "lm.csv"
    order = np.random.default_rng(0).permutation(len(tiny_faces))
    lmk.save_landmark_file(path, tiny_faces.ids[order], tiny_faces.landmarks[order])  # any row order
    back = lmk.landmarks_for(tiny_faces, "file", path)
    assert err(back, tiny_faces.landmarks) < 1e-3
    npz = tmp_path / "lm.npz"
    np.savez(npz, ids=tiny_faces.ids, landmarks=tiny_faces.landmarks)
    np.testing.assert_allclose(lmk.load_landmark_file(npz, tiny_faces.ids[:5]), tiny_faces.landmarks[:5])
    lmk.save_landmark_file(path, tiny_faces.ids[:10], tiny_faces.landmarks[:10])
    with pytest.raises(DataError, match=r"lm.csv: no landmarks for 349 of 359 faces"):
        lmk.load_landmark_file(path, tiny_faces.ids)
    text = path.read_text().splitlines()
    text[3] = text[3].replace(text[3].split(",")[5], "abc", 1)
    path.write_text("\n".join(text))
    with pytest.raises(DataError, match=r"lm.csv, line 4: non-numeric coordinate"):
        lmk.load_landmark_file(path, tiny_faces.ids[:10])
    with pytest.raises(ValueError, match="unknown landmark provider 'dlib'"):
        lmk.landmarks_for(tiny_faces, "dlib")


def test_region_masks_are_where_their_landmarks_are(tiny_faces):
    lm = tiny_faces.landmarks[:20]
    masks = lmk.region_masks(lm)
    assert masks.shape == (20, len(lmk.REGIONS), 48, 48)
    assert masks.min() >= 0 and masks.max() <= 1
    at = lambda name, k: masks[np.arange(20), lmk.REGIONS.index(name),  # noqa: E731
                               np.rint(lm[:, k, 1]).astype(int), np.rint(lm[:, k, 0]).astype(int)]
    assert (at("mouth", 57) > 0.5).all() and (at("right_eye", 37) > 0.5).all() and (at("nose", 30) > 0.5).all()
    assert (at("upper_face", 19) > 0.5).all() and (at("lower_face", 57) > 0.5).all()
    assert (at("upper_face", 57) < 0.5).all() and (at("lower_face", 37) < 0.5).all()
    faces_area = masks[:, lmk.REGIONS.index("face")].sum((1, 2))
    halves = masks[:, lmk.REGIONS.index("upper_face")].sum((1, 2)) + masks[:, lmk.REGIONS.index("lower_face")].sum((1, 2))
    torch.testing.assert_close(halves, faces_area, rtol=0.02, atol=2.0)  # the halves tile the face


# ------------------------------------------------------------------------------------------ MaskFer
def test_mask_covers_mouth_and_nose_but_not_eyes(tiny_faces):
    x = torch.as_tensor(tiny_faces.images).float() / 255
    lm = torch.as_tensor(tiny_faces.landmarks)
    for style in perturb.MASK_STYLES:
        alpha, tone = perturb.mask_layers(x, lm, perturb.id_keys(tiny_faces.ids), style)
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
    a = perturb.apply_mask(imgs, lm, ids, "cloth", seed=0)
    b = perturb.apply_mask(imgs[::-1], lm[::-1], ids[::-1], "cloth", seed=0)[::-1]  # order does not matter
    np.testing.assert_array_equal(a, b)
    c = perturb.apply_mask(imgs, lm, ids, "cloth", seed=1)
    assert not np.array_equal(a, c)
    noise = perturb.hash_noise(perturb.id_keys(ids))
    assert noise.shape == (12, 48, 48) and 0.45 < float(noise.mean()) < 0.55 and noise.std() > 0.25


def test_mask_shading_follows_face_brightness(tiny_faces):
    img = tiny_faces.images[:1].astype(np.float32)
    ramp = np.clip(img * np.linspace(0.6, 1.4, 48)[None, None, :], 0, 255).astype(np.uint8)
    x = torch.as_tensor(ramp).float() / 255
    alpha, tone = perturb.mask_layers(x, torch.as_tensor(tiny_faces.landmarks[:1]), perturb.id_keys(tiny_faces.ids[:1]),
                                      "surgical")
    inside = alpha[0] > 0.99
    cols = torch.arange(48)[None].expand(48, 48)
    left, right = tone[0][inside & (cols < 20)].mean(), tone[0][inside & (cols > 28)].mean()
    assert right > left + 0.05  # a face lit from the right gets a mask lit from the right


def test_mask_policy_is_a_view_on_the_device_data(tiny_faces):
    split = SplitTensors("Training", torch.as_tensor(tiny_faces.images[:16]), torch.as_tensor(tiny_faces.labels[:16]),
                         torch.as_tensor(tiny_faces.landmarks[:16]), tiny_faces.ids[:16])
    pol = make_policy({"kind": "mask", "style": "n95", "seed": 0})
    pol.prepare(split)
    idx = torch.tensor([3, 7])
    x, y = pol.train_inputs(split.batch(idx), split.labels[idx], split, idx, torch.Generator())
    expected = perturb.apply_mask(tiny_faces.images[[3, 7]], tiny_faces.landmarks[[3, 7]], tiny_faces.ids[[3, 7]], "n95")
    assert np.abs((x[:, 0] * 255).numpy() - expected).max() <= 2  # uint8 rounding of the cached layers
    assert torch.equal(split.images, torch.as_tensor(tiny_faces.images[:16]))  # the data itself is untouched


# ------------------------------------------------------------------------------------------ removal
@pytest.mark.parametrize("region", perturb.REMOVAL_REGIONS)
@pytest.mark.parametrize("fill", perturb.FILLS)
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
    masked = perturb.apply_mask(tiny_faces.images[:10], tiny_faces.landmarks[:10], tiny_faces.ids[:10])
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
    pairs = perturb.load_maskfer_folders(masked_root, originals)
    assert len(pairs.masked) == 8 and pairs.unmatched_originals == 2
    assert pairs.unmatched_masked == ["train/happy/Training_999_N95.png"]
    for j, i in enumerate(pairs.original_index):
        assert pairs.masked.ids[j] == originals.ids[i] and pairs.masked.labels[j] == originals.labels[i]
        k = int(originals.ids[i].split("_")[1]) - 500
        np.testing.assert_array_equal(pairs.masked.images[j], masked[k])
    assert "2 originals have no masked twin" in pairs.report()
