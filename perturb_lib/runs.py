"""Run records: every training run of a study lives in a folder under ``<study_dir>/records/`` and is read back
from there.

A run folder (``<model>[-att]-<policy>-s<seed>-<hash>``) holds ``config.json``, ``metrics.json``, ``history.csv``,
``env.json``, ``logits.npz`` (the kept checkpoint's validation and test logits), the checkpoints ``best.pt`` and
``last.pt``, and cached evaluations (``evals/``). It is named by a
hash of what the run will actually do - the config with every default filled in, the policy's canonical spec,
and the data it sees - so asking again for a finished run loads it instead of retraining, two spellings of the
same run share one folder, and an interrupted run resumes from its last checkpoint.
"""
from __future__ import annotations

import os
import pickle
import shutil
import socket
import time
from dataclasses import asdict
from pathlib import Path

import filelock
import numpy as np
import pandas as pd
import torch

from .execution import Settings
from .io import array_fingerprint, atomic_path, read_json, stable_hash, write_json
from .models import attention_maps, build_model
from .paths import resolve
from .policies import InputPolicy, make_policy


# ------------------------------------------------------------------------------------- training runs
RECORD_VERSION = 3  # bump when a change makes old training records incomparable
#: the record's files, without checkpoints: what is committed, published and carried between machines
RECORD_FILES = ("config.json", "metrics.json", "history.csv", "env.json", "logits.npz")
#: the validation and test logits of the checkpoint kept on validation, written when the run finishes (float16)
LOGITS_FILE = "logits.npz"


def records_dir(study_dir: str | os.PathLike) -> Path:
    """The folder holding a study's run records."""
    return resolve(study_dir) / "records"


def run_identity(config, faces, landmarks: np.ndarray | None = None, settings: Settings | None = None) -> dict:
    """What a run will actually do, as recorded and hashed: the config (its policy canonical, every default
    filled in by the config class), the data it sees, and the arithmetic it does (fp32 or bf16). Where it runs
    (device, memory format, compilation, threads) is not part of it.

    Args:
        config: a :class:`~perturb_lib.train.TrainConfig`.
        faces: the dataset.
        landmarks: the landmarks policies draw from (default: ``faces.landmarks``).
        settings: how it executes (default: :class:`~perturb_lib.execution.Settings` ``()``), for its precision.

    Returns:
        The JSON-able identity.
    """
    cfg = asdict(config)
    cfg["precision"] = (settings or Settings()).resolved_precision()
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


def run_dir_for(config, faces, study_dir, landmarks: np.ndarray | None = None,
                settings: Settings | None = None) -> Path:
    """The folder a config's run has (or will have) in a study, executed with ``settings``."""
    return records_dir(study_dir) / run_name(run_identity(config, faces, landmarks, settings))


def policy_for(spec: dict, study_dir, device="cpu") -> InputPolicy:
    """The policy a spec names, ready to apply: a Perturb policy gets its phase-1 run's attention."""
    attention = None
    if (spec or {}).get("kind") == "perturb":
        model = load_run(spec["phase1"], study_dir).model(device=str(device))
        attention = lambda x: attention_maps(model, x)  # noqa: E731
    return make_policy(spec, attention)


def adopt(run_dir: Path, ledger_dir: str | os.PathLike | None) -> bool:
    """Copy a finished record of ``run_dir``'s run from a ledger of records (its :data:`RECORD_FILES` and cached
    evaluations; never checkpoints), so the run is not trained again. ``metrics.json`` is copied last: a copy that
    is interrupted never looks finished.

    Returns:
        Whether a finished record was found and copied.
    """
    if not ledger_dir:
        return False
    source = resolve(ledger_dir) / run_dir.name
    if not (source / "metrics.json").is_file() or not (source / LOGITS_FILE).is_file():
        return False
    files = [source / f for f in RECORD_FILES if f != "metrics.json"] + sorted(source.glob("evals/*.npz"))
    for path in [p for p in files if p.is_file()] + [source / "metrics.json"]:
        with atomic_path(run_dir / path.relative_to(source)) as tmp:
            shutil.copyfile(path, tmp)
    return True


def same_results(run: Path, record: Path) -> bool:
    """Whether two folders of one run name hold the same finished results (metrics and test logits, byte for
    byte): the same model, trained twice."""
    files = ("metrics.json", LOGITS_FILE)
    return all((run / f).is_file() and (record / f).is_file() and (run / f).read_bytes() == (record / f).read_bytes()
               for f in files)


class RunBusyError(RuntimeError):
    """Another live process, on this host or another, is training the same run."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely (it holds more than tensors and plain values) or at all."""


class CheckpointMissingError(FileNotFoundError):
    """A finished run whose checkpoint is not here (its record was copied from a ledger): a model cannot be loaded
    until it is trained again (:func:`perturb_lib.train.with_checkpoint`)."""


def load_checkpoint(path: str | os.PathLike, device="cpu") -> dict:
    """A checkpoint's contents, loaded with ``weights_only=True``: tensors and plain values only, so that a
    shared or downloaded run folder cannot run code when it is read.

    Raises:
        CheckpointError: naming the file, when it holds anything else or is not a checkpoint.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: refused to load: a checkpoint of this project holds only tensors and plain values, and this "
            f"file holds something else, which could run code when loaded ({str(exc).splitlines()[0]}). If you "
            f"trust its origin, delete it and retrain the run; never load it with weights_only=False.") from None


class RunLock:
    """An exclusive lock on a run folder that holds across processes and hosts.

    The lock is an OS file lock (``filelock``) on ``<run>/.lock``: the kernel (or the NFS lock manager) releases it
    when its owner dies, so there is no stale lock to take over and no race between two processes taking one over.
    The owner (host, pid, start time) is recorded in ``<run>/.lock.owner`` so that a refusal names it.
    """

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.path = self.dir / ".lock"
        self.owner = self.dir / ".lock.owner"
        self.lock = filelock.FileLock(str(self.path), timeout=0)

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            try:
                who = read_json(self.owner)
                by = f"process {who['pid']} on host {who['host']} (since {who['since']})"
            except (OSError, ValueError, KeyError):
                by = "another process"
            raise RunBusyError(f"{self.dir} is being trained by {by}") from None
        write_json(self.owner, {"host": socket.gethostname(), "pid": os.getpid(),
                                "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        return self

    def __exit__(self, *exc):
        self.owner.unlink(missing_ok=True)
        self.lock.release()


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
    def has_checkpoint(self) -> bool:
        """Whether the kept checkpoint is here (a record copied from a ledger has none)."""
        return (self.dir / "best.pt").is_file()

    @property
    def history(self) -> pd.DataFrame:
        path = self.dir / "history.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    def logits(self, key: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(logits (N, C) float32, labels (N,), ids (N,))`` of the kept checkpoint on its own validation
        (``val``) or test (``test``) split under its own policy, as recorded when it finished (None for records
        made before logits were recorded)."""
        path = self.dir / LOGITS_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return z[key].astype(np.float32), z[f"{key}_labels"], z[f"{key}_ids"]

    @property
    def env(self) -> dict:
        path = self.dir / "env.json"
        return read_json(path) if path.is_file() else {}

    def checkpoint(self, which: str = "best", device: str = "cpu") -> dict:
        """A checkpoint's contents (``best``: kept on validation; ``last``: the final epoch, for resuming), loaded
        safely (:func:`load_checkpoint`)."""
        path = self.dir / f"{which}.pt"
        if not path.is_file():
            raise CheckpointMissingError(f"{self.dir}: no {which}.pt (a record without its checkpoint, e.g. copied from "
                                         f"a ledger): train it again with perturb_lib.train.with_checkpoint")
        return load_checkpoint(path, device)

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
