"""Run records: every result of the study lives in a folder under ``runs/<study>/`` and is read back from there.

* Training runs (``records/<name>-<hash>/``): config, metrics, per-epoch history, checkpoints, environment.
  A run is named by a hash of its config, so asking again for a finished run loads it instead of retraining,
  and an interrupted run resumes from its last checkpoint. Writes are atomic.
* Notebook results (``notebooks/<notebook>.json``): the key numbers each executed notebook reports, next to
  the executed notebook, for the figures notebook and the tests.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .paths import resolve


# ------------------------------------------------------------------------------------------ atomic I/O
def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Numpy scalars and arrays, tuples, paths and NaN made JSON-safe (NaN becomes None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(float(obj)) or math.isinf(float(obj)) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write JSON (sorted keys, NaN as null)."""
    return atomic_write_text(path, json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def config_hash(config: dict) -> str:
    """A short stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps(to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


# ----------------------------------------------------------------------------------- notebook results
def notebook_results_path(study_dir: str | os.PathLike, notebook: str) -> Path:
    return resolve(study_dir) / "notebooks" / f"{notebook}.json"


def save_notebook_results(study_dir: str | os.PathLike, notebook: str, results: dict) -> Path:
    """Record a notebook's key numbers as JSON next to its executed copy (``<study>/notebooks/``)."""
    return write_json(notebook_results_path(study_dir, notebook), results)


def load_notebook_results(study_dir: str | os.PathLike, notebook: str) -> dict | None:
    """The results a notebook recorded, or ``None`` when it has not run in this study."""
    path = notebook_results_path(study_dir, notebook)
    return read_json(path) if path.is_file() else None


# ------------------------------------------------------------------------------------- training runs
RECORD_VERSION = 1  # bump when a change makes old training records incomparable


def records_dir(study_dir: str | os.PathLike) -> Path:
    return resolve(study_dir) / "records"


def save_torch(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` to a temporary file, then rename: a killed process never leaves a torn checkpoint."""
    import torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class RunBusyError(RuntimeError):
    """Another live process is training the same run."""


class RunLock:
    """An exclusive lock on a run folder (``.lock`` holding the owner's pid); stale locks are taken over."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise RunBusyError(f"{self.path.parent} is being trained by process {pid}") from None
                self.path.unlink(missing_ok=True)  # the owner died: take over
        raise RunBusyError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Run:
    """A finished (or partial) training run read from its folder.

    Attributes:
        dir: the run folder.
        config: the full config it was trained with (dict).
        metrics: final metrics (``{"val": {...}, "test": {...}, ...}``) or ``None`` if unfinished.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        if not (self.dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.dir}: not a run folder (no config.json)")
        self.config = read_json(self.dir / "config.json")
        self.metrics = read_json(self.dir / "metrics.json") if (self.dir / "metrics.json").is_file() else None
        self._model = None

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def history(self):
        import pandas as pd
        path = self.dir / "history.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    @property
    def env(self) -> dict:
        path = self.dir / "env.json"
        return read_json(path) if path.is_file() else {}

    def checkpoint(self, which: str = "best", device: str = "cpu") -> dict:
        """A checkpoint's contents (``best``: kept on validation; ``last``: the final epoch, for resuming)."""
        import torch
        return torch.load(self.dir / f"{which}.pt", map_location=device, weights_only=False)

    def model(self, device: str = "cpu", which: str = "best", state: dict | None = None):
        """The trained model from a checkpoint (or from ``state`` already read by :meth:`checkpoint`), in eval mode."""
        from .models import build_model
        c = self.config
        model = build_model(c["model"], width=c["width"], attention=c["attention"], dropout=c.get("dropout"))
        state = state if state is not None else self.checkpoint(which, device)
        model.load_state_dict(state["model"] if "model" in state else state)
        return model.to(device).eval()

    def __repr__(self) -> str:
        acc = self.metrics["test"]["accuracy"] if self.metrics else None
        return f"Run({self.name}, {'test acc %.3f' % acc if acc is not None else 'unfinished'})"


def load_run(run: str | os.PathLike, study_dir: str | os.PathLike | None = None) -> Run:
    """A run by folder path, or by name inside ``<study_dir>/records``."""
    path = Path(run)
    if not path.is_dir() and study_dir is not None:
        path = records_dir(study_dir) / str(run)
    return Run(path)


def find_runs(study_dir: str | os.PathLike, finished: bool = True, **match) -> list[Run]:
    """Runs of a study whose config matches every ``key=value`` given (e.g. ``model="vgg16"``)."""
    root = records_dir(study_dir)
    out = []
    for d in sorted(root.glob("*/config.json")) if root.is_dir() else []:
        r = Run(d.parent)
        if finished and not r.finished:
            continue
        if all(r.config.get(k) == v for k, v in match.items()):
            out.append(r)
    return out


# ---------------------------------------------------------------------------- runs the notebooks share
class MissingRunsError(FileNotFoundError):
    """Run records a notebook needs are absent; the message lists them and says which notebook makes them."""


class ExplainedRuns:
    """The runs behind the saliency figures: Figure 1 (clean- vs mask-trained) and Figure 6 (baseline vs
    Perturb Scheme, empty until notebook 03 has run)."""

    def __init__(self, figure1: dict, figure6: dict, test_split: str):
        self.figure1, self.figure6, self.test_split = figure1, figure6, test_split


def runs_for_saliency(study_dir, model: str = "vgg16") -> ExplainedRuns:
    """Find the runs notebooks 02 and 05 explain, from the results notebooks 01 and 03 recorded.

    Raises:
        MissingRunsError: naming what is missing and the notebook that produces it.
    """
    r01 = load_notebook_results(study_dir, "01_maskfer_degradation")
    if r01 is None:
        raise MissingRunsError(f"{notebook_results_path(study_dir, '01_maskfer_degradation')} is missing: "
                               "run notebook 01 (MaskFer degradation) in this study first")
    seed = r01["seeds"][0]
    missing, figure1 = [], {}
    for label, cond in (("trained clean", "clean"), ("trained masked", "masked")):
        key = f"maskfer/{model}/{seed}/{cond}"
        if key not in r01["runs"]:
            missing.append(f"{key} (notebook 01 trained models {r01['models']})")
            continue
        figure1[label] = load_run(r01["runs"][key], study_dir)
    if missing:
        raise MissingRunsError("missing runs: " + "; ".join(missing))
    figure6 = {}
    r03 = load_notebook_results(study_dir, "03_perturb_scheme")
    if r03 is not None:
        for label, key in (("baseline", "baseline"), ("Perturb Scheme", "perturb")):
            name = r03.get("figure6_runs", {}).get(key)
            if name and (records_dir(study_dir) / name / "metrics.json").is_file():
                figure6[label] = load_run(name, study_dir)
    return ExplainedRuns(figure1, figure6, figure1["trained clean"].config["test_split"])
