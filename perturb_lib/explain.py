"""The study's models on your own photos: the emotion each model reads in a face, with and without the study's mask,
and where each model looks.

    python -m perturb_lib.explain me.jpg                 # one PNG per face found, in explained/
    python -m perturb_lib.explain group.png --json       # the probabilities instead
    python -m perturb_lib.explain me.jpg --model <record name>

For every face that dlib's HOG detector finds (the study's detector, with MaskTheFace's one upsampling step), its
68 landmarks are placed by dlib's shape predictor; the face is then aligned to the frame of FER2013 (a similarity
transform, least squares, that maps its landmarks onto the mean landmarks of the FER2013 faces dlib finds,
``perturb_lib/data/fer2013_frame.json``, measured by ``benchmarks/fer2013_frame.py``) and resampled to 48x48
grayscale, as FER2013's faces are framed. The study's N95 mask is drawn on it from the same landmarks (the MaskFer
geometry). The clean-trained model reads the face and the mask-trained model the masked face, each with its
saliency map (notebook 02's method). The models are the committed study's Table 1 runs of the seed its notebooks
explain, loaded from the models published with their records: nothing is trained.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.faces import EMOTIONS
from .paths import PROJECT_ROOT, resolve

FRAME_FILE = Path(__file__).parent / "data" / "fer2013_frame.json"
MASK = {"kind": "mask", "style": "n95", "seed": 0}


class PhotoError(ValueError):
    """A photo that cannot be read, or in which no face is found; the message names the file."""


@dataclass
class FaceResult:
    """One face of a photo, as the study's models read it.

    Attributes:
        photo: the photo's path; index: the face's number in it (left to right); box: its detection box
            (left, top, right, bottom) in the photo's pixels.
        face, masked: (48, 48) uint8, the aligned face and the same face with the study's mask.
        landmarks: (68, 2) its landmarks in the 48x48 frame.
        probabilities: ``{model label: {input: (7,) probabilities}}``, every model on the face and the masked face.
        saliency: ``{model label: (48, 48)}``, each model's map on the input it was trained for.
    """

    photo: str
    index: int
    box: tuple
    face: np.ndarray
    masked: np.ndarray
    landmarks: np.ndarray
    probabilities: dict = field(default_factory=dict)
    saliency: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"photo": self.photo, "face": self.index, "box": list(self.box),
                "probabilities": {model: {inp: dict(zip(EMOTIONS, np.round(p, 4).tolist())) for inp, p in d.items()}
                                  for model, d in self.probabilities.items()}}


# ------------------------------------------------------------------------------------------ photos and faces
def read_photo(path: str | Path) -> np.ndarray:
    """A photo as (H, W) uint8 grayscale: colour, grayscale, with an alpha channel (laid on white), 16-bit.

    Raises:
        PhotoError: naming the file, when it is missing or not an image.
    """
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16- or 32-bit grayscale: scale to 8 bits
                a = np.asarray(img, dtype=np.float64)
                top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
                return np.clip(a / top * 255, 0, 255).round().astype(np.uint8)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, rgba)
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(f"{path}: not an image that can be read ({exc})") from None


#: a detection scoring below this is not a face: on scikit-image's astronaut, her face scores 1.08 and the mission
#: patch on her sleeve 0.03 (dlib counts every score above 0; FER2013's crops hold one face each, photos do not)
MIN_SCORE = 0.5


def find_faces(gray: np.ndarray, min_score: float = MIN_SCORE) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Every face dlib's HOG detector finds (one upsampling step) with a score of at least ``min_score``, left to
    right, with its 68 landmarks (x, y)."""
    import dlib

    from .landmarks.detectors import dlib_model_path
    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(dlib_model_path())
    rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, 2))
    rects, scores, _ = detector.run(rgb, 1, 0)
    faces = []
    for r in sorted((r for r, score in zip(rects, scores) if score >= min_score), key=lambda r: r.left()):
        shape = predictor(rgb, r)
        points = np.array([(shape.part(k).x, shape.part(k).y) for k in range(68)], dtype=np.float64)
        faces.append(((r.left(), r.top(), r.right(), r.bottom()), points))
    return faces


def fer2013_frame() -> np.ndarray:
    """(68, 2): where FER2013 puts dlib's landmarks in its 48x48 crops (their mean over the faces dlib finds)."""
    return np.asarray(json.loads(FRAME_FILE.read_text())["points"], dtype=np.float64)


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, shift) that maps ``source`` points onto ``target``
    points in the least-squares sense (Umeyama's solution, without reflection)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(t.T @ s / len(s))
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = (sigma * np.diag(d)).sum() / s.var(0).sum()
    return np.hstack([scale * rotation, (mu_t - scale * rotation @ mu_s)[:, None]])


def align(gray: np.ndarray, points: np.ndarray, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """The face resampled into FER2013's frame: ``(face (48, 48) uint8, its landmarks (68, 2) in that frame)``."""
    from PIL import Image
    m = similarity(points, fer2013_frame())
    inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # PIL maps each output pixel back into the photo
    # pixel centres at integers on both sides: PIL's affine transform samples output pixel (i, j) at its centre
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    coeffs = (shift @ np.vstack([inverse, [0, 0, 1]]) @ unshift)[:2].ravel()
    face = Image.fromarray(gray).transform((size, size), Image.Transform.AFFINE, tuple(coeffs),
                                           resample=Image.Resampling.BILINEAR, fillcolor=int(np.median(gray)))
    return np.asarray(face, dtype=np.uint8), points @ m[:, :2].T + m[:, 2]


# ------------------------------------------------------------------------------------------ models
def study_models(study: str = "fer2013-cpu") -> dict:
    """The models a committed study's notebooks explain: Table 1's clean- and mask-trained runs of its explained
    seed, as ``{"trained clean": Run, "trained masked": Run}`` (their models published with their records)."""
    from .experiments import MaskFerResults
    from .runs import Study
    root = resolve(PROJECT_ROOT / "figures" / study)
    if not (root / "results" / "maskfer.json").is_file():
        raise PhotoError(f"{root}: no committed study {study!r} (figures/<study>/results/maskfer.json)")
    results = MaskFerResults.load(root)
    if results.explain_seed is None:
        raise PhotoError(f"{root}/results/maskfer.json names no explained seed (results older than explain_seed): "
                         "re-execute notebook 01, or name the models with --model")
    where = Study(PROJECT_ROOT / "runs" / study, root / "records")  # the ledger read in place, never written
    runs = {f"trained {c}": results.run(where, results.models[0], results.explain_seed, c) for c in ("clean", "masked")}
    for label, run in runs.items():
        if not run.published_model:
            raise PhotoError(f"{run.dir}: its model is not published with its record ({label} model of {study!r})")
    return runs


def named_models(names: list[str], study: str = "fer2013-cpu") -> dict:
    """Records given by name (in the study's ledger) or by folder, each with a published model."""
    from .runs import Run, Study
    root = resolve(PROJECT_ROOT / "figures" / study)
    out = {}
    for name in names:
        path = Path(name)
        run = (Run(path) if (path / "config.json").is_file()
               else Study(PROJECT_ROOT / "runs" / study, root / "records").find(name))
        if run is None:
            raise PhotoError(f"{name}: no such record in {root / 'records'}")
        if not run.published_model:
            raise PhotoError(f"{run.dir}: its model is not published (model.safetensors)")
        out[run.name] = run
    return out


def _probabilities(run, faces: np.ndarray, device) -> np.ndarray:
    """(B, 7) probabilities of a run's model on (B, 48, 48) uint8 faces, read as its evaluation reads its test faces
    (its test-time augmentation and precision)."""
    import torch

    from .data import FaceSet
    from .evaluate import predict, run_recipe
    from .execution import Settings
    from .policies import InputPolicy, split_tensors
    n = len(faces)
    data = FaceSet(faces, np.zeros(n, dtype=np.int64), np.full(n, 2), [f"face{i}" for i in range(n)])
    settings = Settings(device=str(device), precision=run.config.get("precision", "fp32"))
    logits = predict(run.model(str(device)), split_tensors(data, "PrivateTest", device), InputPolicy(),
                     run_recipe(run), settings, device)
    return torch.softmax(logits.float(), 1).cpu().numpy()


def explain_photos(photos: list[str | Path], models: dict, method: str = "saliency", device: str = "cpu",
                   missing: str = "raise") -> list[FaceResult]:
    """Every face of every photo, read by each model (see the module's text).

    Args:
        photos: image files.
        models: ``{label: Run}`` (:func:`study_models`): a label with ``masked`` in it reads the masked face, the
            others the face.
        method: the saliency method (:data:`perturb_lib.saliency.METHODS`).
        device: where the models run.
        missing: ``raise`` a :class:`PhotoError` for a photo without a face, or ``skip`` it.

    Returns:
        One :class:`FaceResult` per face found.
    """
    import torch

    from . import saliency
    from .policies import apply_policy, make_policy
    device = torch.device(device)
    out = []
    for photo in photos:
        gray = read_photo(photo)
        found = find_faces(gray)
        if not found:
            if missing == "skip":
                continue
            raise PhotoError(f"{photo}: no face found (dlib's frontal face detector, one upsampling step)")
        for index, (box, points) in enumerate(found):
            face, lm = align(gray, points)
            masked = apply_policy(make_policy(MASK), face[None], lm[None].astype(np.float32),
                                  [f"{Path(photo).name}#{index}"])[0]
            out.append(FaceResult(str(photo), index, box, face, masked, lm))
    if not out:
        return out
    faces, masked = np.stack([r.face for r in out]), np.stack([r.masked for r in out])
    for label, run in models.items():
        model = run.model(str(device))
        on_face, on_masked = _probabilities(run, faces, device), _probabilities(run, masked, device)
        own = masked if "masked" in label else faces
        targets = (on_masked if "masked" in label else on_face).argmax(1)
        maps = saliency.attribute(model, own, targets, method, device=device)
        for k, r in enumerate(out):
            r.probabilities[label] = {"face": on_face[k], "masked face": on_masked[k]}
            r.saliency[label] = maps[k]
    return out


def example_photo(folder: str | Path) -> Path | None:
    """scikit-image's astronaut (a NASA portrait, public domain), written as a PNG in ``folder``: the example photo
    of notebook 02 and the README (None when scikit-image is not installed)."""
    try:
        from skimage.data import astronaut
    except ImportError:
        return None
    from PIL import Image
    path = resolve(folder) / "astronaut.png"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(astronaut()).save(path)
    return path


# ------------------------------------------------------------------------------------------ the picture
def plot_face(result: FaceResult):
    """The face and the masked face, each model's saliency on the input it reads, and the probabilities."""
    import textwrap

    import matplotlib.pyplot as plt
    labels = list(result.probabilities)

    def short(text: str) -> str:  # a record's name is long: wrapped, so that titles do not run into each other
        return textwrap.fill(text, 26, break_on_hyphens=True)
    fig = plt.figure(figsize=(2.3 * (2 + len(labels)) + 1.5, 3.8))
    grid = fig.add_gridspec(1, 3 + len(labels), width_ratios=[1, 1] + [1] * len(labels) + [2.2])
    for k, (title, image) in enumerate((("the face (48x48,\nFER2013's frame)", result.face),
                                        ("with the study's mask", result.masked))):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    for k, label in enumerate(labels):
        ax = fig.add_subplot(grid[0, 2 + k])
        ax.imshow(result.masked if "masked" in label else result.face, cmap="gray", vmin=0, vmax=255)
        m = np.abs(result.saliency[label])
        ax.imshow(m / max(m.max(), 1e-12), cmap="inferno", alpha=0.6)
        own = "masked face" if "masked" in label else "face"
        top = EMOTIONS[int(result.probabilities[label][own].argmax())]
        ax.set_title(f"{short(label)}: {top}\n(saliency on the {own})", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[0, -1])
    y = np.arange(len(EMOTIONS))
    height = 0.8 / len(labels)
    for k, label in enumerate(labels):
        own = "masked face" if "masked" in label else "face"
        ax.barh(y + k * height, result.probabilities[label][own], height, label=f"{short(label)} ({own})")
    ax.set_yticks(y + height * (len(labels) - 1) / 2, EMOTIONS, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1)
    fig.suptitle(f"{Path(result.photo).name}, face {result.index + 1}", fontsize=9)
    fig.tight_layout()
    return fig


def write_png(result: FaceResult, out_dir: str | Path) -> Path:
    """The face's picture, ``<photo stem>-face<k>.png`` in ``out_dir``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path
    path = Path(out_dir) / f"{Path(result.photo).stem}-face{result.index + 1}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plot_face(result)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perturb_lib.explain", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", nargs="+", help="image files (JPEG, PNG, ...; colour, grayscale, RGBA or 16-bit)")
    ap.add_argument("--study", default="fer2013-cpu", help="the committed study whose models read the faces")
    ap.add_argument("--model", action="append", help="another published model: a record name of the study's "
                                                     "ledger, or a record folder (repeatable; replaces the defaults)")
    ap.add_argument("--method", default="saliency", help="the saliency method (notebook 02's: saliency)")
    ap.add_argument("--out", default="explained", help="where the PNGs go")
    ap.add_argument("--json", action="store_true", help="print the probabilities as JSON instead of writing PNGs")
    a = ap.parse_args(argv)
    t0 = time.time()
    try:
        models = named_models(a.model, a.study) if a.model else study_models(a.study)
        results = explain_photos(a.photos, models, a.method)
    except PhotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps([r.to_json() for r in results], indent=1))
        return 0
    for r in results:
        print(f"{write_png(r, a.out)}: " + "; ".join(
            f"{label}: {EMOTIONS[int(r.probabilities[label]['masked face' if 'masked' in label else 'face'].argmax())]}"
            for label in r.probabilities))
    print(f"{len(results)} face(s) in {time.time() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
