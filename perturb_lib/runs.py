"""Run records: every training run of a study lives in a folder under ``<study_dir>/records/`` and is read back
from there.

A run folder (``<model>[-att]-<policy>-s<seed>-<hash>``) holds ``config.json``, ``metrics.json``, ``history.csv``,
``env.json``, the checkpoints ``best.pt`` and ``last.pt``, and cached evaluations (``evals/``). It is named by a
hash of what the run will actually do - the config with every default filled in, the policy's canonical spec,
and the data it sees - so asking again for a finished run loads it instead of retraining, two spellings of the
same run share one folder, and an interrupted run resumes from its last checkpoint.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .io import array_fingerprint, read_json, stable_hash
from .models import attention_maps, build_model
from .paths import resolve
from .policies import InputPolicy, make_policy


# ------------------------------------------------------------------------------------- training runs
RECORD_VERSION = 2  # bump when a change makes old training records incomparable


def records_dir(study_dir: str | os.PathLike) -> Path:
    """The folder holding a study's run records."""
    return resolve(study_dir) / "records"


def run_identity(config, faces, landmarks: np.ndarray | None = None) -> dict:
    """What a run will actually do, as recorded and hashed: the config (its policy canonical, every default
    filled in by the config class) plus the data it sees.

    Args:
        config: a :class:`~perturb_lib.train.TrainConfig`.
        faces: the dataset.
        landmarks: the landmarks policies draw from (default: ``faces.landmarks``).

    Returns:
        The JSON-able identity.
    """
    cfg = asdict(config)
    data = {"name": faces.name, "fingerprint": faces.fingerprint()}
    if make_policy(config.policy).needs_landmarks():
        lm = landmarks if landmarks is not None else faces.landmarks
        data["landmarks"] = array_fingerprint(lm) if lm is not None else None
    cfg["data"] = data
    cfg["record_version"] = RECORD_VERSION
    return cfg


def run_name(identity: dict) -> str:
    """``<model>[-att]-<policy tag>-s<seed>-<hash>``: readable, and unique per identity."""
    tag = make_policy(identity["policy"]).tag()
    return f"{identity['model']}{'-att' if identity['attention'] else ''}-{tag}-s{identity['seed']}-{stable_hash(identity)}"


def run_dir_for(config, faces, study_dir, landmarks: np.ndarray | None = None) -> Path:
    """The folder a config's run has (or will have) in a study."""
    return records_dir(study_dir) / run_name(run_identity(config, faces, landmarks))


def policy_for(spec: dict, study_dir, device="cpu") -> InputPolicy:
    """The policy a spec names, ready to apply: a Perturb policy gets its phase-1 run's attention."""
    attention = None
    if (spec or {}).get("kind") == "perturb":
        model = load_run(spec["phase1"], study_dir).model(device=str(device))
        attention = lambda x: attention_maps(model, x)  # noqa: E731
    return make_policy(spec, attention)


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

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def history(self) -> pd.DataFrame:
        path = self.dir / "history.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    @property
    def env(self) -> dict:
        path = self.dir / "env.json"
        return read_json(path) if path.is_file() else {}

    def checkpoint(self, which: str = "best", device: str = "cpu") -> dict:
        """A checkpoint's contents (``best``: kept on validation; ``last``: the final epoch, for resuming)."""
        return torch.load(self.dir / f"{which}.pt", map_location=device, weights_only=False)

    def model(self, device: str = "cpu", which: str = "best", state: dict | None = None):
        """The trained model from a checkpoint (or from ``state`` already read by :meth:`checkpoint`), in eval mode."""
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
