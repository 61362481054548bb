"""Evaluation: a model's logits on a whole split, through a policy's views and optional ten-crop, and a finished
run tested on another version of its faces (e.g. a clean-trained model on masked faces), with cached logits.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from . import augment, images, models
from .augment import center_crop, ten_crop
from .data.faces import SPLITS, FaceSet
from .execution import Settings, autocast
from .images import normalize
from .io import array_fingerprint, code_fingerprint, save_npz, stable_hash
from .metrics import classification_metrics
from .params import Recipe
from .policies import InputPolicy, SplitTensors, split_tensors
from .runs import Run, policy_for


def is_channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's convolutions are in channels-last memory format (its inputs should be too)."""
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1:  # a 1-channel kernel is contiguous either way
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False


@torch.no_grad()
def predict(model, split: SplitTensors, policy: InputPolicy, recipe: Recipe, settings: Settings,
            device: torch.device) -> torch.Tensor:
    """Logits (N, C) for every face of a split.

    Args:
        model: the classifier (put in eval mode here).
        split: the faces on the device.
        policy: what is done to them (its views, and how their logits combine).
        recipe: the run's recipe (``tta``: none, flip or tencrop; ``input_size``, ``pad``).
        settings: batch size and precision (the memory format follows the model's).
        device: where the model is.

    Returns:
        (N, C) float logits; with test-time augmentation the mean over the views.
    """
    model.eval()
    amp, channels_last = settings.use_amp(device), is_channels_last(model)
    out = []
    for start in range(0, len(split), settings.eval_batch_size):
        idx = torch.arange(start, min(start + settings.eval_batch_size, len(split)), device=device)
        x = policy.eval_views(split.batch(idx), split, idx)
        if recipe.tta == "tencrop":
            views = ten_crop(x, recipe.input_size, recipe.pad)
        else:
            views = center_crop(x, recipe.input_size)
            if recipe.tta == "flip":  # the cheap form of ten-crop: the face and its mirror
                views = torch.cat([views, views.flip(-1)])
        views = normalize(views)
        if channels_last:
            views = views.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = model(views).float()
        n_views = {"tencrop": 10, "flip": 2}.get(recipe.tta, 1)
        if n_views > 1:
            logits = logits.reshape(n_views, -1, logits.shape[-1]).mean(0)
        out.append(policy.combine(logits))
    return torch.cat(out)


def evaluate(model, split: SplitTensors, policy: InputPolicy, recipe: Recipe, settings: Settings,
             device: torch.device) -> dict:
    """Metrics of the model on a whole split (arguments as :func:`predict`; see
    :func:`perturb_lib.metrics.classification_metrics`)."""
    logits = predict(model, split, policy, recipe, settings, device)
    return classification_metrics(split.labels.cpu().numpy(), logits.argmax(1).cpu().numpy())


def run_recipe(run: Run) -> Recipe:
    """The recipe a finished run was trained with."""
    names = set(Recipe.defaults())
    return Recipe(**{k: v for k, v in run.config.items() if k in names})


def run_logits(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
               landmarks: np.ndarray | None = None, settings: Settings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a finished run on some version of some split, cached in ``<run>/evals/``.

    The run is evaluated in the precision it was trained in. The cache is keyed by what made the logits: the
    policy, the split, the faces and landmarks, the recipe's test-time augmentation, the precision, and the code
    of :func:`predict`, of the policy, of the augmentation and of the models.

    Args:
        run: the finished run.
        faces: the dataset.
        policy: the test-time policy spec (default: the run's own).
        split: the split (default: the run's test split).
        landmarks: landmarks for policies that need them (default: ``faces.landmarks``).
        settings: execution settings.

    Returns:
        ``(logits (N, C), labels (N,))``.
    """
    settings = replace(settings or Settings(), precision=run.config.get("precision", "fp32"))
    recipe = run_recipe(run)
    spec = policy if policy is not None else run.config["policy"]
    split = split or recipe.test_split
    own = {recipe.val_split: "val", recipe.test_split: "test"}.get(split)
    if policy is None and own and run.logits(own) is not None:  # the record's own logits: no checkpoint needed
        expected = faces.ids[faces.splits == SPLITS.index(split)]
        logits, labels, ids = run.logits(own)
        if np.array_equal(ids, np.asarray(expected, str)):
            return logits, labels
    device = settings.resolved_device()
    study_dir = run.dir.parent.parent
    pol = policy_for(spec, study_dir, device)
    lm = landmarks if landmarks is not None else faces.landmarks
    key = {"policy": pol.spec(), "split": split, "data": faces.fingerprint(), "tta": recipe.tta,
           "landmarks": array_fingerprint(lm) if (pol.needs_landmarks() and lm is not None) else None,
           "precision": settings.precision, "code": code_fingerprint(predict, type(pol), augment, images, models)}
    path = run.dir / "evals" / f"{stable_hash(key)}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return cached["logits"], cached["labels"]
    data = split_tensors(faces, split, device, landmarks)
    pol.prepare(data)
    best = run.checkpoint("best", device=str(device))  # read once: the model and the policy's state
    pol.load_state_dict(best.get("policy", {}) if policy is None else {})
    model = run.model(device=str(device), state=best)
    if settings.use_channels_last(device, run.config["model"], run.config["width"]):
        model = model.to(memory_format=torch.channels_last)
    logits = predict(model, data, pol, recipe, settings, device).cpu().numpy()
    labels = data.labels.cpu().numpy()
    save_npz(path, {"logits": logits, "labels": labels})
    return logits, labels


@dataclass
class Predictions:
    """A run's (or an ensemble's) logits on the faces of one split, by id.

    Attributes:
        ids: (N,) the faces' ids.
        labels: (N,) their true classes.
        logits: (N, C) the logits (an ensemble's: summed over its models).
    """

    ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray

    @property
    def preds(self) -> np.ndarray:
        """(N,) the predicted classes."""
        return self.logits.argmax(1)

    @classmethod
    def stack_logits(cls, runs: list["Predictions"]) -> tuple[np.ndarray, np.ndarray]:
        """Several runs' logits on the faces they share, aligned by id: ``(labels (N,), logits (R, N, C))``."""
        common = set(runs[0].ids).intersection(*(r.ids for r in runs[1:]))
        order = [i for i in runs[0].ids if i in common]
        rows = []
        for r in runs:
            where = {k: j for j, k in enumerate(r.ids)}
            rows.append(r.logits[[where[i] for i in order]])
        first = {k: j for j, k in enumerate(runs[0].ids)}
        return runs[0].labels[[first[i] for i in order]], np.stack(rows)

    @classmethod
    def stack(cls, runs: list["Predictions"]) -> tuple[np.ndarray, np.ndarray]:
        """Several runs' predicted classes on the faces they share, aligned by id: ``(labels (N,), preds (R, N))``."""
        labels, logits = cls.stack_logits(runs)
        return labels, logits.argmax(-1)


def run_predictions(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
                    landmarks: np.ndarray | None = None, settings: Settings | None = None) -> Predictions:
    """A finished run's predictions on some version of some split (arguments as :func:`run_logits`)."""
    split = split or run_recipe(run).test_split
    logits, labels = run_logits(run, faces, policy, split, landmarks, settings)
    return Predictions(faces.ids[faces.splits == SPLITS.index(split)], labels, logits)
