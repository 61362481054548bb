"""Landmark providers and the regions drawn from landmarks."""
import numpy as np
import pytest
import torch

from perturb_lib import landmarks as lmk
from perturb_lib.data import DataError


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
