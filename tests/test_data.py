"""The data layer: every loader on small files the tests write, each bad-input case, caching, synthetic faces."""
import csv
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from perturb_lib.data import (EMOTION_FOLDERS, EMOTIONS, SPLITS, DataError, FaceSet, load_dataset,
                              load_fer2013, load_fer2013_csv, load_fer2013_folders, load_ferplus,
                              make_synthetic_faces)
from perturb_lib.data.faces import FER2013_TRAIN_COUNTS
from perturb_lib.geometry import polygon_sdf
from perturb_lib.landmarks import MAP_REGIONS, face_outline, region_map


# ------------------------------------------------------------------------------------------- helpers
def write_csv(path, rows, header=("emotion", "pixels", "Usage")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
    return path


def good_rows(faces, n=12):
    usages = ["Training"] * (n - 4) + ["PublicTest"] * 2 + ["PrivateTest"] * 2
    return [[int(faces.labels[i]), " ".join(map(str, faces.images[i].ravel())), usages[i]] for i in range(n)]


# ---------------------------------------------------------------------------------------------- CSV
def test_csv_roundtrip(tmp_path, tiny_faces):
    rows = good_rows(tiny_faces)
    got = load_fer2013_csv(write_csv(tmp_path / "fer.csv", rows))
    assert len(got) == 12
    np.testing.assert_array_equal(got.images, tiny_faces.images[:12])
    np.testing.assert_array_equal(got.labels, tiny_faces.labels[:12])
    assert [SPLITS[s] for s in got.splits] == [r[2] for r in rows]
    assert got.ids[0] == "fer0000000" and got.ids[11] == "fer0000011"


def test_csv_tolerates_irregular_spacing(tmp_path, tiny_faces):
    rows = good_rows(tiny_faces, 4)
    rows[1][1] = "  " + rows[1][1].replace(" ", "  ", 5) + " "
    got = load_fer2013_csv(write_csv(tmp_path / "fer.csv", rows))
    np.testing.assert_array_equal(got.images[1], tiny_faces.images[1])


@pytest.mark.parametrize("case, edit, message", [
    ("wrong pixel count", lambda r: r[3].__setitem__(1, " ".join(r[3][1].split()[:-1])), r"line 5: 2303 pixel values"),
    ("non-numeric pixel", lambda r: r[2].__setitem__(1, r[2][1].replace(r[2][1].split()[7], "12a", 1)),
     r"line 4: non-numeric pixel '12a'"),
    ("pixel above 255", lambda r: r[0].__setitem__(1, "256 " + " ".join(r[0][1].split()[1:])), r"line 2: pixel value 256"),
    ("label out of range", lambda r: r[5].__setitem__(0, 7), r"line 7: emotion 7 out of range"),
    ("label not a number", lambda r: r[5].__setitem__(0, "happy"), r"line 7: emotion 'happy' is not an integer"),
    ("unknown usage", lambda r: r[6].__setitem__(2, "Validation"), r"line 8: unknown Usage 'Validation'"),
])
def test_csv_bad_rows_name_file_and_line(tmp_path, tiny_faces, case, edit, message):
    rows = good_rows(tiny_faces)
    edit(rows)
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError, match=message) as info:
        load_fer2013_csv(path)
    assert str(path) in str(info.value)


def test_csv_missing_column_and_empty_file(tmp_path, tiny_faces):
    path = write_csv(tmp_path / "nousage.csv", [r[:2] for r in good_rows(tiny_faces, 3)], header=("emotion", "pixels"))
    with pytest.raises(DataError, match=r"nousage.csv: missing column\(s\) Usage"):
        load_fer2013_csv(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty.csv: empty file"):
        load_fer2013_csv(empty)
    header_only = write_csv(tmp_path / "header.csv", [])
    with pytest.raises(DataError, match="no data rows"):
        load_fer2013_csv(header_only)


def test_cache_is_reused_and_written_atomically(tmp_path, tiny_faces, monkeypatch):
    rows = good_rows(tiny_faces, 12) * 60  # 720 rows
    path = write_csv(tmp_path / "fer.csv", rows)
    cache = tmp_path / "cache"
    first = load_fer2013_csv(path, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    import perturb_lib.data.fer2013 as fer_mod
    stamp = files[0].stat().st_mtime_ns
    second = load_fer2013_csv(path, cache_dir=cache)  # read back: the cache file is neither rewritten nor added to
    assert list(cache.glob("*.npz")) == files and files[0].stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    real, parsed = fer_mod._parse_fer2013_csv, []
    with monkeypatch.context() as m:  # the parser's code changes: the old cache is not reused
        m.setattr(fer_mod, "_parse_fer2013_csv", lambda p: parsed.append(p) or real(p))
        load_fer2013_csv(path, cache_dir=cache)
    assert parsed == [path] and len(list(cache.glob("*.npz"))) == 2
    for extra in set(cache.glob("*.npz")) - set(files):
        extra.unlink()
    # a write that dies half-way leaves nothing behind that could later pass for a cache
    import perturb_lib.data.faces as faces_mod

    def boom(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(faces_mod.np, "savez", boom)
    path2 = write_csv(tmp_path / "fer2.csv", good_rows(tiny_faces, 12))
    with pytest.raises(KeyboardInterrupt):
        load_fer2013_csv(path2, cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == [files[0].name]


def test_damaged_cache_is_rebuilt(tmp_path, tiny_faces):
    path = write_csv(tmp_path / "fer.csv", good_rows(tiny_faces, 6))
    cache = tmp_path / "cache"
    load_fer2013_csv(path, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"not a zip")
    again = load_fer2013_csv(path, cache_dir=cache)
    np.testing.assert_array_equal(again.images, tiny_faces.images[:6])


# ----------------------------------------------------------------------------------------- folders
def write_folders(root, faces, n=14, ext=".png"):
    for i in range(n):
        usage = SPLITS[0] if i < n - 4 else SPLITS[1 + i % 2]
        part = "train" if usage == "Training" else "test"
        d = root / part / EMOTION_FOLDERS[faces.labels[i]]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(faces.images[i]).save(d / f"{usage}_{1000 + i}{ext}")
    return root


def test_folders_labels_follow_csv_ids_not_alphabet(tmp_path, tiny_faces):
    root = write_folders(tmp_path / "fer", tiny_faces)
    got = load_fer2013_folders(root)
    assert len(got) == 14
    order = {k: i for i, k in enumerate(got.ids)}
    for i in range(14):
        usage = SPLITS[0] if i < 10 else SPLITS[1 + i % 2]
        j = order[f"{usage}_{1000 + i}"]
        assert got.labels[j] == tiny_faces.labels[i]  # e.g. neutral is 6 although it sorts before sad
        np.testing.assert_array_equal(got.images[j], tiny_faces.images[i])
        assert SPLITS[got.splits[j]] == usage


def test_folders_accept_jpeg_and_rgb(tmp_path, tiny_faces):
    d = tmp_path / "fer" / "train" / "happy"
    d.mkdir(parents=True)
    Image.fromarray(np.stack([tiny_faces.images[0]] * 3, -1)).save(d / "Training_1.jpg", quality=95)
    got = load_fer2013_folders(tmp_path / "fer")
    assert got.images.shape == (1, 48, 48) and got.labels[0] == EMOTIONS.index("Happy")
    assert np.abs(got.images[0].astype(int) - tiny_faces.images[0]).mean() < 6  # lossy, but the same face


def test_folder_errors_name_the_image(tmp_path, tiny_faces):
    root = write_folders(tmp_path / "fer", tiny_faces, n=4)
    bad = root / "train" / "sad" / "Training_77.jpg"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=r"Training_77.jpg: unreadable image"):
        load_fer2013_folders(root)
    bad.unlink()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(root / "train" / "sad" / "Training_78.png")
    with pytest.raises(DataError, match=r"Training_78.png: image is 40x40, expected 48x48"):
        load_fer2013_folders(root)
    (root / "train" / "sad" / "Training_78.png").unlink()
    (root / "train" / "contempt").mkdir()
    with pytest.raises(DataError, match=r"unknown emotion folder 'contempt'"):
        load_fer2013_folders(root)


def test_folder_duplicate_ids(tmp_path, tiny_faces):
    root = write_folders(tmp_path / "fer", tiny_faces, n=8)
    first = next((root / "train").rglob("Training_1000.png"))
    other = root / "train" / ("sad" if first.parent.name != "sad" else "angry")
    other.mkdir(exist_ok=True)
    Image.fromarray(tiny_faces.images[5]).save(other / "Training_1000.png")
    with pytest.raises(DataError, match=r"duplicate id 'Training_1000' in train/"):
        load_fer2013_folders(root, duplicate_ids="error")
    with pytest.warns(UserWarning, match="Training_1000"):
        got = load_fer2013_folders(root)  # default: keep both, ids made unique by emotion
    assert len(got) == 9 and len(set(got.ids)) == 9
    assert {i for i in got.ids if i.startswith("Training_1000")} == {
        f"Training_1000~{first.parent.name}", f"Training_1000~{other.name}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(load_fer2013_folders(root, duplicate_ids="drop")) == 7
    # the same id twice in one folder (jpg and png) is always an error
    Image.fromarray(tiny_faces.images[1]).save(first.with_suffix(".jpg"))
    with pytest.raises(DataError, match="duplicate id"):
        load_fer2013_folders(root)


def test_npz_roundtrip_and_duplicate_ids(tmp_path, tiny_faces):
    path = tiny_faces.save_npz(tmp_path / "faces.npz")
    back = load_fer2013(path)
    np.testing.assert_array_equal(back.images, tiny_faces.images)
    np.testing.assert_allclose(back.landmarks, tiny_faces.landmarks)
    np.testing.assert_array_equal(back.extras["regions"], tiny_faces.extras["regions"])
    ids = tiny_faces.ids.copy()
    ids[3] = ids[1]
    np.savez(tmp_path / "dup.npz", images=tiny_faces.images, labels=tiny_faces.labels,
             splits=tiny_faces.splits, ids=ids)
    with pytest.raises(DataError, match=r"dup.npz: duplicate id .* at rows 1 and 3"):
        FaceSet.load_npz(tmp_path / "dup.npz")
    with pytest.raises(DataError, match="missing field"):
        np.savez(tmp_path / "nolabels.npz", images=tiny_faces.images)
        FaceSet.load_npz(tmp_path / "nolabels.npz")


def test_load_fer2013_dispatch_and_missing_path(tmp_path, tiny_faces):
    write_csv(tmp_path / "fer2013.csv", good_rows(tiny_faces, 5))
    assert len(load_fer2013(tmp_path)) == 5  # a folder holding fer2013.csv
    with pytest.raises(DataError, match="no such file or folder"):
        load_fer2013(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="needs data_path"):
        load_dataset("fer2013")
    with pytest.raises(ValueError, match="unknown dataset 'affectnet'; choose one of synthetic, fer2013, ferplus"):
        load_dataset("affectnet", data_path=str(tmp_path))


# --------------------------------------------------------------------------------------------- FER+
def test_ferplus_majority_nonfaces_and_ties(tmp_path, tiny_faces):
    base = load_fer2013_csv(write_csv(tmp_path / "fer2013.csv", good_rows(tiny_faces, 5)))
    header = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
              "contempt", "unknown", "NF"]
    votes = [
        ["Training", "fer0000000.png", 1, 8, 1, 0, 0, 0, 0, 0, 0, 0],  # happy
        ["Training", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face
        ["Training", "fer0000002.png", 4, 0, 0, 4, 0, 0, 0, 0, 2, 0],  # tie neutral/sad
        ["Training", "fer0000003.png", 0, 0, 0, 0, 0, 0, 0, 7, 3, 0],  # contempt: no FER2013 class
        ["Training", "fer0000004.png", 0, 0, 0, 0, 9, 0, 1, 0, 0, 0],  # anger
    ]
    vpath = write_csv(tmp_path / "fer2013new.csv", votes, header=header)
    # the base rows' usages must match: rewrite them all as Training
    rows = good_rows(tiny_faces, 5)
    for r in rows:
        r[2] = "Training"
    base = load_fer2013_csv(write_csv(tmp_path / "fer2013.csv", rows))
    got = load_ferplus(vpath, base)
    assert list(got.ids) == ["fer0000000", "fer0000004"]
    assert list(got.labels) == [EMOTIONS.index("Happy"), EMOTIONS.index("Angry")]
    assert len(load_ferplus(vpath, base, drop_ties=False)) == 3
    got_all = load_dataset("ferplus", str(tmp_path))
    assert list(got_all.ids) == ["fer0000000", "fer0000004"]
    with pytest.raises(DataError, match="rows but the FER2013 CSV has"):
        load_ferplus(vpath, base.subset(np.arange(4)))


# ---------------------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic(tiny_faces):
    again = make_synthetic_faces(size=0.01, seed=0)
    np.testing.assert_array_equal(again.images, tiny_faces.images)
    np.testing.assert_array_equal(again.labels, tiny_faces.labels)
    np.testing.assert_array_equal(again.landmarks, tiny_faces.landmarks)
    other = make_synthetic_faces(size=0.01, seed=1)
    assert not np.array_equal(other.images, tiny_faces.images)


def test_synthetic_sizes_and_proportions():
    faces = make_synthetic_faces(size=0.05, seed=3)
    sizes = [int((faces.splits == i).sum()) for i in range(3)]
    assert sizes == [round(28709 * 0.05), round(3589 * 0.05), round(3589 * 0.05)]
    train = np.bincount(faces.extras["label_clean"][faces.splits == 0], minlength=7)
    expected = np.asarray(FER2013_TRAIN_COUNTS) / sum(FER2013_TRAIN_COUNTS) * sizes[0]
    assert np.all(np.abs(train - expected) <= 1.5)
    noisy = (faces.labels != faces.extras["label_clean"]).mean()
    assert 0.01 < noisy < 0.06  # label noise about 3%
    # identities never cross splits
    ident = faces.extras["identity"]
    assert not set(ident[faces.splits == 0]) & set(ident[faces.splits == 2])


def test_synthetic_ground_truth_is_consistent(tiny_faces):
    lm = tiny_faces.landmarks
    # landmarks of the inner face lie inside the image; eyes above the nose above the mouth
    inner = lm[:, 17:68]
    assert inner.min() > 0 and inner.max() < 47
    eyes_y, nose_y, mouth_y = lm[:, 36:48, 1].mean(1), lm[:, 30, 1], lm[:, 48:60, 1].mean(1)
    assert np.all(eyes_y < nose_y) and np.all(nose_y < mouth_y)
    # inner-face landmarks lie inside the face outline (the jaw closed over the forehead)
    outline = face_outline(torch.as_tensor(lm))
    inside = torch.stack([polygon_sdf(outline[i:i + 1], torch.as_tensor(lm[i, 17:68]))[0] for i in range(len(lm))])
    assert (inside > 0).float().mean() > 0.99
    # the region map is the one rasterised from the landmarks, and each region holds its own landmarks
    regions = tiny_faces.extras["regions"]
    np.testing.assert_array_equal(regions, region_map(lm))
    for name, idx in (("eyes", [37, 38, 43, 44]), ("mouth", [51, 57, 62, 66]), ("nose", [30, 33]),
                      ("brows", [19, 24])):
        x, y = np.rint(lm[:, idx, 0]).astype(int), np.rint(lm[:, idx, 1]).astype(int)
        hit = regions[np.arange(len(lm))[:, None], y, x] == MAP_REGIONS.index(name)
        assert hit.mean() > 0.9, name


def test_synthetic_expressions_move_their_regions(tiny_faces):
    """An emotion's AUs displace the landmarks of its defining regions relative to the neutral face."""
    moved = np.linalg.norm(tiny_faces.landmarks - tiny_faces.extras["neutral_landmarks"], axis=-1)
    clean = tiny_faces.extras["label_clean"]
    mouth = moved[:, 48:68].mean(1)
    brows = moved[:, 17:27].mean(1)
    happy, surprise, neutral, sad = (clean == EMOTIONS.index(e) for e in ("Happy", "Surprise", "Neutral", "Sad"))
    assert mouth[happy].mean() > 3 * mouth[neutral].mean()
    assert mouth[surprise].mean() > 3 * mouth[neutral].mean()
    assert brows[sad].mean() > 3 * brows[neutral].mean()


def test_torchvision_compiled_ops_load():
    """torch and torchvision must be a matching pair: a mismatched install fails right here."""
    import torch
    import torchvision
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_no_emotion_outside_the_faces(small_faces):
    """The synthetic faces carry their emotion only on the face: a probe on the pixels outside every face's
    outline reads no more than chance (the Perturb Scheme's attention once found the image border; the data was
    not the cause)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    from perturb_lib.landmarks import region_masks
    face = region_masks(small_faces.landmarks, ["face"])[:, 0]
    outside = (face < 0.01).all(0)
    assert outside.sum() > 100
    feats = small_faces.images[:, outside.numpy()].astype(np.float32) / 255
    train, test = small_faces.splits == 0, small_faces.splits > 0
    probe = LogisticRegression(max_iter=2000, class_weight="balanced").fit(feats[train], small_faces.labels[train])
    score = balanced_accuracy_score(small_faces.labels[test], probe.predict(feats[test]))
    se = np.sqrt((1 / 7) * (6 / 7) / test.sum()) * np.sqrt(7)  # per-class recalls average 7 binomials
    assert score < 1 / 7 + 3 * se, score
    # the same probe on the face's own pixels does read the emotion: the check can fail
    inside = (face > 0.99).all(0)
    feats = small_faces.images[:, inside.numpy()].astype(np.float32) / 255
    probe = LogisticRegression(max_iter=2000, class_weight="balanced").fit(feats[train], small_faces.labels[train])
    assert balanced_accuracy_score(small_faces.labels[test], probe.predict(feats[test])) > 1 / 7 + 3 * se


def test_defining_regions_are_measured_once_per_cache(tmp_path, monkeypatch):
    """The measurement (4 s of rendering) runs once; a damaged cache file is measured again and replaced."""
    from perturb_lib.data import registry, synthetic
    calls = []
    truth = {"Happy": ("mouth", "eyes"), "Neutral": ()}
    monkeypatch.setattr(synthetic, "defining_regions", lambda size, seed: calls.append((size, seed)) or truth)
    assert registry.defining_regions(cache_dir=tmp_path) == truth
    assert registry.defining_regions(cache_dir=tmp_path) == truth and calls == [(0.05, 0)]
    cache, = tmp_path.glob("defining-regions-0.05-0-*.json")
    cache.write_text("{not json")
    assert registry.defining_regions(cache_dir=tmp_path) == truth and len(calls) == 2
    assert json.loads(cache.read_text()) == {"Happy": ["mouth", "eyes"], "Neutral": []}
    assert registry.defining_regions(cache_dir=None) == truth and len(calls) == 3



def test_files_written_atomically_get_the_permissions_open_would_give(tmp_path):
    """A record, table or picture written through a temporary file is readable as a file written with open() is
    (mkstemp alone would leave it readable by its owner only)."""
    from perturb_lib.io import atomic_write_text
    path = atomic_write_text(tmp_path / "a.json", "{}")
    (tmp_path / "b.json").write_text("{}")
    assert path.read_text() == "{}"
    assert oct(path.stat().st_mode & 0o777) == oct((tmp_path / "b.json").stat().st_mode & 0o777)
