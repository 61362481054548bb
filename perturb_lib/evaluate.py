"""Evaluation: a model's logits on a whole split, through a policy's views and optional ten-crop, and a finished
run tested on another version of its faces (e.g. a clean-trained model on masked faces), stored in its record.

An evaluation is stored as ``evals/<hash of its key>.npz`` beside the run's record, with its key inside
(:func:`evaluation_key`): the test-time policy's spec, the split, the faces and landmarks, the test-time augmentation,
the precision and :data:`EVAL_VERSION`. The key names what was computed, not the code that computed it, so an edit
that changes no output (a comment, a refactor) keeps every stored evaluation; an edit that changes outputs must bump
:data:`EVAL_VERSION`, and the golden test (``tests/test_evaluation_golden.py``) fails until it does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import torch

from .augment import center_crop, ten_crop
from .data.faces import SPLITS, FaceSet
from .execution import Settings, autocast
from .images import normalize
from .io import array_fingerprint, save_npz, stable_hash
from .metrics import classification_metrics
from .params import Recipe
from .policies import InputPolicy, SplitTensors, canonical_spec, make_policy, split_tensors
from .runs import EVALS_DIR, Run, policy_for

#: The version of what an evaluation computes (:func:`predict`, the policies' test-time views, the crops, the input
#: normalisation). Bump it by hand when a change alters evaluation outputs; stored evaluations of another version
#: are then computed again (from a published or kept model) instead of read.
EVAL_VERSION = 1


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


def evaluation_key(spec: dict, split: str, faces: FaceSet, landmarks: np.ndarray | None, tta: str,
                   precision: str) -> dict:
    """What names a stored evaluation: what was done to which faces, and how the logits were read.

    Args:
        spec: the test-time policy's spec (made canonical here).
        split: the split evaluated.
        faces: the dataset the split is taken from.
        landmarks: the landmarks the policy draws from (recorded only for a policy that draws on them).
        tta: the test-time augmentation.
        precision: the arithmetic (``fp32`` or ``bf16``).

    Returns:
        The JSON-able key, with :data:`EVAL_VERSION`.
    """
    policy = make_policy(spec)
    return {"policy": canonical_spec(spec), "split": split, "data": faces.fingerprint(), "faces": faces.selection,
            "landmarks": array_fingerprint(landmarks) if (policy.needs_landmarks() and landmarks is not None) else None,
            "tta": tta, "precision": precision, "eval_version": EVAL_VERSION}


def evaluation_file(key: dict) -> str:
    """The file name of an evaluation in a record's ``evals/``."""
    return f"{stable_hash(key)}.npz"


def read_evaluation(path, key: dict | None = None) -> dict[str, np.ndarray]:
    """A stored evaluation: ``logits`` (N, C), ``labels`` (N,), ``ids`` (N,) and its ``key``; checked against
    ``key`` when given (a file whose key differs is a hash collision or a damaged record, and is refused)."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    stored = json.loads(str(out.pop("key")))
    if key is not None and stored != json.loads(json.dumps(key)):
        raise ValueError(f"{path}: holds the evaluation {stored}, not {key}")
    out["key"] = stored
    return out


def write_evaluation(path, key: dict, logits: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> None:
    """Store an evaluation with its key (atomically)."""
    save_npz(path, {"logits": logits, "labels": labels, "ids": np.asarray(ids, str),
                    "key": np.array(json.dumps(key, sort_keys=True))})


def run_logits(run: Run, faces: FaceSet, *, policy: dict | None = None, split: str | None = None,
               landmarks: np.ndarray | None = None, settings: Settings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a finished run on some version of some split, stored beside its record.

    The run is evaluated in the precision it was trained in. Its own validation and test logits (under its own
    policy) come from its record; any other evaluation from its ``evals/`` (:func:`evaluation_key`), else it is
    computed from the run's model and stored in the study's folder of the run (where a ledger publishes it from).

    Args:
        run: the finished run.
        faces: the dataset.
        policy: the test-time policy spec (default: the run's own).
        split: the split (default: the run's test split).
        landmarks: landmarks for policies that need them (default: ``faces.landmarks``).
        settings: execution settings.

    Returns:
        ``(logits (N, C), labels (N,))``.

    Raises:
        CheckpointMissingError: the evaluation is not stored and the run's model is not here.
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
    lm = landmarks if landmarks is not None else faces.landmarks
    key = evaluation_key(spec, split, faces, lm, recipe.tta, settings.precision)
    name = evaluation_file(key)
    stored = run.evaluation(name)
    if stored is not None:
        found = read_evaluation(stored, key)
        return found["logits"], found["labels"]
    device = settings.resolved_device()
    model_state, policy_state = run.states(str(device))  # read once: the model and the policy's state
    pol = policy_for(spec, run.study, device)
    data = split_tensors(faces, split, device, landmarks)
    pol.prepare(data)
    pol.load_state_dict(policy_state if policy is None else {})
    model = run.model(device=str(device), state=model_state)
    if settings.use_channels_last(device, run.config["model"], run.config["width"]):
        model = model.to(memory_format=torch.channels_last)
    logits = predict(model, data, pol, recipe, settings, device).cpu().numpy()
    labels = data.labels.cpu().numpy()
    write_evaluation(run.writable_work() / EVALS_DIR / name, key, logits, labels, data.ids)
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


def ensemble_logits(logits: list[np.ndarray]) -> np.ndarray:
    """An ensemble's logits: the sum of its models' logits on the same faces (the authors' code's rule; each
    array ``(..., N, C)``, e.g. one per seed)."""
    return np.sum(np.stack(logits), 0)


def ensemble(parts: list["Predictions"]) -> "Predictions":
    """An ensemble's predictions: its models' logits summed (:func:`ensemble_logits`) on the faces they share."""
    if len(parts) == 1:
        return parts[0]
    labels, stacked = Predictions.stack_logits(parts)
    common = set(parts[0].ids).intersection(*(p.ids for p in parts[1:]))
    ids = np.asarray([i for i in parts[0].ids if i in common])
    return Predictions(ids, labels, ensemble_logits(list(stacked)))


def run_predictions(run: Run, faces: FaceSet, *, policy: dict | None = None, split: str | None = None,
                    landmarks: np.ndarray | None = None, settings: Settings | None = None) -> Predictions:
    """A finished run's predictions on some version of some split (arguments as :func:`run_logits`)."""
    split = split or run_recipe(run).test_split
    logits, labels = run_logits(run, faces, policy=policy, split=split, landmarks=landmarks, settings=settings)
    return Predictions(faces.ids[faces.splits == SPLITS.index(split)], labels, logits)
