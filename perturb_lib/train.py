"""The training loop of the study - one place, top to bottom.

Every experiment is "train a classifier on some version of the faces, evaluate it per class". :func:`train`
does that for one :class:`TrainConfig`: cross-entropy; SGD with Nesterov momentum and weight decay; the learning
rate of each step from :class:`LRSchedule` (a warm-up, then the paper's reduce-on-plateau or a per-step decay);
random crop, flip and erasing applied in batches to data resident on the device as uint8; optionally an
exponential moving average of the weights; the checkpoint kept on validation; test metrics computed once at the
end. Runs are recorded under ``<study>/records/`` (see :mod:`perturb_lib.runs`), reused when finished and resumed,
bitwise, when interrupted.

    python -m perturb_lib.train --data fer2013.csv --model vgg16 --width 0.25 --epochs 10 --policy mask

trains one run from the command line (:func:`main`); its flags are the recipe's parameters.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .augment import train_augment
from .evaluate import evaluate, predict
from .execution import Settings, autocast, environment, load_average
from .images import normalize
from .io import atomic_write_text, save_npz, save_torch, to_jsonable, write_json
from .metrics import classification_metrics
from .models import DROPOUT_MODELS, build_model
from .params import MODELS, Recipe, param
from .policies import InputPolicy, SplitTensors, canonical_spec, split_tensors
from .runs import (LOGITS_FILE, POLICY_FILE, Run, RunLock, Study, StudyContext, load_checkpoint, policy_for,
                   run_name, same_results)


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
        """The recipe some parameters describe (e.g. a notebook's), with the model's own changes
        (``params.model_recipes[model]``, when ``changes`` names a model) and then ``changes`` on top."""
        names = set(Recipe.defaults())
        values = {n: getattr(params, n) for n in names if hasattr(params, n)}
        values.update(getattr(params, "model_recipes", {}).get(changes.get("model"), {}))
        return cls(**{**values, **changes})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}")
        return replace(self, **changes)


# ------------------------------------------------------------------------------------------ the learning rate
def lr_factor(config: Recipe, global_step: int, steps_per_epoch: int) -> float:
    """The learning rate of a step (0-based, over all epochs) as a fraction of ``config.lr``, before any
    reduction on plateau.

    A linear warm-up over ``warmup_epochs``; then 1 for ``plateau`` (reductions come from validation), a linear
    decay to 0 at the last step for ``onecycle``, a cosine decay to 0 for ``cosine``. A pure function of the
    step, so a resumed run follows the same curve. Short budgets gain from the decays: with 10 epochs the plateau
    schedule barely lowers the rate before training ends.
    """
    warm = config.warmup_epochs * steps_per_epoch
    if global_step < warm:
        return min(1.0, (global_step + 1) / warm)
    if config.lr_schedule == "plateau":
        return 1.0
    t = (global_step - warm) / max(config.epochs * steps_per_epoch - warm, 1.0)
    return 1.0 - t if config.lr_schedule == "onecycle" else 0.5 * (1.0 + math.cos(math.pi * t))


@dataclass
class LRSchedule:
    """The one mechanism that sets the learning rate: :func:`lr_factor` of the step, times the reductions on
    plateau so far.

    The plateau rule is torch's ``ReduceLROnPlateau(mode="max")`` with its defaults (relative threshold 1e-4, no
    cooldown): after ``plateau_patience`` epochs without a better validation metric the rate is multiplied by
    ``plateau_factor``. It is reimplemented here (a few lines) because torch's scheduler owns the optimizer's rate
    and cannot share it with a per-step warm-up; this way a step's rate is one product, and the state is three
    numbers that resume exactly.
    """

    config: Recipe
    steps_per_epoch: int
    scale: float = 1.0
    best: float = -math.inf
    bad_epochs: int = 0

    def lr(self, global_step: int) -> float:
        return self.config.lr * lr_factor(self.config, global_step, self.steps_per_epoch) * self.scale

    def apply(self, optimizer: torch.optim.Optimizer, global_step: int) -> None:
        for group in optimizer.param_groups:
            group["lr"] = self.lr(global_step)

    def on_validation(self, metric: float) -> None:
        """After each epoch: a plateau schedule reduces the rate when validation stopped improving."""
        if self.config.lr_schedule != "plateau":
            return
        if metric > self.best * (1 + 1e-4):  # torch's relative threshold (and any metric beats -inf)
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.config.plateau_patience:
            self.scale *= self.config.plateau_factor
            self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad_epochs = state["scale"], state["best"], state["bad_epochs"]


# ------------------------------------------------------------------------------------------ a run's state
@dataclass
class RunContext:
    """What a run trains on and how: fixed for the run, rebuilt on resume."""

    config: TrainConfig
    settings: Settings
    device: torch.device
    policy: InputPolicy
    splits: dict[str, SplitTensors]
    amp: bool
    channels_last: bool
    run_dir: Path
    study: Study

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.splits["Training"]) // self.config.batch_size)


@dataclass
class RunState:
    """Everything that changes while a run trains, and all a resume needs (saved in ``last.pt``).

    Attributes:
        model: the network being trained.
        ema: the moving average of its weights (None when ``config.ema`` is 0); when present it is what is
            validated, kept and tested.
        optimizer, lr: SGD and its learning-rate schedule.
        generator: the random stream of data order, augmentation and the policy.
        history: one row per finished epoch.
        best, best_epoch: the best validation metric so far and its epoch (0-based).
        epoch: the next epoch to train (0-based).
    """

    model: torch.nn.Module
    ema: AveragedModel | None
    optimizer: torch.optim.Optimizer
    lr: LRSchedule
    generator: torch.Generator
    history: list = field(default_factory=list)
    best: float = -1.0
    best_epoch: int = -1
    epoch: int = 0

    @property
    def evaluated(self) -> torch.nn.Module:
        """The network that is validated and kept: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    def state_dict(self, policy: InputPolicy, device: torch.device) -> dict:
        return {"model": self.model.state_dict(), "ema": None if self.ema is None else self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "lr": self.lr.state_dict(),
                "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "policy": policy.state_dict(), "history": to_jsonable(self.history), "best": float(self.best),
                "best_epoch": self.best_epoch, "epoch": self.epoch}

    def load_state_dict(self, state: dict, policy: InputPolicy, device: torch.device) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr.load_state_dict(state["lr"])
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        policy.load_state_dict(state["policy"])
        self.history, self.best, self.best_epoch, self.epoch = (state["history"], state["best"], state["best_epoch"],
                                                                state["epoch"])


# ------------------------------------------------------------------------------------------ the loop
def train(config: TrainConfig, context: StudyContext) -> Run:
    """Train (or reuse, or resume) one run and return its record.

    Args:
        config: what to train.
        context: the faces, the study, the landmarks and the settings (:class:`~perturb_lib.runs.StudyContext`;
            ``StudyContext.of(faces, "runs/my-study")``): a finished record of the run in the study's ledger or
            its own folder is returned as it is; otherwise the run trains in ``<study>/records/<run name>/``,
            resuming from its last checkpoint when one is there.

    Returns:
        The finished :class:`~perturb_lib.runs.Run`.
    """
    name = context.name(config)
    found = context.study.find(name)
    if found is not None:
        if found.in_ledger and context.settings.progress_mode() != "off":
            print(f"{name}: finished record reused from {context.study.ledger}", flush=True)
        return found
    return _fit(config, context)


def _fit(config: TrainConfig, context: StudyContext) -> Run:
    """Train a run in the study's own folder (resuming it when interrupted), whatever a ledger holds."""
    study, settings = context.study, context.settings
    identity = context.identity(config)
    run_dir = study.records / run_name(identity)
    if (run_dir / "metrics.json").is_file():
        return Run(run_dir, study)
    if config.policy["kind"] == "perturb":  # phase 3 needs its phase-1 model's attention
        with_checkpoint(study.run(config.policy["phase1"]), context)
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        with RunLock(run_dir):
            if not (run_dir / "config.json").is_file():
                write_json(run_dir / "config.json", identity)
            ctx = setup(config, context, run_dir)
            state = initial_state(ctx)
            if (run_dir / "last.pt").is_file():  # resume where the interrupted run stopped
                state.load_state_dict(load_checkpoint(run_dir / "last.pt", ctx.device), ctx.policy, ctx.device)
            t_run, cpu_run, load_before = time.time(), time.process_time(), load_average()
            resumed_at = state.epoch  # 0 unless resumed: the wall and CPU times below cover this sitting only
            step_model = torch.compile(state.model) if settings.use_compile(ctx.device) else state.model
            for epoch in range(state.epoch, config.epochs):
                row = train_one_epoch(ctx, state, step_model, epoch)
                evaluate_and_checkpoint(ctx, state, epoch, row)
            return finish(ctx, state, time.time() - t_run, time.process_time() - cpu_run, load_before, resumed_at)
    finally:
        torch.set_num_threads(threads)  # a run's thread count must not leak into the next one's arithmetic


def with_checkpoint(run: Run, context: StudyContext) -> Run:
    """The run with a model that can be loaded (``context``: the faces and landmarks it was trained on, and the
    settings; its study is the run's own).

    A ledger's record whose model is not published is trained again, in the study's own folder of the same name,
    as it was recorded: its precision, and the thread count and memory format its ``env.json`` names, whatever this
    session's settings say (another thread count or memory format changes the order of the sums, and so the model).
    On the CPU kind and software that made the record this gives the same bits. Elsewhere it gives another model
    under the same name: it is said here, it stays in the study (the ledger's record is never rewritten, and every
    table keeps reading the record), and a figure drawn from it is not the committed one.

    Returns:
        The run, now with :attr:`~perturb_lib.runs.Run.has_checkpoint`: the ledger's record (its model in the
        study's folder of the same name), or the study's own run trained again.

    Raises:
        PermissionError: the run is a published record opened without a study of its own.
    """
    if run.finished and run.has_checkpoint:
        return run
    # an unfinished run (a retraining cut short) resumes from its last.pt; its best.pt is not yet the run's model
    work = run.writable_work()
    config = TrainConfig(**{k: v for k, v in run.config.items() if k in TrainConfig.defaults()})
    settings = run.recorded_settings(context.settings)
    context = replace(context, study=run.study, settings=settings)
    if settings.progress_mode() != "off":
        print(f"{run.name}: retraining as recorded ({settings.threads or 'default'} threads, {settings.precision}): its "
              "model is not published and a model must be loaded", flush=True)
    identity = context.identity(config)
    if run_name(identity) != run.name:
        raise ValueError(f"{run.name}: these faces, landmarks or this precision make another run "
                         f"({run_name(identity)}); retrain it with the faces it was trained on")
    if (work / "metrics.json").is_file():  # finished, but its checkpoint is gone: the study's copy is trained again
        for name in ("metrics.json", LOGITS_FILE, "history.csv"):  # env.json stays: a resumed retraining reads it
            (work / name).unlink(missing_ok=True)
    restored = _fit(config, context)
    if run.in_ledger:
        if same_results(restored.dir, run.dir):
            if settings.progress_mode() != "off":
                print(f"{run.name}: restored bit for bit", flush=True)
        else:  # said whatever the progress setting: a figure that loads this model is not the committed one
            warnings.warn(f"{run.name}: restored as another model: its metrics or logits differ from the record "
                          "(another CPU kind or software); the record and its tables are unchanged, figures that load "
                          "this model are not the committed ones", stacklevel=2)
    return Run(run.dir, run.study) if run.in_ledger else restored


def setup(config: TrainConfig, context: StudyContext, run_dir: Path) -> RunContext:
    """The run's device, policy and splits on the device (each prepared by the policy)."""
    faces, landmarks, settings = context.faces, context.landmarks, context.settings
    device = settings.resolved_device()
    policy = policy_for(config.policy, context.study, device)
    if policy.needs_landmarks() and landmarks is None and faces.landmarks is None:
        raise ValueError(f"policy {config.policy} needs landmarks: give the context landmarks "
                         "(StudyContext.of(faces, study, landmarks=...)) or use faces that carry them")
    splits = {s: split_tensors(faces, s, device, landmarks) for s in ("Training", config.val_split, config.test_split)}
    for s in splits.values():
        if len(s) == 0:
            raise ValueError(f"{faces.name}: split {s.name} is empty")
        policy.prepare(s)
    return RunContext(config, settings, device, policy, splits, settings.use_amp(device),
                      settings.use_channels_last(device, config.model, config.width), run_dir, context.study)


def initial_state(ctx: RunContext) -> RunState:
    """A fresh run: the seeded model (and its moving average), SGD, the schedule, the random stream."""
    config = ctx.config
    torch.manual_seed(config.seed)
    model = build_model(config.model, width=config.width, attention=config.attention,
                        dropout=config.dropout).to(ctx.device)
    if ctx.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = None
    if config.ema > 0:  # BatchNorm statistics are averaged with the weights (use_buffers)
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay)
    return RunState(model, ema, optimizer, LRSchedule(config, ctx.steps_per_epoch),
                    torch.Generator(device=ctx.device).manual_seed(config.seed))


def training_step(step_model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  generator: torch.Generator, config: Recipe, device: torch.device, amp: bool,
                  channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of SGD on a batch of faces (B, 1, H, W) in [0, 1], as every run of the study takes it: the recipe's
    batched augmentation and the input normalisation, the forward pass in the run's precision, cross-entropy with
    the recipe's label smoothing, backward, and the optimizer's step. Returns ``(loss, logits)``."""
    x = normalize(train_augment(x, generator, config.input_size, config.crop, config.pad, config.flip, config.erasing))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, amp):
        logits = step_model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def train_one_epoch(ctx: RunContext, state: RunState, step_model: torch.nn.Module, epoch: int) -> dict:
    """One pass over the training faces in a random order; returns the epoch's training statistics."""
    config, device, split = ctx.config, ctx.device, ctx.splits["Training"]
    t0 = time.time()  # the epoch's time includes the policy's per-epoch work (e.g. clustering)
    ctx.policy.on_epoch_start(epoch, split, state.generator)
    state.model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n, steps, seen = len(split), ctx.steps_per_epoch, 0
    order = torch.randperm(n, generator=state.generator, device=device)
    bar = _bar(ctx.settings.progress_mode(), steps, f"{ctx.run_dir.name} {epoch + 1}/{config.epochs}")
    for step in range(steps):
        state.lr.apply(state.optimizer, epoch * steps + step)
        idx = order[step * config.batch_size:(step + 1) * config.batch_size]
        x, y = ctx.policy.train_inputs(split.batch(idx), split.labels[idx], split, idx, state.generator)
        loss, logits = training_step(step_model, state.optimizer, x, y, state.generator, config, device, ctx.amp,
                                     ctx.channels_last)
        if state.ema is not None:
            state.ema.update_parameters(state.model)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update(1)
    seconds = time.time() - t0
    if bar is not None:
        bar.close()
    return {"epoch": epoch + 1, "lr": state.optimizer.param_groups[0]["lr"], "train_loss": (loss_sum / seen).item(),
            "train_accuracy": correct.item() / seen, "train_seconds": round(seconds, 3),
            "images_per_s": round(seen / max(seconds, 1e-9), 1)}


def evaluate_and_checkpoint(ctx: RunContext, state: RunState, epoch: int, row: dict) -> dict:
    """Validate the epoch's network, keep it in ``best.pt`` when it is the best so far, step the plateau rule,
    then save everything a resume needs in ``last.pt`` and the history; returns the epoch's history row."""
    config = ctx.config
    val = evaluate(state.evaluated, ctx.splits[config.val_split], ctx.policy, config, ctx.settings, ctx.device)
    state.lr.on_validation(val[config.select_metric])
    if val[config.select_metric] > state.best:
        state.best, state.best_epoch = val[config.select_metric], epoch
        save_torch(ctx.run_dir / "best.pt", {"model": state.evaluated.state_dict(), "epoch": epoch,
                                             "policy": ctx.policy.state_dict()})
    row = to_jsonable({**row, "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"],
                       "val_macro_f1": val["macro_f1"], **ctx.policy.epoch_stats()})
    state.history.append(row)
    state.epoch = epoch + 1
    _report_epoch(ctx.settings.progress_mode(), ctx.run_dir.name, epoch, config.epochs, row)
    save_torch(ctx.run_dir / "last.pt", state.state_dict(ctx.policy, ctx.device))
    atomic_write_text(ctx.run_dir / "history.csv", pd.DataFrame(state.history).to_csv(index=False))
    return row


def finish(ctx: RunContext, state: RunState, seconds: float, cpu_seconds: float, load_before: float | None,
           resumed_at: int = 0) -> Run:
    """Test the checkpoint kept on validation, once; write its validation and test logits (``logits.npz``, part of
    the record: tables are computed from them without the checkpoint), the environment and, last, the metrics.

    The environment records the wall time and this process's CPU time: on the CPU, ``cpu_share`` (CPU time over
    wall time times threads) well below 1 means the cores were shared, and the run's time is not a measurement.
    A run resumed at epoch ``resumed_at`` > 0 records it: its wall and CPU times cover the epochs of this sitting
    only, and the history's per-epoch seconds of the earlier sittings may include time the process was stopped.
    """
    config, run_dir = ctx.config, ctx.run_dir
    recorded = ctx.policy.record_arrays()  # what the policy did over all epochs, before the kept epoch's state
    best = load_checkpoint(run_dir / "best.pt", ctx.device)
    model = state.evaluated
    model.load_state_dict(best["model"])
    ctx.policy.load_state_dict(best.get("policy", {}))
    metrics, logits = {}, {}
    for key, name in (("val", config.val_split), ("test", config.test_split)):
        split = ctx.splits[name]
        # stored in float16 (half the size of a record); the metrics are computed from the stored values, so the
        # record's metrics and every table computed from its logits agree exactly
        out = predict(model, split, ctx.policy, config, ctx.settings, ctx.device).cpu().numpy().astype(np.float16)
        labels = split.labels.cpu().numpy()
        metrics[key] = classification_metrics(labels, out.astype(np.float32).argmax(1))
        logits.update({key: out, f"{key}_labels": labels, f"{key}_ids": np.asarray(split.ids, str)})
    metrics.update(best_epoch=state.best_epoch + 1, epochs=config.epochs)
    save_npz(run_dir / LOGITS_FILE, logits, compressed=True)  # committed with every record: kept small
    if recorded:
        save_npz(run_dir / POLICY_FILE, recorded, compressed=True)
    timing = {"wall_seconds": round(seconds, 2),
              "train_seconds": round(sum(h["train_seconds"] for h in state.history), 2),
              "images_per_s": round(float(np.mean([h["images_per_s"] for h in state.history])), 1),
              "cpu_seconds": round(cpu_seconds, 2), "load_before": load_before, "load_after": load_average()}
    if resumed_at:
        timing["resumed_at_epoch"] = resumed_at
    if ctx.device.type == "cpu":
        timing["cpu_share"] = round(cpu_seconds / max(seconds * torch.get_num_threads(), 1e-9), 3)
    write_json(run_dir / "env.json", environment(ctx.device, ctx.settings, config.model, config.width, **timing))
    write_json(run_dir / "metrics.json", metrics)  # written last: its presence means "finished"
    if ctx.settings.progress_mode() != "off":
        t = metrics["test"]
        print(f"{run_dir.name}: test accuracy {t['accuracy']:.3f}, balanced {t['balanced_accuracy']:.3f}, macro F1 "
              f"{t['macro_f1']:.3f} (best epoch {metrics['best_epoch']}/{config.epochs}, "
              f"{timing['images_per_s']:.0f} img/s, {seconds / 60:.1f} min)", flush=True)
    return Run(run_dir, ctx.study)


def _bar(mode: str, total: int, desc: str):
    if mode != "bar":
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, unit="batch")


def _report_epoch(mode: str, name: str, epoch: int, epochs: int, row: dict) -> None:
    if mode in ("lines", "bar"):
        print(f"{name} epoch {epoch + 1}/{epochs}: loss {row['train_loss']:.3f} train acc {row['train_accuracy']:.3f} "
              f"val acc {row['val_accuracy']:.3f} ({row['images_per_s']:.0f} img/s)", flush=True, file=sys.stdout)


# ------------------------------------------------------------------------------------------ the command line
def _flag_groups():
    """The parameter classes whose fields are this command's flags, in the order ``--help`` shows them."""
    from .params import Compute, Data, Output
    return (("what to train", TrainConfig, ("model", "seed", "policy", "attention")), ("recipe", Recipe, None),
            ("data", Data, None), ("execution", Compute, None), ("output", Output, ("study_dir",)))


def build_parser():
    """The command's parser: one flag per field of :class:`TrainConfig` (the recipe, the model, the seed, the
    policy), of the data and of the execution settings, with their docs and defaults; values are validated by the
    parameter classes themselves."""
    import argparse
    parser = argparse.ArgumentParser(
        prog="python -m perturb_lib.train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one run of the study (or reuse it when its record is finished, or resume it) and write "
                    "its record where the notebooks look for it, so a study reuses it.",
        epilog="examples:\n"
               "  python -m perturb_lib.train --epochs 3                                   # synthetic faces\n"
               "  python -m perturb_lib.train --data-path fer2013.csv --model vgg16 --width 0.25 --epochs 10 "
               "--policy mask --study-dir runs/fer2013-cpu\n"
               "  python -m perturb_lib.train --data-path fer2013.csv --policy '{kind: remove, region: eyes}'\n"
               "a policy is a kind (clean, mask, remove) or a spec in YAML; lists are comma-separated.")
    for title, cls, names in _flag_groups():
        group = parser.add_argument_group(title)
        docs, defaults, types = cls.docs(), cls.defaults(), cls.type_names()
        choices = {f.name: f.metadata.get("choices") for f in fields(cls)}
        for name in names or defaults:
            metavar = "{" + ",".join(map(str, choices[name])) + "}" if choices.get(name) else types.get(name, "spec")
            group.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, metavar=metavar,
                               help=f"{docs[name]} (default: {defaults[name]!r})")
    return parser


def main(argv=None) -> int:
    """``python -m perturb_lib.train``: train one run from flags, with progress on the terminal."""
    import yaml

    from .data.registry import load_dataset
    from .landmarks import landmarks_for
    from .params import Data, Output, ParameterError
    from .policies import make_policy
    args = {k: v for k, v in vars(build_parser().parse_args(argv)).items() if v is not None}
    if "policy" in args:
        spec = yaml.safe_load(args["policy"])
        args["policy"] = spec if isinstance(spec, dict) else {"kind": str(spec)}
    if args.get("data_path") and "dataset" not in args:  # a path to real faces: FER2013, as in the pipeline
        args["dataset"] = "fer2013"
    try:
        config = TrainConfig.from_values({k: v for k, v in args.items() if k in TrainConfig.defaults()},
                                         known=set(args))
        data = Data.from_values({k: v for k, v in args.items() if k in Data.defaults()}, known=set(args))
        settings = Settings.from_values({k: v for k, v in args.items() if k in Settings.defaults()}, known=set(args))
        output = Output.from_values({k: v for k, v in args.items() if k in Output.defaults()}, known=set(args))
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    faces = load_dataset(data.dataset, data.data_path, size=data.size, seed=data.data_seed, cache_dir=data.cache_dir)
    landmarks = None
    if make_policy(config.policy).needs_landmarks():
        landmarks = landmarks_for(faces, data.landmark_source, data.landmark_file, data.cache_dir)
    device = settings.resolved_device()
    print(f"{faces.name}: {len(faces):,} faces; {config.model} x{config.width:g}, {config.epochs} epochs, policy "
          f"{config.policy['kind']}, seed {config.seed}; {device}, {settings.resolved_precision(device)}", flush=True)
    run = train(config, StudyContext.of(faces, output.study_dir, landmarks=landmarks, settings=settings))
    print(f"record: {run.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
