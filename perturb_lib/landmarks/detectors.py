"""The two landmark detectors, both offline (their models ship inside their packages; ``pip install -e
'.[landmarks]'``):

* dlib's HOG face detector and 68-point shape predictor - the landmarks MaskTheFace used to make MaskFer;
* MediaPipe's 468-point face mesh (``mediapipe==0.10.14``, the last release that bundles the legacy model) - the
  landmarks of the second seed paper.

Both take (N, 48, 48) uint8 faces and return points in 48-pixel coordinates (pixel centres at integers) and,
per face, whether a face was found.
"""
from __future__ import annotations

import importlib.util
import contextlib
import io
import os
import sys
import warnings
from typing import Callable

import numpy as np

Progress = Callable[[int, int], None]


def available(name: str) -> bool:
    """Whether a detector's packages are installed (``dlib`` needs dlib and face_recognition_models)."""
    modules = {"dlib": ("dlib", "face_recognition_models"), "mediapipe": ("mediapipe",)}[name]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def dlib_model_path() -> str:
    """Where face_recognition_models keeps dlib's 68-point shape predictor.

    Found with importlib: the package's own accessor imports ``pkg_resources``, which setuptools >= 81 no longer
    ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise ImportError("face_recognition_models is not installed: pip install -e '.[landmarks]'")
    return os.path.join(list(spec.submodule_search_locations)[0], "models", "shape_predictor_68_face_landmarks.dat")


def maskthe_face_input(image: np.ndarray) -> np.ndarray:
    """A face as MaskTheFace read it: the Kaggle image-folder copy of FER2013 is JPEG (quality 95), read back as a
    3-channel image. On these pixels dlib's detector finds exactly the 24,955 faces of the published MaskFer;
    on the lossless pixels it agrees on 98.1 % of the faces."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    buffer.seek(0)
    return np.ascontiguousarray(np.asarray(Image.open(buffer).convert("RGB")))


def dlib_landmarks(images: np.ndarray, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dlib's 68 landmarks of every face, as MaskTheFace computed them.

    The HOG detector runs with one upsampling step (MaskTheFace's call) on the face as MaskTheFace read it
    (:func:`maskthe_face_input`); the shape predictor places the 68 points in the best detected box. Where no face
    is found, the predictor still runs in the mean detected box of the set (or the whole crop when none was
    found), so every face has landmarks.

    Args:
        images: (N, 48, 48) uint8.
        progress: called as ``f(done, total)`` now and then.

    Returns:
        ``points`` (N, 68, 2) float32 and ``detected`` (N,) bool.
    """
    import dlib
    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(dlib_model_path())
    n = len(images)
    boxes, detected = np.zeros((n, 4)), np.zeros(n, dtype=bool)
    for i, image in enumerate(images):
        rects, scores, _ = detector.run(maskthe_face_input(image), 1, 0)
        if rects:
            r = rects[int(np.argmax(scores))]
            boxes[i], detected[i] = (r.left(), r.top(), r.right(), r.bottom()), True
        if progress and (i + 1) % 2000 == 0:
            progress(i + 1, 2 * n)
    fallback = boxes[detected].mean(0).round() if detected.any() else np.array([0, 0, 47, 47])
    points = np.empty((n, 68, 2), dtype=np.float32)
    for i, image in enumerate(images):  # a second pass: the fallback box needs every detection first
        left, top, right, bottom = (boxes[i] if detected[i] else fallback).astype(int)
        shape = predictor(maskthe_face_input(image), dlib.rectangle(int(left), int(top), int(right), int(bottom)))
        points[i] = [(shape.part(k).x, shape.part(k).y) for k in range(68)]
        if progress and (i + 1) % 2000 == 0:
            progress(n + i + 1, 2 * n)
    return points, detected


@contextlib.contextmanager
def _quiet_stderr():
    """Silence what MediaPipe's C++ libraries (TensorFlow Lite, absl) write straight to file descriptor 2 - notices
    on every start that no flag or environment variable turns off; Python exceptions still come through."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


MESH_UPSCALE, MESH_BORDER = 4, 0.25  # FER crops are cut tighter than MediaPipe's face detector expects


def mediapipe_landmarks(images: np.ndarray, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's 468-point face mesh of every face.

    Each crop is upscaled 4x and given a border of a quarter of its size in its own mean grey (measured on
    FER2013: 97.5 % of the faces are found, against 91.7 % without the border; the upscale factor matters little).
    Where no face is found the points are the mean mesh of the faces that were, marked ``detected=False``.

    Args:
        images: (N, 48, 48) uint8.
        progress: called as ``f(done, total)`` now and then.

    Returns:
        ``points`` (N, 468, 2) float32 and ``detected`` (N,) bool.
    """
    import cv2
    import mediapipe as mp
    n = len(images)
    points, detected = np.zeros((n, 468, 2), dtype=np.float32), np.zeros(n, dtype=bool)
    size = 48 * MESH_UPSCALE
    pad = int(round(MESH_BORDER * size))
    with _quiet_stderr(), warnings.catch_warnings(), \
            mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as mesh:
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        for i, image in enumerate(images):
            big = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
            big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(image.mean()))
            found = mesh.process(np.ascontiguousarray(np.repeat(big[:, :, None], 3, 2))).multi_face_landmarks
            if found:
                w = big.shape[1]
                xy = np.array([(p.x, p.y) for p in found[0].landmark[:468]], dtype=np.float64)
                points[i] = (xy * w - pad) * 48.0 / size - 0.5  # normalised: pixel i's centre is at (i + 0.5) / w
                detected[i] = True
            if progress and (i + 1) % 1000 == 0:
                progress(i + 1, n)
    if detected.any() and not detected.all():
        points[~detected] = points[detected].mean(0)
    return points, detected
