"""Evaluation: a model's logits on a whole split, through a policy's views and optional ten-crop, and a finished
run tested on another version of its faces (e.g. a clean-trained model on masked faces), with cached logits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .augment import center_crop, ten_crop
from .data.faces import SPLITS, FaceSet
from .execution import Settings, autocast
from .images import normalize
from .io import array_fingerprint, save_npz, stable_hash
from .metrics import classification_metrics
from .params import Recipe
from .policies import InputPolicy, SplitTensors, split_tensors
from .runs import Run, policy_for


@torch.no_grad()
def predict(model, split: SplitTensors, policy: InputPolicy, recipe: Recipe, settings: Settings,
            device: torch.device) -> torch.Tensor:
    """Logits (N, C) for every face of a split.

    Args:
        model: the classifier (put in eval mode here).
        split: the faces on the device.
        policy: what is done to them (its views, and how their logits combine).
        recipe: the run's recipe (``tta``, ``input_size``, ``pad``).
        settings: batch size, precision and memory format.
        device: where the model is.

    Returns:
        (N, C) float logits.
    """
    model.eval()
    amp, channels_last = settings.use_amp(device), settings.use_channels_last(device)
    out = []
    for start in range(0, len(split), settings.eval_batch_size):
        idx = torch.arange(start, min(start + settings.eval_batch_size, len(split)), device=device)
        x = policy.eval_views(split.batch(idx), split, idx)
        views = ten_crop(x, recipe.input_size, recipe.pad) if recipe.tta == "tencrop" else center_crop(x, recipe.input_size)
        views = normalize(views)
        if channels_last:
            views = views.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = model(views).float()
        if recipe.tta == "tencrop":
            logits = logits.reshape(10, -1, logits.shape[-1]).mean(0)
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
    settings = settings or Settings()
    recipe = run_recipe(run)
    spec = policy if policy is not None else run.config["policy"]
    split = split or recipe.test_split
    device = settings.resolved_device()
    study_dir = run.dir.parent.parent
    pol = policy_for(spec, study_dir, device)
    lm = landmarks if landmarks is not None else faces.landmarks
    key = {"policy": pol.spec(), "split": split, "data": faces.fingerprint(), "tta": recipe.tta,
           "landmarks": array_fingerprint(lm) if (pol.needs_landmarks() and lm is not None) else None}
    path = run.dir / "evals" / f"{stable_hash(key)}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return cached["logits"], cached["labels"]
    data = split_tensors(faces, split, device, landmarks)
    pol.prepare(data)
    best = run.checkpoint("best", device=str(device))  # read once: the model and the policy's state
    pol.load_state_dict(best.get("policy", {}) if policy is None else {})
    logits = predict(run.model(device=str(device), state=best), data, pol, recipe, settings, device).cpu().numpy()
    labels = data.labels.cpu().numpy()
    save_npz(path, {"logits": logits, "labels": labels})
    return logits, labels


@dataclass
class Predictions:
    """A run's predicted classes on the faces of one split, by id.

    Attributes:
        ids: (N,) the faces' ids.
        labels: (N,) their true classes.
        preds: (N,) the predicted classes.
    """

    ids: np.ndarray
    labels: np.ndarray
    preds: np.ndarray

    @classmethod
    def stack(cls, runs: list["Predictions"]) -> tuple[np.ndarray, np.ndarray]:
        """Several runs' predictions on the faces they share, aligned by id: ``(labels (N,), preds (R, N))``."""
        common = set(runs[0].ids).intersection(*(r.ids for r in runs[1:]))
        order = [i for i in runs[0].ids if i in common]
        rows = []
        for r in runs:
            where = {k: j for j, k in enumerate(r.ids)}
            rows.append(r.preds[[where[i] for i in order]])
        first = {k: j for j, k in enumerate(runs[0].ids)}
        return runs[0].labels[[first[i] for i in order]], np.stack(rows)


def run_predictions(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
                    landmarks: np.ndarray | None = None, settings: Settings | None = None) -> Predictions:
    """A finished run's predictions on some version of some split (arguments as :func:`run_logits`)."""
    split = split or run_recipe(run).test_split
    logits, labels = run_logits(run, faces, policy, split, landmarks, settings)
    return Predictions(faces.ids[faces.splits == SPLITS.index(split)], labels, logits.argmax(1))


def evaluate_run(run: Run, faces: FaceSet, policy: dict | None = None, split: str | None = None,
                 landmarks: np.ndarray | None = None, settings: Settings | None = None) -> dict:
    """Metrics of a finished run on some version of some split (arguments as :func:`run_logits`)."""
    logits, labels = run_logits(run, faces, policy, split, landmarks, settings)
    return classification_metrics(labels, logits.argmax(1))
