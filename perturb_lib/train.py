"""The training loop of the study - one place, top to bottom.

Every experiment is "train a classifier on some version of the faces, evaluate it per class". :func:`train`
does that for one :class:`TrainConfig`: cross-entropy; SGD with Nesterov momentum and weight decay; an optional
linear warm-up, then ReduceLROnPlateau on the validation metric (the paper) or a per-step decay to 0 (short
CPU budgets); random crop, flip and erasing
applied in batches to data resident on the device as uint8; the checkpoint kept on validation; test metrics
computed once at the end. Runs are recorded under ``<study>/records/`` (see :mod:`perturb_lib.runs`), reused
when finished and resumed when interrupted.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .augment import train_augment
from .data.faces import FaceSet
from .evaluate import evaluate
from .execution import Settings, autocast, environment
from .images import normalize
from .io import atomic_write_text, save_torch, write_json
from .models import DROPOUT_MODELS, build_model
from .params import MODELS, Recipe, param
from .policies import canonical_spec, split_tensors
from .runs import Run, RunLock, policy_for, records_dir, run_identity, run_name


@dataclass
class TrainConfig(Recipe):
    """Everything that determines a training run's result: the recipe (:class:`~perturb_lib.params.Recipe`,
    whose defaults are the CPU recipe) plus what is trained, with which seed, on which version of the faces.

    Made configs are normalised: the policy spec gets its defaults filled in, and ``dropout`` is None for
    models without dropout layers, so two ways of writing the same run are equal (and hash the same).
    """

    model: str = param("vgg16", "a model of the zoo", MODELS)
    attention: bool = param(False, "CBAM spatial gates between stages (the Perturb Scheme's phase 1)")
    seed: int = param(0, "seed of initialisation, data order, augmentation and dropout")
    policy: dict = field(default_factory=lambda: {"kind": "clean"},
                         metadata={"doc": "what is done to the faces in training and test (policies.make_policy)"})

    def check(self) -> None:
        super().check()
        if self.model not in DROPOUT_MODELS:
            self.dropout = None  # nothing to set: keep equal configs equal
        self.policy = canonical_spec(self.policy)

    @classmethod
    def from_params(cls, params, **changes) -> "TrainConfig":
        """The recipe some parameters describe (e.g. a notebook's), with ``changes`` on top."""
        names = set(Recipe.defaults())
        return cls(**{**{n: getattr(params, n) for n in names if hasattr(params, n)}, **changes})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return replace(self, **changes)


def lr_factor(config: TrainConfig, global_step: int, steps_per_epoch: int) -> float:
    """The learning rate of a step (0-based, over all epochs) as a fraction of ``config.lr``.

    A linear warm-up over ``warmup_epochs``; then 1 for ``plateau`` (ReduceLROnPlateau takes over after each
    epoch), a linear decay to 0 at the last step for ``onecycle``, a cosine decay to 0 for ``cosine``. A pure
    function of the step, so a resumed run follows the same curve. Short budgets gain from the decays: with 10
    epochs the plateau schedule barely lowers the rate before training ends.
    """
    warm = config.warmup_epochs * steps_per_epoch
    if global_step < warm:
        return min(1.0, (global_step + 1) / warm)
    if config.lr_schedule == "plateau":
        return 1.0
    t = (global_step - warm) / max(config.epochs * steps_per_epoch - warm, 1.0)
    return 1.0 - t if config.lr_schedule == "onecycle" else 0.5 * (1.0 + math.cos(math.pi * t))


def train(config: TrainConfig, faces: FaceSet, study_dir, settings: Settings | None = None,
          landmarks: np.ndarray | None = None, callbacks: tuple[Callable[[int, dict], None], ...] = ()) -> Run:
    """Train (or reuse, or resume) one run and return its record.

    Args:
        config: what to train.
        faces: the dataset (all three splits).
        study_dir: the study folder; the run goes to ``<study_dir>/records/<run name>/``.
        settings: how to execute (device, precision, progress).
        landmarks: (N, K, 2) landmarks for policies that need them (default: ``faces.landmarks``).
        callbacks: called as ``f(epoch, history_row)`` after each epoch's checkpoint is written.

    Returns:
        The finished :class:`~perturb_lib.runs.Run`.
    """
    settings = settings or Settings()
    identity = run_identity(config, faces, landmarks)
    run_dir = records_dir(study_dir) / run_name(identity)
    if (run_dir / "metrics.json").is_file():
        return Run(run_dir)
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        with RunLock(run_dir):
            if not (run_dir / "config.json").is_file():
                write_json(run_dir / "config.json", identity)
            return _train(config, faces, study_dir, settings, landmarks, callbacks, run_dir)
    finally:
        torch.set_num_threads(threads)  # a run's thread count must not leak into the next one's arithmetic


def _train(config, faces, study_dir, settings, landmarks, callbacks, run_dir) -> Run:
    device = settings.resolved_device()
    mode = settings.progress_mode()
    policy = policy_for(config.policy, study_dir, device)
    if policy.needs_landmarks() and landmarks is None and faces.landmarks is None:
        raise ValueError(f"policy {config.policy} needs landmarks; pass landmarks= or use faces that carry them")
    splits = {s: split_tensors(faces, s, device, landmarks) for s in ("Training", config.val_split, config.test_split)}
    for s in splits.values():
        if len(s) == 0:
            raise ValueError(f"{faces.name}: split {s.name} is empty")
        policy.prepare(s)
    train_split = splits["Training"]

    torch.manual_seed(config.seed)
    model = build_model(config.model, width=config.width, attention=config.attention, dropout=config.dropout).to(device)
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
            if config.lr_schedule != "plateau" or epoch < config.warmup_epochs:
                for group in optimizer.param_groups:
                    group["lr"] = config.lr * lr_factor(config, epoch * steps + step, steps)
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            x, y = policy.train_inputs(train_split.batch(idx), train_split.labels[idx], train_split, idx, generator)
            x = normalize(train_augment(x, generator, config.input_size, config.crop, config.pad, config.flip,
                                        config.erasing))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
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
        if config.lr_schedule == "plateau":  # the per-step schedules ignore validation
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
        _report_epoch(mode, bar, run_dir.name, epoch, config.epochs, row)
        save_torch(run_dir / "last.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
            "policy": policy.state_dict(), "history": history, "best": best, "best_epoch": best_epoch,
            "epoch": epoch})
        atomic_write_text(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
        for cb in callbacks:
            cb(epoch, row)

    # the checkpoint kept on validation is the one tested, once
    best_state = torch.load(run_dir / "best.pt", map_location=device, weights_only=False)
    model.load_state_dict(best_state["model"])
    policy.load_state_dict(best_state.get("policy", {}))
    metrics = {"val": evaluate(model, splits[config.val_split], policy, config, settings, device),
               "test": evaluate(model, splits[config.test_split], policy, config, settings, device),
               "best_epoch": best_epoch + 1, "epochs": config.epochs}
    timing = {"wall_seconds": round(time.time() - t_run, 2),
              "train_seconds": round(sum(h["train_seconds"] for h in history), 2),
              "images_per_s": round(float(np.mean([h["images_per_s"] for h in history])), 1)}
    write_json(run_dir / "env.json", environment(device, settings, **timing))
    write_json(run_dir / "metrics.json", metrics)  # written last: its presence means "finished"
    if mode != "off":
        t = metrics["test"]
        print(f"{run_dir.name}: test accuracy {t['accuracy']:.3f}, balanced {t['balanced_accuracy']:.3f}, macro F1 "
              f"{t['macro_f1']:.3f} (best epoch {metrics['best_epoch']}/{config.epochs}, "
              f"{timing['images_per_s']:.0f} img/s)", flush=True)
    return Run(run_dir)


def _bar(mode: str, total: int, desc: str):
    if mode != "bar":
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, unit="batch")


def _report_epoch(mode: str, bar, name: str, epoch: int, epochs: int, row: dict) -> None:
    if bar is not None:
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_accuracy']:.3f}",
                        val=f"{row['val_accuracy']:.3f}", ips=f"{row['images_per_s']:.0f}")
        bar.close()
    elif mode == "lines":
        print(f"{name} epoch {epoch + 1}/{epochs}: loss {row['train_loss']:.3f} train acc {row['train_accuracy']:.3f} "
              f"val acc {row['val_accuracy']:.3f} ({row['images_per_s']:.0f} img/s)", flush=True)
