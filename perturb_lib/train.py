"""The training loop of the study - one place, top to bottom.

Every experiment is "train a classifier on some version of the faces, evaluate it per class". :func:`train`
does that for one :class:`TrainConfig`: the paper's recipe by default (cross-entropy; SGD lr 0.01, Nesterov
momentum 0.9, weight decay 1e-4; ReduceLROnPlateau on validation accuracy, factor 0.75, patience 5; random
crop, flip and erasing), data resident on the device as uint8, batched augmentation, the checkpoint kept on
validation, test metrics computed once at the end. Runs are recorded under ``<study>/records/`` (see
:mod:`perturb_lib.runs`), reused when finished and resumed when interrupted.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .augment import center_crop, normalize, ten_crop, train_augment
from .data.faces import SPLITS, FaceSet
from .metrics import classification_metrics
from .models import build_model
from .policy import InputPolicy, SplitTensors, make_policy, split_tensors
from .runs import RECORD_VERSION, Run, RunLock, config_hash, records_dir, save_torch, write_json


@dataclass
class TrainConfig:
    """Everything that determines a training run's result (its hash names the run).

    Args:
        model: a name from :data:`perturb_lib.models.MODELS`.
        width: channel multiplier (1.0 = the paper's model).
        attention: CBAM spatial gates between stages (the Perturb Scheme's phase 1).
        dropout: dropout rate of models that have dropout (None: the architecture's 0.4); ignored and
            recorded as None for models without dropout layers.
        epochs: training epochs (paper: 200).
        batch_size: training batch size.
        lr, momentum, nesterov, weight_decay: SGD.
        plateau_factor, plateau_patience: ReduceLROnPlateau on the validation metric.
        warmup_epochs: linear learning-rate warm-up from 0 over this many epochs (0: none, as in the paper).
        label_smoothing: cross-entropy label smoothing (0: the paper's plain cross-entropy).
        input_size: network input (48, or 40 for crops as in the authors' ten-crop setup).
        crop: ``pad`` (padded random crop), ``resized`` (zoom/shift/rotation) or ``none``.
        pad: padding of the ``pad`` crop.
        flip: random horizontal flips.
        erasing: probability of random erasing.
        tta: ``none`` or ``tencrop`` (logits averaged over ten views) at evaluation.
        select_metric: validation metric that picks the checkpoint and drives the LR schedule.
        val_split, test_split: which FER2013 splits validate and test (the test split is only used once).
        seed: seed of initialisation, data order, augmentation and dropout.
        policy: what is done to the faces (see :func:`perturb_lib.policy.make_policy`), in training and test.
    """

    model: str = "vgg16"
    width: float = 0.25
    attention: bool = False
    dropout: float | None = None
    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    plateau_factor: float = 0.75
    plateau_patience: int = 5
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    input_size: int = 48
    crop: str = "pad"
    pad: int = 4
    flip: bool = True
    erasing: float = 0.5
    tta: str = "none"
    select_metric: str = "accuracy"
    val_split: str = "PublicTest"
    test_split: str = "PrivateTest"
    seed: int = 0
    policy: dict = field(default_factory=lambda: {"kind": "clean"})

    def __post_init__(self):
        from .models import DROPOUT_MODELS
        if self.model not in DROPOUT_MODELS:
            self.dropout = None  # nothing to set: keep equal configs equal
        if self.val_split == self.test_split:
            raise ValueError("val_split and test_split must differ: checkpoints are never chosen on the test split")
        for name in ("val_split", "test_split"):
            if getattr(self, name) not in SPLITS:
                raise ValueError(f"{name} must be one of {', '.join(SPLITS)}")
        if self.tta not in ("none", "tencrop"):
            raise ValueError(f"tta must be 'none' or 'tencrop', got {self.tta!r}")
        if self.select_metric not in ("accuracy", "balanced_accuracy", "macro_f1"):
            raise ValueError("select_metric must be accuracy, balanced_accuracy or macro_f1")
        if self.input_size not in (40, 48):
            raise ValueError(f"input_size must be 40 or 48, got {self.input_size}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    @classmethod
    def from_params(cls, P, **changes) -> "TrainConfig":
        """The recipe a notebook's parameters describe (fields the notebook does not set keep their defaults)."""
        names = {f.name for f in fields(cls)} - {"model", "seed", "policy", "attention"}
        values = {n: getattr(P, n) for n in names if hasattr(P, n)}
        return cls(**{**values, **changes})

    def replace(self, **changes) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return TrainConfig(**{**asdict(self), **changes})


@dataclass
class Settings:
    """How a run executes; not part of its identity (the same config on CPU or GPU is the same run).

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: bf16 autocast (default: on CUDA).
        channels_last: channels-last memory format (default: on CUDA).
        compile: ``torch.compile`` the model for training.
        progress: ``bar``, ``lines``, ``summary`` or ``off`` (default: env ``PERTURB_PROGRESS``, else a bar on a
            terminal and a line per epoch elsewhere).
        eval_batch_size: faces per evaluation batch.
        threads: CPU threads for torch (None: leave torch's setting).
    """

    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    progress: str | None = None
    eval_batch_size: int = 1024
    threads: int | None = None

    def resolved_device(self) -> torch.device:
        return torch.device(resolve_device(self.device))

    def use_amp(self, device: torch.device) -> bool:
        return self.amp if self.amp is not None else device.type == "cuda"

    def use_channels_last(self, device: torch.device) -> bool:
        return self.channels_last if self.channels_last is not None else device.type == "cuda"


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='auto' or 'cpu'")
    return name


# ------------------------------------------------------------------------------------------- helpers
def full_config(config: TrainConfig, faces: FaceSet, landmarks: np.ndarray | None = None) -> dict:
    """The config as recorded and hashed: the training config plus the data it saw."""
    cfg = asdict(config)
    data = {"name": faces.name, "fingerprint": faces.fingerprint()}
    if make_policy(config.policy).needs_landmarks():
        lm = landmarks if landmarks is not None else faces.landmarks
        data["landmarks"] = _array_fingerprint(lm) if lm is not None else None
    cfg["data"] = data
    cfg["record_version"] = RECORD_VERSION
    return cfg


def _array_fingerprint(a: np.ndarray) -> str:
    import hashlib
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()[:16]


def run_name(cfg: dict) -> str:
    """``<model>[-att]-<policy tag>-s<seed>-<hash>``: readable, and unique per config."""
    tag = make_policy(cfg["policy"]).tag()
    return f"{cfg['model']}{'-att' if cfg['attention'] else ''}-{tag}-s{cfg['seed']}-{config_hash(cfg)}"


def run_dir_for(config: TrainConfig, faces: FaceSet, study_dir, landmarks=None) -> Path:
    return records_dir(study_dir) / run_name(full_config(config, faces, landmarks))


def _progress_mode(settings: Settings) -> str:
    mode = settings.progress or os.environ.get("PERTURB_PROGRESS")
    if mode:
        if mode not in ("bar", "lines", "summary", "off"):
            raise ValueError(f"progress must be bar, lines, summary or off, got {mode!r}")
        return mode
    return "bar" if sys.stderr.isatty() else "lines"


def _autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def _set_history(run_dir: Path, history: list[dict]) -> None:
    import pandas as pd
    from .runs import atomic_write_text
    atomic_write_text(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))


# ----------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(model, split: SplitTensors, policy: InputPolicy, config: TrainConfig, settings: Settings,
            device: torch.device) -> torch.Tensor:
    """Logits (N, C) for every face of a split, through the policy's views and optional ten-crop TTA."""
    model.eval()
    amp, channels_last = settings.use_amp(device), settings.use_channels_last(device)
    out = []
    for start in range(0, len(split), settings.eval_batch_size):
        idx = torch.arange(start, min(start + settings.eval_batch_size, len(split)), device=device)
        x = policy.eval_views(split.batch(idx), split, idx)
        if config.tta == "tencrop":
            views = ten_crop(x, config.input_size, config.pad)
        else:
            views = center_crop(x, config.input_size)
        views = normalize(views)
        if channels_last:
            views = views.contiguous(memory_format=torch.channels_last)
        with _autocast(device, amp):
            logits = model(views).float()
        if config.tta == "tencrop":
            logits = logits.reshape(10, -1, logits.shape[-1]).mean(0)
        out.append(policy.combine(logits))
    return torch.cat(out)


def evaluate(model, split: SplitTensors, policy: InputPolicy, config: TrainConfig, settings: Settings,
             device: torch.device) -> dict:
    """Metrics of the model on a whole split (see :func:`perturb_lib.metrics.classification_metrics`)."""
    logits = predict(model, split, policy, config, settings, device)
    return classification_metrics(split.labels.cpu().numpy(), logits.argmax(1).cpu().numpy())


# -------------------------------------------------------------------------------------------- training
def train(config: TrainConfig, faces: FaceSet, study_dir, settings: Settings | None = None,
          landmarks: np.ndarray | None = None, callbacks: tuple[Callable[[int, dict], None], ...] = ()) -> Run:
    """Train (or reuse, or resume) one run and return its record.

    Args:
        config: what to train.
        faces: the dataset (all three splits).
        study_dir: the study folder; the run goes to ``<study_dir>/records/<run name>/``.
        settings: how to execute (device, precision, progress).
        landmarks: (N, 68, 2) landmarks for policies that need them (default: ``faces.landmarks``).
        callbacks: called as ``f(epoch, history_row)`` after each epoch's checkpoint is written.

    Returns:
        The finished :class:`~perturb_lib.runs.Run`.
    """
    settings = settings or Settings()
    cfg = full_config(config, faces, landmarks)
    run_dir = records_dir(study_dir) / run_name(cfg)
    if (run_dir / "metrics.json").is_file():
        return Run(run_dir)
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _train(config, faces, study_dir, settings, landmarks, callbacks, cfg, run_dir)
    finally:
        torch.set_num_threads(threads)  # a run's thread count must not leak into the next one's arithmetic


def _train(config, faces, study_dir, settings, landmarks, callbacks, cfg, run_dir) -> Run:
    device = settings.resolved_device()
    mode = _progress_mode(settings)
    with RunLock(run_dir):
        if not (run_dir / "config.json").is_file():
            write_json(run_dir / "config.json", cfg)
        policy = make_policy(config.policy, study_dir)
        if policy.needs_landmarks() and landmarks is None and faces.landmarks is None:
            raise ValueError(f"policy {config.policy} needs landmarks; pass landmarks= or use faces that carry them")
        splits = {s: split_tensors(faces, s, device, landmarks) for s in ("Training", config.val_split, config.test_split)}
        for s in splits.values():
            if len(s) == 0:
                raise ValueError(f"{faces.name}: split {s.name} is empty")
            policy.prepare(s)
        train_split = splits["Training"]

        torch.manual_seed(config.seed)
        model = build_model(config.model, width=config.width, attention=config.attention,
                            dropout=config.dropout).to(device)
        channels_last, amp = settings.use_channels_last(device), settings.use_amp(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    nesterov=config.nesterov, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=config.plateau_factor,
                                                               patience=config.plateau_patience)
        generator = torch.Generator(device=device).manual_seed(config.seed)
        history, best, best_epoch, start_epoch = [], -1.0, -1, 0
        if (run_dir / "last.pt").is_file():  # resume where the interrupted run stopped
            state = torch.load(run_dir / "last.pt", map_location=device, weights_only=False)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"].cpu())
            torch.set_rng_state(state["torch_rng"])
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"])
            policy.load_state_dict(state["policy"])
            history, best, best_epoch, start_epoch = state["history"], state["best"], state["best_epoch"], state["epoch"] + 1
        step_model = torch.compile(model) if settings.compile else model

        n = len(train_split)
        steps = (n + config.batch_size - 1) // config.batch_size
        t_run = time.time()
        for epoch in range(start_epoch, config.epochs):
            t0 = time.time()  # the epoch's time includes the policy's per-epoch work (e.g. clustering)
            policy.on_epoch_start(epoch, train_split, generator)
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            order = torch.randperm(n, generator=generator, device=device)
            bar = _bar(mode, steps, f"{run_dir.name} {epoch + 1}/{config.epochs}")
            for step in range(steps):
                if epoch < config.warmup_epochs:  # a function of the global step: resumes identically
                    frac = min(1.0, (epoch * steps + step + 1) / (config.warmup_epochs * steps))
                    for group in optimizer.param_groups:
                        group["lr"] = config.lr * frac
                idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                x, y = policy.train_inputs(train_split.batch(idx), train_split.labels[idx], train_split, idx, generator)
                x = normalize(train_augment(x, generator, config.input_size, config.crop, config.pad, config.flip,
                                            config.erasing))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device, amp):
                    logits = step_model(x)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
                if bar is not None:
                    bar.update(1)
            train_seconds = time.time() - t0
            val = evaluate(model, splits[config.val_split], policy, config, settings, device)
            scheduler.step(val[config.select_metric])
            if val[config.select_metric] > best:
                best, best_epoch = val[config.select_metric], epoch
                save_torch(run_dir / "best.pt", {"model": model.state_dict(), "epoch": epoch, "policy": policy.state_dict()})
            row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "train_loss": (loss_sum / seen).item(),
                   "train_accuracy": correct.item() / seen, "val_accuracy": val["accuracy"],
                   "val_balanced_accuracy": val["balanced_accuracy"], "val_macro_f1": val["macro_f1"],
                   "train_seconds": round(train_seconds, 3), "images_per_s": round(seen / max(train_seconds, 1e-9), 1),
                   **policy.epoch_stats()}
            history.append(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_accuracy']:.3f}",
                                val=f"{val['accuracy']:.3f}", ips=f"{row['images_per_s']:.0f}")
                bar.close()
            elif mode == "lines":
                print(f"{run_dir.name} epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.3f} "
                      f"train acc {row['train_accuracy']:.3f} val acc {val['accuracy']:.3f} "
                      f"({row['images_per_s']:.0f} img/s)", flush=True)
            save_torch(run_dir / "last.pt", {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                "policy": policy.state_dict(), "history": history, "best": best, "best_epoch": best_epoch,
                "epoch": epoch})
            _set_history(run_dir, history)
            for cb in callbacks:
                cb(epoch, row)

        # the checkpoint kept on validation is the one tested, once
        best_state = torch.load(run_dir / "best.pt", map_location=device, weights_only=False)
        model.load_state_dict(best_state["model"])
        policy.load_state_dict(best_state.get("policy", {}))
        metrics = {
            "val": evaluate(model, splits[config.val_split], policy, config, settings, device),
            "test": evaluate(model, splits[config.test_split], policy, config, settings, device),
            "best_epoch": best_epoch + 1, "epochs": config.epochs,
        }
        timing = {"wall_seconds": round(time.time() - t_run, 2),
                  "train_seconds": round(sum(h["train_seconds"] for h in history), 2),
                  "images_per_s": round(float(np.mean([h["images_per_s"] for h in history])), 1)}
        write_json(run_dir / "env.json", environment(device, settings, amp, channels_last, **timing))
        write_json(run_dir / "metrics.json", metrics)  # written last: its presence means "finished"
        if mode in ("lines", "summary", "bar"):
            print(f"{run_dir.name}: test accuracy {metrics['test']['accuracy']:.3f}, balanced "
                  f"{metrics['test']['balanced_accuracy']:.3f}, macro F1 {metrics['test']['macro_f1']:.3f} "
                  f"(best epoch {metrics['best_epoch']}/{config.epochs}, {timing['images_per_s']:.0f} img/s)",
                  flush=True)
    return Run(run_dir)


def _bar(mode: str, total: int, desc: str):
    if mode != "bar":
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, unit="batch")


def environment(device: torch.device, settings: Settings, amp: bool, channels_last: bool, **extra) -> dict:
    """Versions and hardware a run executed on."""
    import torchvision
    env = {"perturb_lib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
           "python": platform.python_version(), "platform": platform.platform(), "device": str(device),
           "threads": torch.get_num_threads(), "amp_bf16": amp, "channels_last": channels_last,
           "compile": settings.compile, "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


# ------------------------------------------------------------------------------- cross-condition tests
def _as_config(run: Run) -> TrainConfig:
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in run.config.items() if k in names})


def run_logits(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
               landmarks: np.ndarray | None = None, settings: Settings | None = None, study_dir=None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a finished run on some version of some split (e.g. a clean-trained model on masked faces).

    Cached in ``<run>/evals/`` keyed by policy, split and data, so re-executing a notebook costs nothing.

    Args:
        run: the finished run.
        faces: the dataset.
        policy: the test-time policy spec (default: the run's own).
        split: the split (default: the run's test split).
        landmarks: landmarks for policies that need them (default: ``faces.landmarks``).
        settings: execution settings.
        study_dir: where runs referred to by the policy live.

    Returns:
        ``(logits (N, C), labels (N,))``.
    """
    settings = settings or Settings()
    config = _as_config(run)
    policy_spec = policy if policy is not None else config.policy
    split = split or config.test_split
    pol = make_policy(policy_spec, study_dir)
    lm = landmarks if landmarks is not None else faces.landmarks
    key = {"policy": policy_spec, "split": split, "data": faces.fingerprint(), "tta": config.tta,
           "landmarks": _array_fingerprint(lm) if (pol.needs_landmarks() and lm is not None) else None}
    path = run.dir / "evals" / f"{config_hash(key)}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return cached["logits"], cached["labels"]
    device = settings.resolved_device()
    data = split_tensors(faces, split, device, landmarks)
    pol.prepare(data)
    best = run.checkpoint("best", device=str(device))  # read once: the model and the policy's state
    pol.load_state_dict(best.get("policy", {}) if policy is None else {})
    logits = predict(run.model(device=str(device), state=best), data, pol, config, settings, device).cpu().numpy()
    labels = data.labels.cpu().numpy()
    from .data.faces import atomic_save_npz
    atomic_save_npz(path, {"logits": logits, "labels": labels})
    return logits, labels


def evaluate_run(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
                 landmarks: np.ndarray | None = None, settings: Settings | None = None, study_dir=None) -> dict:
    """Metrics of a finished run on some version of some split (arguments as :func:`run_logits`)."""
    logits, labels = run_logits(run, faces, policy, split, landmarks, settings, study_dir)
    return classification_metrics(labels, logits.argmax(1))
