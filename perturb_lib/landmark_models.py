"""Landmark explainability (the second seed paper, Di Luzio, Rosato & Panella 2024): one fast binary classifier
per emotion on facial-landmark coordinates, landmarks ranked by Integrated Gradients computed over the whole
dataset, and landmarks removed progressively while accuracy holds.

* :func:`landmark_features` - coordinates normalised for position, scale and roll, and their displacement from
  the same identity's neutral face where it is known (synthetic faces know it; the seed paper used movement
  in video).
* :class:`MLPClassifier` (backpropagation) and :class:`RandomizedNet` (fixed random hidden layers, readout
  solved in closed form by ridge regression) - the two model families compared for accuracy and speed.
* :func:`dataset_ig` - Captum's Integrated Gradients averaged over a dataset, with baselines from ``k``
  typical negative samples (medoids), per-landmark aggregation of the x/y attributions; a zero baseline and
  grouped feature ablation for comparison.
* :func:`progressive_reduction` - drop the least relevant landmarks in steps, retrain, record accuracy, F1,
  parameters and inference time, and pick the smallest set within a tolerance of the best validation score.

The experiment that runs all of this per emotion is :func:`perturb_lib.experiments.landmarks.explain_emotions`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .data.faces import EMOTIONS, SPLITS, FaceSet
from .landmarks.layout import IBUG68, Layout, layout_of

FEATURE_SETS = ("coords", "displacement", "both")


# ------------------------------------------------------------------------------------------ features
def normalise_shape(landmarks: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Remove position, scale and roll: centre on the mean point, divide by the RMS radius, level the eyes.

    Args:
        landmarks: (N, K, 2), K = 68 or 468.
        reference: (N, 68, 2) whose transform is applied instead (so a neutral face and its expression
            share one frame); default: each face's own.
    """
    ref = landmarks if reference is None else reference
    layout = layout_of(ref)
    centre = ref.mean(1, keepdims=True)
    scale = np.sqrt(((ref - centre) ** 2).sum(-1).mean(1))[:, None, None]
    eyes = ref[:, list(layout.left_eye)].mean(1) - ref[:, list(layout.right_eye)].mean(1)
    angle = np.arctan2(eyes[:, 1], eyes[:, 0])
    cos, sin = np.cos(-angle)[:, None], np.sin(-angle)[:, None]
    p = (landmarks - centre) / scale
    return np.stack([cos * p[..., 0] - sin * p[..., 1], sin * p[..., 0] + cos * p[..., 1]], -1)


def landmark_features(faces: FaceSet, landmarks: np.ndarray, features: str = "coords") -> np.ndarray:
    """Per-face features, landmark-major: (N, 68, F) with F = 2 (coords or displacement) or 4 (both).

    ``displacement`` needs ``faces.extras['neutral_landmarks']`` (synthetic faces).
    """
    if features not in FEATURE_SETS:
        raise ValueError(f"features must be one of {', '.join(FEATURE_SETS)}, got {features!r}")
    coords = normalise_shape(landmarks)
    if features == "coords":
        return coords.astype(np.float32)
    if "neutral_landmarks" not in faces.extras:
        raise ValueError(f"features={features!r} needs each identity's neutral face; {faces.name} has none "
                         "(use features='coords')")
    neutral = faces.extras["neutral_landmarks"]
    disp = normalise_shape(landmarks, neutral) - normalise_shape(neutral, neutral)
    if features == "displacement":
        return disp.astype(np.float32)
    return np.concatenate([coords, disp], -1).astype(np.float32)


def binary_task(labels: np.ndarray, emotion: int, task: str = "rest") -> tuple[np.ndarray, np.ndarray]:
    """Which faces take part and their binary targets: ``emotion`` vs the rest, or vs ``Neutral`` only."""
    if task == "rest":
        return np.ones(len(labels), dtype=bool), (labels == emotion).astype(np.float32)
    if task == "neutral":
        keep = (labels == emotion) | (labels == EMOTIONS.index("Neutral"))
        return keep, (labels[keep] == emotion).astype(np.float32)
    raise ValueError(f"task must be 'rest' or 'neutral', got {task!r}")


# ------------------------------------------------------------------------------------------- models
class MLPClassifier(nn.Module):
    """A small MLP (standardised inputs -> hidden -> hidden -> 1 logit), trained by backpropagation."""

    def __init__(self, d: int, hidden: int = 64):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)[:, 0]

    def fit(self, x: torch.Tensor, y: torch.Tensor, epochs: int = 60, lr: float = 1e-3, batch: int = 256,
            seed: int = 0) -> "MLPClassifier":
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))
        pos = y.sum().clamp_min(1)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=(len(y) - pos) / pos)  # rare emotions weigh as much
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        self.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=g)
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                opt.zero_grad()
                loss_fn(self(x[idx]), y[idx]).backward()
                opt.step()
        return self.eval()


class RandomizedNet(nn.Module):
    """A deep randomised network: fixed random tanh layers, inputs and every hidden layer concatenated
    (direct links), and a linear readout solved in closed form by ridge regression on +-1 targets.

    Args:
        d: input features.
        hidden: widths of the fixed random layers.
        ridge: L2 penalty of the readout.
        seed: seed of the random weights.
    """

    def __init__(self, d: int, hidden=(512, 512), ridge: float = 1e-2, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        layers, fan_in = [], d
        for h in hidden:
            lin = nn.Linear(fan_in, h)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(h, fan_in, generator=g) / np.sqrt(fan_in))
                lin.bias.copy_(torch.randn(h, generator=g) * 0.1)
            lin.requires_grad_(False)
            layers.append(lin)
            fan_in = h
        self.layers = nn.ModuleList(layers)
        self.readout = nn.Linear(d + sum(hidden), 1)
        self.ridge = ridge

    def hidden_features(self, x: torch.Tensor) -> torch.Tensor:
        h = (x - self.mean) / self.std
        feats = [h]
        for lin in self.layers:
            h = torch.tanh(lin(h))
            feats.append(h)
        return torch.cat(feats, 1)

    def forward(self, x):
        return self.readout(self.hidden_features(x))[:, 0]

    def fit(self, x: torch.Tensor, y: torch.Tensor, **_) -> "RandomizedNet":
        """Solve the readout: (H^T W H + ridge I) beta = H^T W t with class-balancing weights W."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))
        with torch.no_grad():
            beta = ridge_readout(self.hidden_features(x), y, self.ridge)
            self.readout.weight.copy_(beta[:-1][None])
            self.readout.bias.copy_(beta[-1:])
        return self.eval()


def ridge_readout(h: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    """Closed-form weighted ridge regression of +-1 targets on [h, 1]; each class weighs half in total."""
    h1 = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1).double()
    t = (2 * y - 1).double()
    pos = y.sum().clamp_min(1)
    w = torch.where(y > 0.5, 0.5 / pos, 0.5 / (len(y) - pos).clamp_min(1)).double() * len(y)
    a = h1.T @ (h1 * w[:, None]) + ridge * torch.eye(h1.shape[1], dtype=torch.float64)
    return torch.linalg.solve(a, h1.T @ (w * t)).float()


MODEL_FAMILIES = {"mlp": MLPClassifier, "random": RandomizedNet}


def make_model(family: str, d: int, hidden: int = 64, random_hidden=(512, 512), ridge: float = 1e-2,
               seed: int = 0) -> nn.Module:
    if family == "mlp":
        return MLPClassifier(d, hidden)
    if family == "random":
        return RandomizedNet(d, tuple(random_hidden), ridge, seed)
    raise ValueError(f"unknown landmark model family {family!r}; choose from {', '.join(MODEL_FAMILIES)}")


# ------------------------------------------------------------------------------------------ metrics
def binary_metrics(y: np.ndarray, logits: np.ndarray) -> dict:
    pred = logits > 0
    y = y > 0.5
    tp, tn = (pred & y).sum(), (~pred & ~y).sum()
    fp, fn = (pred & ~y).sum(), (~pred & y).sum()
    tpr = tp / max(tp + fn, 1)
    tnr = tn / max(tn + fp, 1)
    return {"accuracy": float((tp + tn) / len(y)), "balanced_accuracy": float((tpr + tnr) / 2),
            "f1": float(2 * tp / max(2 * tp + fp + fn, 1))}


def inference_microseconds(model: nn.Module, x: torch.Tensor, repeats: int = 20) -> float:
    """Mean wall time per face of a batched forward pass."""
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return (time.perf_counter() - t0) / repeats / len(x) * 1e6


# --------------------------------------------------------------------------------- attributions
def medoid_baselines(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``k`` typical samples: the real samples nearest to the centres of scikit-learn's k-means on ``x``."""
    from sklearn.cluster import KMeans
    k = min(k, len(x))
    centers = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x).cluster_centers_
    nearest = ((centers[:, None] - x[None]) ** 2).sum(-1).argmin(1)
    return x[nearest]


def per_landmark(attr: np.ndarray, n_landmarks: int = 68) -> np.ndarray:
    """Sum the attributions of each landmark's features (x, y, and displacement x, y): (N, D) -> (N, L)."""
    return attr.reshape(len(attr), n_landmarks, -1).sum(-1)


def summed_gradients(forward_fn, inputs: tuple[torch.Tensor, ...], target_ind=None,
                     additional_forward_args=None) -> tuple[torch.Tensor, ...]:
    """Captum's ``gradient_func`` for one-logit models whose rows do not interact: one backward pass of the sum.

    Captum's own ``compute_gradients`` back-propagates every output on its own (``torch.unbind``: one autograd
    root per face and integration step, about 4,000 a call), which was 40 % of notebook 04's time. A row of
    these models depends on its own input only (no batch statistics once fitted), so the gradient of the sum
    is each row's gradient, in one pass.
    """
    if target_ind is not None:
        raise ValueError("summed_gradients is for one-logit models: Captum must be called without a target")
    args = () if additional_forward_args is None else tuple(additional_forward_args)
    with torch.enable_grad():
        return torch.autograd.grad(forward_fn(*inputs, *args).sum(), inputs)


def dataset_ig(model: nn.Module, x: np.ndarray, baselines: np.ndarray, n_landmarks: int, steps: int = 32) -> dict:
    """Integrated Gradients over a whole dataset, averaged over several baselines.

    Args:
        model: a binary classifier (one logit).
        x: (N, D) inputs to explain (e.g. the positive class).
        baselines: (K, D) reference inputs (typical negatives, or a single zero row).
        n_landmarks: landmarks the D features belong to (landmark-major order).
        steps: integration steps.

    Returns:
        ``per_sample`` (N, L) landmark attributions averaged over baselines, ``relevance`` (L,) their mean
        absolute value over the dataset, ``signed`` (L,) their signed mean, ``delta`` (N,) the completeness gap
        ``sum(attributions) - (f(x) - mean_b f(b))``.
    """
    from captum.attr import IntegratedGradients
    ig = IntegratedGradients(model)
    ig.gradient_func = summed_gradients
    xt = torch.as_tensor(x, dtype=torch.float32)
    total = torch.zeros_like(xt)
    for b in baselines:
        bt = torch.as_tensor(b, dtype=torch.float32)[None].expand_as(xt)
        # Captum needs at least one row per example in each internal batch (it warns and uses len(xt) otherwise)
        total += ig.attribute(xt, baselines=bt, n_steps=steps, method="gausslegendre",
                              internal_batch_size=max(4096, len(xt)))
    attr = (total / len(baselines)).detach().numpy()
    with torch.no_grad():
        gap = model(xt).numpy() - model(torch.as_tensor(baselines, dtype=torch.float32)).mean().item()
    lm = per_landmark(attr, n_landmarks)
    return {"per_sample": lm, "relevance": np.abs(lm).mean(0), "signed": lm.mean(0), "delta": attr.sum(1) - gap}


def ablation_relevance(model: nn.Module, x: np.ndarray, baseline: np.ndarray, n_landmarks: int) -> np.ndarray:
    """Captum's grouped feature ablation: each landmark's features replaced together by the baseline's."""
    from captum.attr import FeatureAblation
    d = x.shape[1]
    mask = torch.arange(n_landmarks).repeat_interleave(d // n_landmarks)[None]
    out = FeatureAblation(model).attribute(torch.as_tensor(x, dtype=torch.float32),
                                           baselines=torch.as_tensor(baseline, dtype=torch.float32)[None],
                                           feature_mask=mask, perturbations_per_eval=8)
    per_group = out.detach().numpy().reshape(len(x), n_landmarks, -1)[:, :, 0]  # every feature of a group is equal
    return np.abs(per_group).mean(0)


# ------------------------------------------------------------------------------------- reduction
@dataclass
class EmotionData:
    """The binary problem of one emotion: features (N, L, F) and targets per split."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]


def emotion_data(features: np.ndarray, faces: FaceSet, emotion: int, task: str = "rest") -> EmotionData:
    x, y = {}, {}
    for i, split in enumerate(SPLITS):
        sel = faces.splits == i
        keep, target = binary_task(faces.labels[sel], emotion, task)
        x[split], y[split] = features[sel][keep], target
    return EmotionData(x, y)


def test_logits(model: nn.Module, data: EmotionData, keep: np.ndarray, split: str) -> np.ndarray:
    """(N,) the model's logits on a split's faces, from the kept landmarks."""
    x = torch.as_tensor(data.x[split][:, keep].reshape(len(data.x[split]), -1))
    with torch.no_grad():
        return model(x).numpy()


def fit_and_score(family: str, data: EmotionData, keep: np.ndarray, val_split: str, test_split: str,
                  seed: int = 0, **model_kw) -> tuple[nn.Module, dict]:
    """Train one family on the kept landmarks; validation and test metrics, size and speed."""
    flat = lambda s: torch.as_tensor(data.x[s][:, keep].reshape(len(data.x[s]), -1))  # noqa: E731
    xtr, ytr = flat("Training"), torch.as_tensor(data.y["Training"])
    epochs = model_kw.pop("epochs", 60)
    model = make_model(family, xtr.shape[1], seed=seed, **model_kw)
    t0 = time.perf_counter()
    model.fit(xtr, ytr, epochs=epochs, seed=seed)
    train_seconds = time.perf_counter() - t0
    out = {"landmarks": int(len(keep)), "train_seconds": train_seconds,
           "parameters": int(sum(p.numel() for p in model.parameters())),
           "inference_us": inference_microseconds(model, flat(test_split))}
    with torch.no_grad():
        for split, name in ((val_split, "val"), (test_split, "test")):
            m = binary_metrics(data.y[split], model(flat(split)).numpy())
            out.update({f"{name}_{k}": v for k, v in m.items()})
    return model, out


def progressive_reduction(family: str, data: EmotionData, ranking: np.ndarray, step: int, splits: tuple[str, str],
                          tolerance: float = 0.01, min_landmarks: int = 4, seed: int = 0,
                          **model_kw) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Drop the least relevant landmarks ``step`` at a time, retrain, and pick the smallest good set.

    Args:
        family: ``mlp`` or ``random``.
        data: the emotion's binary problem.
        ranking: landmark indices, most relevant first (the order is kept: a set is always a prefix).
        step: landmarks dropped per step.
        splits: ``(validation split, test split)``.
        tolerance: the chosen set is the smallest whose validation balanced accuracy is within this of the
            best one seen (the test split plays no part in the choice).
        min_landmarks: the smallest set tried.

    Returns:
        The table of steps (``landmarks``, validation/test metrics, ``parameters``, ``inference_us``,
        ``chosen``), the chosen landmark indices, and the chosen set's model's test logits (N,).
    """
    sizes = list(range(len(ranking), min_landmarks - 1, -step))
    if sizes[-1] != min_landmarks and min_landmarks < len(ranking):
        sizes.append(min_landmarks)
    rows, logits = [], {}
    for k in sizes:
        model, row = fit_and_score(family, data, np.asarray(ranking[:k]), *splits, seed, **dict(model_kw))
        rows.append(row)
        logits[k] = test_logits(model, data, np.asarray(ranking[:k]), splits[1])
    table = pd.DataFrame(rows)
    best = table["val_balanced_accuracy"].max()
    ok = table[table["val_balanced_accuracy"] >= best - tolerance]
    chosen_k = int(ok["landmarks"].min())
    table["chosen"] = table["landmarks"] == chosen_k
    return table, np.asarray(ranking[:chosen_k]), logits[chosen_k]


def region_agreement(kept: np.ndarray, defining: tuple[str, ...], layout: Layout = IBUG68) -> dict:
    """Share of kept landmarks inside the emotion's defining regions, against all landmarks' share (chance)."""
    region = layout.region_of_point()
    inside = np.isin(region[kept], list(defining))
    chance = float(np.isin(region, list(defining)).mean())
    share = float(inside.mean()) if len(kept) else float("nan")
    return {"kept": int(len(kept)), "share_in_defining": share, "chance": chance,
            "lift": share / chance if chance else float("nan")}
