"""python -m perturb_lib.explain: the study's models on a photo, with its faces found, aligned to FER2013's frame,
masked, read and explained; and the errors a photo can give."""
import json

import numpy as np
import pytest
from PIL import Image

from perturb_lib import explain as ex

pytest.importorskip("dlib", reason="the explain command finds faces with dlib (the landmarks extra)")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Two tiny models trained on synthetic faces, published with their records in a ledger (as a committed study's
    clean- and mask-trained runs are): what the command loads."""
    from perturb_lib.data import make_synthetic_faces
    from perturb_lib.execution import Settings
    from perturb_lib.ledger import Ledger
    from perturb_lib.runs import Study, StudyContext
    from perturb_lib.train import TrainConfig, train
    root = tmp_path_factory.mktemp("explain")
    faces = make_synthetic_faces(size=0.01, seed=0)
    settings = Settings(device="cpu", progress="off", precision="fp32", threads=1)
    ledger = Ledger(root / "ledger")
    runs = {}
    for label, policy in (("trained clean", {"kind": "clean"}), ("trained masked", ex.MASK)):
        context = StudyContext.of(faces, root / "study", settings=settings)
        run = train(TrainConfig(width=0.0625, epochs=1, policy=policy), context)
        ledger.add(run)
        ledger.publish_model(run, context)
        runs[label] = Study(root / "study", root / "ledger").find(run.name)
    return runs


def astronaut(tmp_path, mode="RGB"):
    skimage = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) ships the astronaut photo")
    path = tmp_path / f"astronaut-{mode.replace(';', '')}.png"
    img = Image.fromarray(skimage.astronaut())
    if mode == "I;16":
        Image.fromarray((np.asarray(img.convert("L"), dtype=np.uint16) * 257)).save(path)
    else:
        img.convert(mode).save(path)
    return path


def test_a_real_photograph_gives_one_face_aligned_masked_read_and_explained(tmp_path, published):
    photo = astronaut(tmp_path)
    results = ex.explain_photos([photo], published)
    assert len(results) == 1  # her face; the mission patch on her sleeve scores below MIN_SCORE
    r = results[0]
    assert r.face.shape == r.masked.shape == (48, 48) and r.face.dtype == np.uint8
    assert (r.masked != r.face).mean() > 0.1  # the mask covers the lower face
    assert np.sqrt(((r.landmarks - ex.fer2013_frame()) ** 2).sum(1).mean()) < 4  # in FER2013's frame
    for label in published:
        for p in r.probabilities[label].values():
            assert p.shape == (7,) and p.sum() == pytest.approx(1, abs=1e-5) and (p >= 0).all()
        assert r.saliency[label].shape == (48, 48)
    png = ex.write_png(r, tmp_path / "out")
    assert png.name == "astronaut-RGB-face1.png" and png.stat().st_size > 10_000


def test_grayscale_rgba_and_16_bit_photos_read_as_the_same_face(tmp_path):
    base = ex.read_photo(astronaut(tmp_path, "RGB"))
    for mode in ("L", "RGBA", "I;16"):
        gray = ex.read_photo(astronaut(tmp_path, mode))
        assert gray.dtype == np.uint8 and gray.shape == base.shape
        assert np.abs(gray.astype(int) - base).max() <= 1, mode
    assert len(ex.find_faces(ex.read_photo(astronaut(tmp_path, "I;16")))) == 1


def test_a_synthetic_face_and_several_faces_give_one_result_each(tmp_path, published):
    from perturb_lib.data import make_synthetic_faces
    faces = make_synthetic_faces(size=0.01, seed=0)
    one = np.asarray(Image.fromarray(faces.images[1]).resize((192, 192), Image.Resampling.BICUBIC))  # scores 1.1
    Image.fromarray(one).save(tmp_path / "synthetic.png")
    Image.fromarray(np.hstack([one, np.full((192, 64), int(one.mean()), np.uint8), one])).save(tmp_path / "two.png")
    results = ex.explain_photos([tmp_path / "synthetic.png", tmp_path / "two.png"], published)
    assert [(r.photo.split("/")[-1], r.index) for r in results] == [("synthetic.png", 0), ("two.png", 0),
                                                                     ("two.png", 1)]
    assert results[1].box[0] < results[2].box[0]  # left to right


def test_bad_photos_say_what_is_wrong_and_name_the_file(tmp_path, published, capsys):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120), 128, np.uint8)).save(blank)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ex.PhotoError, match=f"{blank}: no face found"):
        ex.explain_photos([blank], published)
    for bad in (corrupt, text):
        with pytest.raises(ex.PhotoError, match=f"{bad}: not an image that can be read"):
            ex.read_photo(bad)
    with pytest.raises(ex.PhotoError, match="no such file"):
        ex.read_photo(tmp_path / "missing.png")
    # the command line: a clear line and exit status 2, no traceback
    models = [str(r.dir) for r in published.values()]
    assert ex.main([str(corrupt), *sum((["--model", m] for m in models), [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {corrupt}: not an image") and "Traceback" not in err


def test_the_command_prints_probabilities_as_json(tmp_path, published, capsys):
    photo = astronaut(tmp_path)
    models = sum((["--model", str(r.dir)] for r in published.values()), [])
    assert ex.main([str(photo), "--json", *models]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc) == 1 and doc[0]["face"] == 0
    for probabilities in doc[0]["probabilities"].values():
        for p in probabilities.values():
            assert list(p) == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
            assert sum(p.values()) == pytest.approx(1, abs=1e-3)
    assert ex.main([str(photo), "--out", str(tmp_path / "png"), *models]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 1


def test_the_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(68, 2)) * 30 + 100
    angle, scale, shift = 0.3, 0.25, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = scale * source @ rotation.T + shift
    m = ex.similarity(source, target)
    np.testing.assert_allclose(m[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-7)
