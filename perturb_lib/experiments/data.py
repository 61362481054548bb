"""What notebook 00 records about the data: the dataset, its class counts per split, and its landmarks."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS, SPLITS, FaceSet
from ..data.registry import load_dataset
from ..landmarks import choose, detected, detectors, landmarks_for, timing
from ..params import CACHE_DIR, Data, DataNotebook
from .results import Results


def load_faces(params: Data) -> tuple[FaceSet, np.ndarray]:
    """The faces and their landmarks that a notebook's parameters name.

    Args:
        params: any parameters with the :class:`~perturb_lib.params.Data` fields.

    Returns:
        ``(faces, landmarks (N, K, 2))``.
    """
    faces = load_dataset(params.dataset, params.data_path, size=params.size, seed=params.data_seed,
                         cache_dir=params.cache_dir)
    return faces, landmarks_for(faces, params.landmark_source, params.landmark_file, params.cache_dir)


def class_counts(faces: FaceSet) -> pd.DataFrame:
    """Faces per emotion (rows) and split (columns), with totals.

    Args:
        faces: the dataset.

    Returns:
        A table indexed by emotion (and ``All``), one column per split and ``All``.
    """
    counts = pd.DataFrame(faces.class_counts()).reindex(list(EMOTIONS))[list(SPLITS)]
    counts["All"] = counts.sum(1)
    counts.loc["All"] = counts.sum(0)
    counts.index.name = "emotion"
    return counts


@dataclass
class DataResults(Results):
    """What notebook 00 found.

    Attributes:
        dataset, source, fingerprint, faces: which data, from where, its content hash and size.
        counts: faces per emotion and split (:func:`class_counts`, emotion as a column).
        landmark_source: where the study's landmarks came from (the provider ``auto`` chose).
        detection: per provider compared, split and emotion: faces, how many it found, the rate.
        landmark_error: per provider, the distance (px) of its 68 points from the reference's (the ground truth on
            synthetic faces, dlib on real ones) on faces both found: mean and 90th percentile, per facial part.
        ms_per_face: per provider, the time it took per face.
    """

    name = "data"
    made_by = "00_data"

    dataset: str = ""
    source: str = ""
    fingerprint: str = ""
    faces: int = 0
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    landmark_source: str = ""
    detection: pd.DataFrame = field(default_factory=pd.DataFrame)
    landmark_error: pd.DataFrame = field(default_factory=pd.DataFrame)
    ms_per_face: dict = field(default_factory=dict)

    @classmethod
    def of(cls, faces: FaceSet, params: DataNotebook) -> "DataResults":
        """The record of a dataset, with its landmark providers compared.

        Args:
            faces: the dataset.
            params: notebook 00's parameters (``landmark_source``, ``landmark_providers``).
        """
        compared = [p for p in params.landmark_providers if p in ("template",) or detectors.available(p)]
        cache = params.cache_dir
        found = [detection_rates(faces, p, cache) for p in compared if p in ("dlib", "mediapipe")]  # others: all
        return cls(dataset=faces.name, source=faces.source, fingerprint=faces.fingerprint(), faces=len(faces),
                   counts=class_counts(faces).reset_index(),
                   landmark_source=choose(faces, params.landmark_source, params.landmark_file),
                   detection=pd.concat(found, ignore_index=True) if found else pd.DataFrame(),
                   landmark_error=landmark_errors(faces, compared, cache),
                   ms_per_face={p: timing(faces, p, cache) for p in compared})


def detection_rates(faces: FaceSet, provider: str, cache_dir: str = CACHE_DIR) -> pd.DataFrame:
    """How often a provider finds a face, per split and per emotion (and in all)."""
    found = detected(faces, provider, cache_dir=cache_dir)
    rows = []
    for kind, names, values in (("split", SPLITS, faces.splits), ("emotion", EMOTIONS, faces.labels)):
        for i, name in enumerate(names):
            sel = values == i
            rows.append({"provider": provider, "by": kind, "group": name, "faces": int(sel.sum()),
                         "found": int(found[sel].sum()), "rate %": round(100 * float(found[sel].mean()), 1)})
    rows.append({"provider": provider, "by": "all", "group": "all", "faces": len(faces), "found": int(found.sum()),
                 "rate %": round(100 * float(found.mean()), 1)})
    return pd.DataFrame(rows)


PARTS = {"all 68": slice(0, 68), "jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36),
         "eyes": slice(36, 48), "mouth": slice(48, 68)}


def landmark_errors(faces: FaceSet, providers: list[str], cache_dir: str = CACHE_DIR) -> pd.DataFrame:
    """Each 68-point provider against the reference (ground truth when the faces carry it, else dlib), on the
    faces both found: mean and 90th-percentile distance per facial part, in pixels."""
    reference = "ground_truth" if faces.landmarks is not None else ("dlib" if "dlib" in providers else None)
    if reference is None:
        return pd.DataFrame()
    ref, ref_found = landmarks_for(faces, reference, cache_dir=cache_dir), detected(faces, reference, cache_dir=cache_dir)
    rows = []
    for p in providers:
        if p == reference or p == "mediapipe":  # the mesh has no 68-point correspondence
            continue
        both = ref_found & detected(faces, p, cache_dir=cache_dir)
        dist = np.linalg.norm(landmarks_for(faces, p, cache_dir=cache_dir)[both] - ref[both], axis=-1)
        for part, sl in PARTS.items():
            per_face = dist[:, sl].mean(1)
            rows.append({"provider": p, "reference": reference, "part": part, "faces": int(both.sum()),
                         "mean px": round(float(per_face.mean()), 2), "p90 px": round(float(np.percentile(per_face, 90)), 2)})
    return pd.DataFrame(rows)
