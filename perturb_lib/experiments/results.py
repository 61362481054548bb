"""Results objects: what each experiment hands to the figures and the report, saved in the study folder.

Each experiment returns a small dataclass subclassing :class:`Results`. :meth:`Results.save` writes it to
``<study_dir>/results/<name>.json`` (tables as records, arrays in a ``.npz`` beside it); :meth:`Results.load`
reads it back, or says which notebook makes it when it is missing. Nothing else passes results between
notebooks.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from ..io import read_json, save_npz, write_json
from ..paths import resolve


class RunKey(NamedTuple):
    """A run's key in an experiment's results (their ``runs`` map), written ``kind/model/seed/condition``:
    ``maskfer/vgg16/0/masked``, ``removal/vgg16/1/eyes``, ``perturb/vgg16/3/3`` (the last part: the MaskFer
    condition, the region removed, or the number of clusters; a variant's kind is ``perturb@<variant>``)."""

    kind: str
    model: str
    seed: int
    condition: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.model}/{self.seed}/{self.condition}"

    @classmethod
    def parse(cls, text: str) -> "RunKey":
        kind, model, seed, condition = text.split("/")
        return cls(kind, model, int(seed), condition)


def run_key(kind: str, model: str, seed: int, condition) -> str:
    """The text of a :class:`RunKey` (how the results store it)."""
    return str(RunKey(kind, model, int(seed), str(condition)))


def group_by_context(experiment, keys) -> dict:
    """An experiment's run keys grouped by the context each trains in (its ``context_for``: a
    :class:`~perturb_lib.runs.StudyContext`), in order: a grid runs in one context."""
    out: dict = {}
    for key in keys:
        out.setdefault(experiment.context_for(key), []).append(key)
    return out


class MissingResultsError(FileNotFoundError):
    """A results file (or a run it names) is missing; the message says which notebook makes it."""


@dataclasses.dataclass
class Results:
    """Base of every experiment's results.

    Subclasses declare ``name`` (the file stem) and ``made_by`` (the notebook that makes them, for messages),
    and fields of JSON-able values, :class:`pandas.DataFrame` (saved as records) or :class:`numpy.ndarray`
    (saved in the ``.npz``), or dicts of those.
    """

    name: ClassVar[str] = ""
    made_by: ClassVar[str] = ""

    @classmethod
    def path(cls, study_dir) -> Path:
        """Where these results live in a study."""
        return resolve(study_dir) / "results" / f"{cls.name}.json"

    def save(self, study_dir) -> Path:
        """Write the results (arrays first, the JSON last: its presence means complete).

        Args:
            study_dir: the study folder.

        Returns:
            The JSON path.
        """
        return self.save_file(self.path(study_dir))

    def save_file(self, path: Path) -> Path:
        """Write the results to ``path`` (JSON) and its arrays beside it (``.npz``)."""
        arrays: dict[str, np.ndarray] = {}
        doc = {f.name: _encode(getattr(self, f.name), f.name, arrays) for f in dataclasses.fields(self)}
        if arrays:
            save_npz(path.with_suffix(".npz"), arrays)
        return write_json(path, doc)

    @classmethod
    def load(cls, study_dir):
        """Read the results of a study.

        Args:
            study_dir: the study folder.

        Returns:
            The results object.

        Raises:
            MissingResultsError: naming the file and the notebook that makes it.
        """
        path = cls.path(study_dir)
        if not path.is_file():
            raise MissingResultsError(f"{path} is missing: run notebook {cls.made_by} in this study first")
        return cls.load_file(path)

    @classmethod
    def load_file(cls, path: Path):
        """Read results written by :meth:`save_file`."""
        doc = read_json(path)
        arrays = {}
        if path.with_suffix(".npz").is_file():
            with np.load(path.with_suffix(".npz")) as z:
                arrays = {k: z[k] for k in z.files}
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _decode(doc.get(f.name), hints[f.name], arrays) for f in dataclasses.fields(cls)})

    @classmethod
    def exists(cls, study_dir) -> bool:
        return cls.path(study_dir).is_file()


def _encode(value: Any, key: str, arrays: dict) -> Any:
    if isinstance(value, pd.DataFrame):
        return {"__frame__": value.reset_index(drop=True).to_dict("records"), "columns": list(value.columns)}
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {k: _encode(v, f"{key}.{k}", arrays) for k, v in value.items()}
    return value


def _decode(value: Any, hint, arrays: dict) -> Any:
    if isinstance(value, dict) and "__frame__" in value:
        frame = pd.DataFrame(value["__frame__"], columns=value["columns"])
        for c in frame.columns:  # NaN went through JSON as null: numeric columns come back numeric
            cells = frame[c].tolist()
            if any(v is None for v in cells) and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                                     for v in cells):
                frame[c] = pd.to_numeric(frame[c], errors="coerce")
        return frame
    if isinstance(value, dict) and "__array__" in value:
        return arrays[value["__array__"]]
    if isinstance(value, dict):
        return {k: _decode(v, None, arrays) for k, v in value.items()}
    if value is None and hint is pd.DataFrame:
        return pd.DataFrame()
    return value
