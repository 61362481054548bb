"""Run records: what one training run was, did and gave, in one folder, and where a study finds it.

A record (``<model>[-att]-<policy>-<faces>-<precision>-s<seed>-<hash>``) holds ``config.json`` (the run's identity:
the config with every default filled in, the data, the precision), ``metrics.json``, ``history.csv``, ``env.json``
(where and how fast it ran), ``logits.npz`` (the kept checkpoint's validation and test logits under its own policy)
and ``evals/`` (its logits on other versions of its faces, each file holding the key it was made under: see
:mod:`perturb_lib.evaluate`). A published record may also hold its model, ``model.safetensors``, when a notebook
must load it. The folder is named by a hash of the identity, so asking again for a finished run finds it instead of
training it, and two spellings of the same run share one name; the readable part says what differs between the
records of one model, policy and seed: the faces (every face, or those a detector finds) and the precision.

A :class:`Study` is where a study finds runs: first its ledger of published records (``figures/<study>/records``,
read in place and never written here: :mod:`perturb_lib.ledger` owns it), then its own folder
(``runs/<study>/records``), where it trains what neither holds, keeps checkpoints (``best.pt``, ``last.pt``) and
writes what it computes about a ledger's record (evaluations, or the record trained again when its model must be
loaded and none is published).
"""
from __future__ import annotations

import os
import pickle
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import filelock
import numpy as np
import pandas as pd
import torch

from .data.faces import FaceSet
from .execution import Settings, recorded_execution
from .io import array_fingerprint, read_json, stable_hash, write_json
from .models import attention_maps, build_model
from .paths import resolve
from .policies import InputPolicy, make_policy


# ------------------------------------------------------------------------------------- the record form
RECORD_VERSION = 4  # bump when a change makes old training records incomparable (what a run computes, or its name)
#: the record's files, without checkpoints and evaluations: what every published record holds
RECORD_FILES = ("config.json", "metrics.json", "history.csv", "env.json", "logits.npz")
#: the validation and test logits of the checkpoint kept on validation, written when the run finishes (float16)
LOGITS_FILE = "logits.npz"
#: what the run's policy recorded in training, where it records anything (the Perturb Scheme's cluster maps)
POLICY_FILE = "policy.npz"
#: a published model (the kept checkpoint's weights, and its policy's state), for the few runs notebooks load
MODEL_FILE = "model.safetensors"
#: the folder of a record's evaluations on other versions of its faces
EVALS_DIR = "evals"
#: the file that marks a folder as a ledger of published records (:mod:`perturb_lib.ledger`): nothing but the ledger
#: writes there, so a record opened without a study of its own is read only
LEDGER_MARK = "LEDGER.md"


def is_ledger(folder: Path) -> bool:
    """Whether a folder is a ledger of published records (it holds :data:`LEDGER_MARK`)."""
    return (folder / LEDGER_MARK).is_file()


def run_identity(config, faces, *, landmarks: np.ndarray | None = None, settings: Settings | None = None) -> dict:
    """What a run will actually do, as recorded and hashed: the config (its policy canonical, every default
    filled in by the config class), the data it sees (which faces, and which landmarks when its policy draws on
    them), and the arithmetic it does (fp32 or bf16). Where it runs (device, memory format, compilation, threads) is
    not part of it.

    Args:
        config: a :class:`~perturb_lib.train.TrainConfig`.
        faces: the dataset (its ``selection`` names the face set: every face, or those a detector finds).
        landmarks: the landmarks policies draw from (default: ``faces.landmarks``).
        settings: how it executes (default: :class:`~perturb_lib.execution.Settings` ``()``), for its precision.

    Returns:
        The JSON-able identity.
    """
    cfg = asdict(config)
    cfg["precision"] = (settings or Settings()).resolved_precision()
    data = {"name": faces.name, "faces": faces.selection, "fingerprint": faces.fingerprint()}
    if make_policy(config.policy).needs_landmarks():
        lm = landmarks if landmarks is not None else faces.landmarks
        data["landmarks"] = array_fingerprint(lm) if lm is not None else None
    cfg["data"] = data
    cfg["record_version"] = RECORD_VERSION
    return cfg


def run_name(identity: dict) -> str:
    """``<model>[-att]-<policy tag>-<faces>-<precision>-s<seed>-<hash>``: readable, and unique per identity."""
    tag = make_policy(identity["policy"]).tag()
    return (f"{identity['model']}{'-att' if identity['attention'] else ''}-{tag}-{identity['data']['faces']}-"
            f"{identity['precision']}-s{identity['seed']}-{stable_hash(identity)}")


def same_results(run: Path, record: Path) -> bool:
    """Whether two folders of one record name hold the same finished results, byte for byte (``metrics.json``, and
    the logits or results where the record has them): the same model, trained twice."""
    if not ((run / "metrics.json").is_file() and (record / "metrics.json").is_file()):
        return False
    for f in ("metrics.json", LOGITS_FILE, "results.npz"):
        a, b = run / f, record / f
        if a.is_file() != b.is_file() or (a.is_file() and a.read_bytes() != b.read_bytes()):
            return False
    return True


# ------------------------------------------------------------------------------------- where runs are found
@dataclass(frozen=True)
class Study:
    """Where a study's runs live.

    Attributes:
        dir: the study folder (``runs/<study>``): the runs it trains, checkpoints, and what it computes about the
            ledger's records, under ``records/``.
        ledger: the folder of published records it reuses (``figures/<study>/records``), read only; None: none.
    """

    dir: Path
    ledger: Path | None = None

    @classmethod
    def of(cls, study: "Study | str | os.PathLike", ledger: str | os.PathLike | None = None) -> "Study":
        """A :class:`Study` from a study or a study folder (with ``ledger``)."""
        if isinstance(study, Study):
            return study
        return cls(resolve(study), resolve(ledger) if ledger else None)

    @classmethod
    def of_params(cls, params) -> "Study":
        """The study some parameters (:class:`~perturb_lib.params.Output`) name: its folder, and its ledger
        (``ledger_dir``, else ``<figures_dir>/records``, the study's committed records)."""
        return cls(resolve(params.study_dir), resolve(params.ledger_dir or f"{params.figures_dir}/records"))

    @property
    def records(self) -> Path:
        """The study's own records folder."""
        return self.dir / "records"

    def find(self, name: str) -> "Run | None":
        """The finished run of this name: the ledger's record first (the published one), else the study's own."""
        if self.ledger is not None and (self.ledger / name / "metrics.json").is_file():
            return Run(self.ledger / name, self)
        if (self.records / name / "metrics.json").is_file():
            return Run(self.records / name, self)
        return None

    def run(self, name: str) -> "Run":
        """The run of this name, finished or not (raises when neither the ledger nor the study has its folder)."""
        found = self.find(name)
        if found is not None:
            return found
        return Run(self.records / name, self)


@dataclass(frozen=True, eq=False)
class StudyContext:
    """What the runs of one study share, passed as one instead of four arguments: the faces they train on, the study
    they are found in and recorded into, the landmarks their policies draw on, and the settings they execute under.

    Attributes:
        faces: the dataset (all three splits).
        study: where runs are found (the ledger, then the study's own folder) and trained.
        landmarks: (N, K, 2) landmarks for policies that need them (None: ``faces.landmarks``).
        settings: how runs execute (device, precision, threads, progress); the precision is part of a run's identity.
    """

    faces: FaceSet
    study: Study
    landmarks: np.ndarray | None = None
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def of(cls, faces: FaceSet, study: "Study | str | os.PathLike", *, landmarks: np.ndarray | None = None,
           settings: Settings | None = None) -> "StudyContext":
        """A context from a study or a study folder (with default settings when none are given)."""
        return cls(faces, Study.of(study), landmarks, settings or Settings())

    def on(self, faces: FaceSet, landmarks: np.ndarray | None = None) -> "StudyContext":
        """The same study and settings on other faces (e.g. the published MaskFer images), with their landmarks."""
        return replace(self, faces=faces, landmarks=landmarks)

    def identity(self, config) -> dict:
        """A config's run identity here (:func:`run_identity`)."""
        return run_identity(config, self.faces, landmarks=self.landmarks, settings=self.settings)

    def name(self, config) -> str:
        """A config's run name here."""
        return run_name(self.identity(config))

    def run_dir(self, config) -> Path:
        """The folder a config's run has (or will have) in the study's own records."""
        return self.study.records / self.name(config)


def policy_for(spec: dict, study: Study, device="cpu") -> InputPolicy:
    """The policy a spec names, ready to apply: a Perturb policy gets its phase-1 run's attention."""
    attention = None
    if (spec or {}).get("kind") == "perturb":
        model = study.run(spec["phase1"]).model(device=str(device))
        attention = lambda x: attention_maps(model, x)  # noqa: E731
    return make_policy(spec, attention)


# ------------------------------------------------------------------------------------- checkpoints
class RunBusyError(RuntimeError):
    """Another live process, on this host or another, is training the same run."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely (it holds more than tensors and plain values) or at all."""


class CheckpointMissingError(FileNotFoundError):
    """A finished run whose model is not here (a ledger's record without a published model): it cannot be loaded
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


def save_model_file(path: Path, model_state: dict, policy_state: dict, metadata: dict[str, str]) -> Path:
    """Write a published model: the weights as ``model.<name>`` and the policy's tensors as ``policy.<name>``, in
    safetensors (a format that holds tensors only: loading it cannot run code)."""
    from safetensors.torch import save_file

    from .io import atomic_path
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    tensors.update({f"policy.{k}": v.detach().cpu().contiguous() for k, v in policy_state.items()
                    if isinstance(v, torch.Tensor)})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def load_model_file(path: Path, device="cpu") -> tuple[dict, dict]:
    """``(model state, policy state)`` of a published model."""
    from safetensors.torch import load_file
    try:
        tensors = load_file(str(path), device=str(device))
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file, named
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    policy = {k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")}
    return model, policy


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


# ------------------------------------------------------------------------------------- a run
class Run:
    """A finished (or partial) training run, read from its record.

    Attributes:
        dir: the record's folder (a ledger's, or the study's own).
        study: the study it was found through.
        work: where the study writes for this run: ``dir`` itself for the study's own runs; for a ledger's record,
            the study's folder of the same name (evaluations it computes, the record trained again).
        config: the full config it was trained with (dict).
        metrics: final metrics (``{"val": {...}, "test": {...}, ...}``) or ``None`` if unfinished.
    """

    def __init__(self, run_dir: str | os.PathLike, study: Study | None = None):
        self.dir = Path(run_dir)
        if not (self.dir / "config.json").is_file():
            raise FileNotFoundError(f"{self.dir}: not a run folder (no config.json)")
        self.study = study or Study(self.dir.parent.parent)
        self.work = self.study.records / self.dir.name
        self.config = read_json(self.dir / "config.json")
        self.metrics = read_json(self.dir / "metrics.json") if (self.dir / "metrics.json").is_file() else None

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def in_ledger(self) -> bool:
        """Whether this is a ledger's record (read in place; the study writes beside it, in :attr:`work`)."""
        return self.work.resolve() != self.dir.resolve()

    def recorded_settings(self, settings: Settings) -> Settings:
        """``settings`` with what the record says the run computed in: its precision, and the thread count and
        memory format its ``env.json`` names (another order of the sums is another model, and other logits)."""
        return replace(settings, precision=self.config.get("precision", "fp32"), **recorded_execution(self.env))

    def writable_work(self) -> Path:
        """:attr:`work`, where the study writes what it computes about this run (evaluations, the run trained again):
        never a ledger's folder.

        Raises:
            PermissionError: the run is a published record opened without a study of its own (its :attr:`work` would
                be the record itself).
        """
        if is_ledger(self.work.parent):
            raise PermissionError(f"{self.dir}: a published record, opened without a study of its own: nothing may be "
                                  f"written into its ledger {self.work.parent}; open it through a study whose ledger "
                                  f"that is: Study('runs/<study>', '{self.dir.parent}')")
        return self.work

    @property
    def restored(self) -> bool:
        """Whether the study holds this ledger record trained again (a restore, in :attr:`work`)."""
        return self.in_ledger and (self.work / "metrics.json").is_file()

    @property
    def published_model(self) -> bool:
        """Whether the record holds its model (``model.safetensors``)."""
        return (self.dir / MODEL_FILE).is_file()

    @property
    def has_checkpoint(self) -> bool:
        """Whether its model can be loaded: published in the record, or kept where the study trained it."""
        return self.published_model or ((self.work / "best.pt").is_file() and (self.work / "metrics.json").is_file())

    @property
    def history(self) -> pd.DataFrame:
        path = self.dir / "history.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    def logits(self, key: str = "test") -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(logits (N, C) float32, labels (N,), ids (N,))`` of the kept checkpoint on its own validation
        (``val``) or test (``test``) split under its own policy, as recorded when it finished."""
        path = self.dir / LOGITS_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return z[key].astype(np.float32), z[f"{key}_labels"], z[f"{key}_ids"]

    def evaluation(self, filename: str) -> Path | None:
        """An evaluation file of this run: the record's own, else one the study computed beside it."""
        for folder in (self.dir, self.work):
            if (folder / EVALS_DIR / filename).is_file():
                return folder / EVALS_DIR / filename
        return None

    @property
    def env(self) -> dict:
        path = self.dir / "env.json"
        return read_json(path) if path.is_file() else {}

    def checkpoint(self, which: str = "best", device: str = "cpu") -> dict:
        """A ``.pt`` checkpoint the study keeps (``best``: kept on validation; ``last``: the final epoch, for
        resuming), loaded safely (:func:`load_checkpoint`)."""
        path = self.work / f"{which}.pt"
        if not path.is_file():
            raise CheckpointMissingError(f"{self.dir}: no {which}.pt (a record without its checkpoint, e.g. a "
                                         "ledger's): train it again with perturb_lib.train.with_checkpoint")
        return load_checkpoint(path, device)

    def states(self, device: str = "cpu") -> tuple[dict, dict]:
        """``(model state, policy state)`` of its kept model: the published one, else the study's ``best.pt``."""
        if self.published_model:
            return load_model_file(self.dir / MODEL_FILE, device)
        if not self.has_checkpoint:
            raise CheckpointMissingError(f"{self.dir}: its model is neither published ({MODEL_FILE}) nor kept here: "
                                         "train it again with perturb_lib.train.with_checkpoint")
        best = self.checkpoint("best", device)
        return best["model"], best.get("policy", {})

    def model(self, device: str = "cpu", state: dict | None = None):
        """The trained model (from ``state`` when given), in eval mode."""
        c = self.config
        model = build_model(c["model"], width=c["width"], attention=c["attention"], dropout=c.get("dropout"))
        model.load_state_dict(state if state is not None else self.states(device)[0])
        return model.to(device).eval()

    def __repr__(self) -> str:
        acc = self.metrics["test"]["accuracy"] if self.metrics else None
        return f"Run({self.name}, {'test acc %.3f' % acc if acc is not None else 'unfinished'})"


def load_run(run: str | os.PathLike, study: Study | str | os.PathLike | None = None) -> Run:
    """A run by folder path, or by name in a study (its ledger first, then its own records)."""
    path = Path(run)
    if path.is_dir() or study is None:
        return Run(path)
    return Study.of(study).run(str(run))
