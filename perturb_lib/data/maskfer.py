"""The published MaskFer images (github.com/chengq220/MaskFerDataset), paired with their FER2013 originals by id."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .faces import EMOTION_FOLDERS, SPLITS, DataError, FaceSet
from .fer2013 import list_image_folder, read_gray48


@dataclass
class MaskFerPairs:
    """Published MaskFer images paired with their FER2013 originals.

    Attributes:
        masked: the masked faces, with the originals' ids, labels and splits.
        original_index: (M,) index of each masked face's original in the FER2013 FaceSet.
        unmatched_originals: how many originals have no masked twin (the mask tool found no face on them).
        unmatched_masked: masked files whose id is not among the originals.
    """

    masked: FaceSet
    original_index: np.ndarray
    unmatched_originals: int
    unmatched_masked: list[str]

    def report(self) -> str:
        n = len(self.masked)
        return (f"{n} masked faces paired with FER2013 originals; {self.unmatched_originals} originals have no "
                f"masked twin; {len(self.unmatched_masked)} masked files have no original")


def load_maskfer_folders(root: str | Path, originals: FaceSet, style: str = "N95") -> MaskFerPairs:
    """Load the published MaskFer image folders and pair each image with its FER2013 original by id.

    Args:
        root: folder with ``train/<emotion>/Training_<id>_N95.jpg`` and ``test/<emotion>/<Usage>_<id>_N95.jpg``.
        originals: FER2013 loaded from the image-folder variant (ids ``<Usage>_<id>``).
        style: the file-name suffix MaskTheFace wrote (``N95`` in the published set).

    Returns:
        The pairs; a masked face whose folder label differs from its original's raises :class:`DataError`.
    """
    root = Path(root)
    files = list_image_folder(root, suffix=f"_{style}")
    lookup = {k: i for i, k in enumerate(originals.ids)}
    images, index, unmatched = [], [], []
    for path, fid, label, split in files:
        i = lookup.get(fid)
        if i is None:
            unmatched.append(str(path.relative_to(root)))
            continue
        if originals.labels[i] != label or originals.splits[i] != split:
            raise DataError(f"{path}: labelled {EMOTION_FOLDERS[label]}/{SPLITS[split]} but its original {fid} is "
                            f"{EMOTION_FOLDERS[originals.labels[i]]}/{SPLITS[originals.splits[i]]}")
        images.append(read_gray48(path))
        index.append(i)
    if not index:
        raise DataError(f"{root}: no MaskFer image matches an original id (expected names like Training_<id>_{style}.jpg)")
    index = np.asarray(index)
    masked = originals.subset(index)
    masked.images = np.stack(images)
    masked.name, masked.source = "maskfer", str(root)
    return MaskFerPairs(masked, index, int(len(originals) - len(np.unique(index))), unmatched)


def load_maskfer_list(path: str | Path, faces: FaceSet) -> np.ndarray:
    """Which faces the published MaskFer holds, from its file list.

    Args:
        path: a CSV with a ``masked_filename`` column (``<Usage>_<id>_N95.jpg``, matched to image-folder ids) and,
            optionally, ``fer2013_npz_row`` (the row of fer2013.csv, matched to the CSV's ``fer<row>`` ids).
        faces: the faces to mark.

    Returns:
        (N,) bool: in the published MaskFer.
    """
    import pandas as pd
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc
    if "fer2013_npz_row" in table.columns and str(faces.ids[0]).startswith("fer"):
        listed = {f"fer{int(r):07d}" for r in table["fer2013_npz_row"]}
    elif "masked_filename" in table.columns:
        listed = {str(name).rsplit("_", 1)[0] for name in table["masked_filename"]}
    else:
        raise DataError(f"{path}: needs a 'masked_filename' or a 'fer2013_npz_row' column "
                        f"(found {', '.join(table.columns)})")
    return np.isin(faces.ids, list(listed))
