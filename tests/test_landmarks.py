"""Landmark providers and the regions drawn from landmarks."""
import numpy as np
import pytest
import torch

from perturb_lib import landmarks as lmk
from perturb_lib.data import DataError


def err(a, b):
    return float(np.linalg.norm(a - b, axis=-1).mean())


# ------------------------------------------------------------------------------------------ landmarks
def test_template_provider_agrees_with_ground_truth(small_faces, tmp_path):
    gt = small_faces.landmarks
    fitted = lmk.landmarks_for(small_faces, "template", cache_dir=tmp_path)  # fitted to the pixels; the ground truth is not used
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
    with pytest.raises(ValueError, match="unknown landmark provider 'openface'"):
        lmk.landmarks_for(tiny_faces, "openface")


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


# ------------------------------------------------------------------------------------------ detectors
def hopper_faces(shifts=((0, 0), (4, 2), (-3, 3))):
    """A real face that ships with matplotlib (Grace Hopper), cropped to 48x48 FER-like crops, and a blank crop
    on which no detector finds a face."""
    from matplotlib import cbook
    from PIL import Image

    from perturb_lib.data import FaceSet
    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("L")
    crops = [np.asarray(img.crop((129 + dx * 6, 116 + dy * 6, 408 + dx * 6, 395 + dy * 6)).resize((48, 48), Image.BOX))
             for dx, dy in shifts]
    images = np.stack(crops + [np.full((48, 48), 128, np.uint8)])
    n = len(images)
    return FaceSet(images, np.zeros(n), np.zeros(n), [f"hopper{i}" for i in range(n)], name="hopper")


def test_dlib_finds_a_real_face_and_predicts_every_face(tmp_path):
    pytest.importorskip("dlib", reason="the landmark extra: pip install -e '.[landmarks]'")
    faces = hopper_faces()
    points = lmk.landmarks_for(faces, "dlib", cache_dir=tmp_path)
    found = lmk.detected(faces, "dlib", cache_dir=tmp_path)
    assert points.shape == (4, 68, 2) and list(found) == [True, True, True, False]
    assert np.isfinite(points).all()  # the blank crop still gets 68 points, from the mean detected box
    for p in points[:3]:  # a face's parts where a face has them: eyes above the nose above the mouth
        eyes, nose, mouth = p[36:48, 1].mean(), p[30, 1], p[48:68, 1].mean()
        assert 8 < eyes < nose < mouth < 44 and p[36:42, 0].mean() < p[42:48, 0].mean()
    regions = lmk.region_masks(points[:1], ("eyes", "mouth"))[0]
    y, x = np.rint(points[0, 37]).astype(int)[::-1]
    assert regions[0, y, x] > 0.5


def test_mediapipe_mesh_and_its_regions(tmp_path):
    pytest.importorskip("mediapipe", reason="the landmark extra: pip install -e '.[landmarks]'")
    faces = hopper_faces()
    mesh = lmk.landmarks_for(faces, "mediapipe", cache_dir=tmp_path)
    assert mesh.shape == (4, 468, 2) and list(lmk.detected(faces, "mediapipe", cache_dir=tmp_path)) == [True, True, True, False]
    layout = lmk.MEDIAPIPE468
    masks = lmk.region_masks(mesh[:3], ("eyes", "nose", "mouth", "upper_face", "lower_face"))
    for face, m in zip(mesh[:3], masks):
        for k, part in enumerate((layout.right_eye, layout.nose, layout.mouth)):
            x, y = np.rint(face[list(part)].mean(0)).astype(int)
            assert m[k, y, x] > 0.5, k
        x, y = np.rint(face[layout.chin]).astype(int)
        assert m[4, min(y, 47) - 2, x] > 0.5 and m[3, min(y, 47) - 2, x] < 0.5  # the chin is in the lower face


def test_mediapipe_layout_matches_the_installed_mesh_connections():
    mp = pytest.importorskip("mediapipe", reason="the landmark extra: pip install -e '.[landmarks]'")
    c = mp.solutions.face_mesh_connections
    layout = lmk.MEDIAPIPE468

    def edges(loop, closed=True):
        pairs = list(zip(loop, loop[1:] + (loop[:1] if closed else ())))
        return {frozenset(p) for p in pairs}
    assert edges(layout.right_eye) == {frozenset(e) for e in c.FACEMESH_RIGHT_EYE}
    assert edges(layout.left_eye) == {frozenset(e) for e in c.FACEMESH_LEFT_EYE}
    assert edges(layout.face) == {frozenset(e) for e in c.FACEMESH_FACE_OVAL}
    assert edges(layout.mouth) <= {frozenset(e) for e in c.FACEMESH_LIPS}
    assert set(layout.right_brow) == {i for e in c.FACEMESH_RIGHT_EYEBROW for i in e}
    assert set(layout.nose) <= {i for e in c.FACEMESH_NOSE for i in e}


def test_landmarks_are_cached_by_their_code_and_auto_falls_back_with_a_warning(monkeypatch, tiny_faces, tmp_path):
    from perturb_lib.data import FaceSet
    from perturb_lib.landmarks import detectors, providers
    faces = FaceSet(tiny_faces.images[:6], tiny_faces.labels[:6], tiny_faces.splits[:6], tiny_faces.ids[:6],
                    name="no-landmarks")
    calls = []
    monkeypatch.setattr(detectors, "available", lambda name: True)
    monkeypatch.setattr(detectors, "dlib_landmarks",
                        lambda images, progress=None: calls.append(len(images)) or (np.zeros((len(images), 68, 2)),
                                                                                    np.arange(len(images)) % 2 == 0))
    assert providers.choose(faces) == "dlib"
    first = lmk.landmarks_for(faces, cache_dir=tmp_path)  # auto: dlib is installed
    again = lmk.landmarks_for(faces, "dlib", cache_dir=tmp_path)
    assert calls == [6] and np.array_equal(first, again)  # computed once, then read from the cache
    assert list(lmk.detected(faces, "dlib", cache_dir=tmp_path)) == [True, False] * 3
    assert len(list(tmp_path.glob("landmarks-dlib-*.npz"))) == 1
    # the detector's code changes: its cached points are not reused
    monkeypatch.setattr(detectors, "dlib_landmarks",
                        lambda images, progress=None: calls.append(-len(images)) or (np.ones((len(images), 68, 2)),
                                                                                     np.ones(len(images), bool)))
    changed = lmk.landmarks_for(faces, "dlib", cache_dir=tmp_path)
    assert calls == [6, -6] and changed.min() == 1 and len(list(tmp_path.glob("landmarks-dlib-*.npz"))) == 2
    monkeypatch.setattr(detectors, "available", lambda name: False)
    providers._warned.clear()
    with pytest.warns(UserWarning, match=r"dlib is not installed.*pip install -e '.\[landmarks\]'"):
        assert providers.choose(faces) == "template"
    with pytest.raises(ImportError, match="not installed"):
        providers.choose(faces, "mediapipe")
    assert providers.choose(tiny_faces) == "ground_truth"  # synthetic faces know their landmarks
