"""What notebook 00 records about the data: the dataset, its class counts per split, and its landmarks."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS, SPLITS, FaceSet
from ..data.registry import load_dataset
from ..landmarks import landmarks_for
from ..params import Data
from .results import Results


def load_faces(params: Data) -> tuple[FaceSet, np.ndarray]:
    """The faces and their landmarks that a notebook's parameters name.

    Args:
        params: any parameters with the :class:`~perturb_lib.params.Data` fields.

    Returns:
        ``(faces, landmarks (N, K, 2))``.
    """
    faces = load_dataset(params.dataset, params.data_path, size=params.size, seed=params.data_seed)
    return faces, landmarks_for(faces, params.landmark_source, params.landmark_file)


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
        landmark_source: where the landmarks came from.
    """

    name = "data"
    made_by = "00_data"

    dataset: str = ""
    source: str = ""
    fingerprint: str = ""
    faces: int = 0
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    landmark_source: str = ""

    @classmethod
    def of(cls, faces: FaceSet, landmark_source: str) -> "DataResults":
        """The record of a dataset."""
        return cls(dataset=faces.name, source=faces.source, fingerprint=faces.fingerprint(), faces=len(faces),
                   counts=class_counts(faces).reset_index(), landmark_source=landmark_source)
