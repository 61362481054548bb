"""Saliency with Captum for any trained run, and checks that the maps mean something.

* :func:`attribute` - per-image maps (B, 48, 48) from Saliency, Integrated Gradients, SmoothGrad, Grad-CAM,
  Guided Grad-CAM or Occlusion, batched, on CPU or GPU, for the true or the predicted class.
* :func:`emotion_mean_maps` - per-emotion means of per-image-normalised absolute maps.
* :func:`region_shares` - the share of absolute attribution in each landmark region (rest, brows, eyes,
  nose, mouth), with each region's share of the area for reference.
* :func:`randomization_check` - model-parameter randomisation (Adebayo et al. 2018): rank correlation of a
  trained model's maps with those of the same model after its weights are re-initialised, layer by layer.
* :func:`deletion_insertion` - accuracy as the most-attributed pixels are removed (or inserted) first,
  against the same number of random pixels.
* :func:`ground_truth_scores` - on synthetic faces, the share of attribution that lands in the regions that
  define each emotion by construction, against their share of the area.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from .data.faces import EMOTIONS
from .images import normalize
from .landmarks.regions import MAP_REGIONS, region_map

METHODS = {
    "saliency": "Saliency (gradient magnitude)",
    "integrated_gradients": "Integrated Gradients (black baseline, 32 steps)",
    "smoothgrad": "SmoothGrad (NoiseTunnel over Saliency, 16 samples)",
    "gradcam": "Grad-CAM on the last conv layer with >= 6x6 output, upsampled",
    "guided_gradcam": "Guided Grad-CAM (guided backprop x Grad-CAM)",
    "occlusion": "Occlusion (6x6 grey patches, stride 3)",
}


def default_layer(model: nn.Module, size: int = 48) -> nn.Module:
    """The last convolution of the feature path whose output is still at least 6x6 (Grad-CAM needs some
    resolution); convolutions inside attention gates and masking heads are skipped."""
    from .models import MaskingBlock, SpatialGate
    skip = {id(m) for g in model.modules() if isinstance(g, (SpatialGate, MaskingBlock)) for m in g.modules()}
    sizes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o: sizes.__setitem__(mod, o.shape[-1]))
             for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in skip]
    try:
        with torch.no_grad():
            was = model.training
            model.eval()
            model(torch.zeros(1, 1, size, size, device=next(model.parameters()).device))
            model.train(was)
    finally:
        for h in hooks:
            h.remove()
    ok = [m for m, s in sizes.items() if s >= 6]
    return (ok or list(sizes))[-1]


def _attributor(model: nn.Module, method: str, layer: nn.Module | None):
    from captum import attr
    if method == "saliency":
        return lambda x, t: attr.Saliency(model).attribute(x, target=t, abs=True)
    if method == "integrated_gradients":
        return lambda x, t: attr.IntegratedGradients(model).attribute(x, baselines=normalize(torch.zeros_like(x)),
                                                                      target=t, n_steps=32, internal_batch_size=256)
    if method == "smoothgrad":
        return lambda x, t: attr.NoiseTunnel(attr.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=16, stdevs=0.4, target=t, abs=True)
    if method == "gradcam":
        gc = attr.LayerGradCam(model, layer)
        return lambda x, t: attr.LayerAttribution.interpolate(gc.attribute(x, target=t, relu_attributions=True),
                                                              x.shape[-2:], interpolate_mode="bilinear")
    if method == "guided_gradcam":
        return lambda x, t: attr.GuidedGradCam(model, layer).attribute(x, target=t)
    if method == "occlusion":
        return lambda x, t: attr.Occlusion(model).attribute(x, target=t, sliding_window_shapes=(1, 6, 6),
                                                            strides=(1, 3, 3), baselines=0.0,
                                                            perturbations_per_eval=max(1, 1024 // len(x)))
    raise ValueError(f"unknown saliency method {method!r}; choose from {', '.join(METHODS)}")


def attribute(model: nn.Module, images: np.ndarray | torch.Tensor, targets, method: str = "saliency",
              layer: nn.Module | None = None, batch_size: int = 64, device: str | torch.device = "cpu") -> np.ndarray:
    """Attribution maps for a batch of faces.

    Args:
        model: a trained classifier (put in eval mode here).
        images: (B, 48, 48) uint8 faces, or (B, 1, 48, 48) float in [0, 1].
        targets: (B,) class ids to explain (true labels or the model's predictions).
        method: one of :data:`METHODS`.
        layer: the layer for Grad-CAM methods (default: :func:`default_layer`).
        batch_size: faces per Captum call.
        device: where to compute.

    Returns:
        (B, 48, 48) float32 maps (signed for Integrated Gradients and Grad-CAM variants).
    """
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose from {', '.join(METHODS)}")
    model = model.to(device).eval()
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.dtype == torch.uint8:
        x = x.float() / 255
    if x.dim() == 3:
        x = x[:, None]
    t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if method in ("gradcam", "guided_gradcam") and layer is None:
        layer = default_layer(model)
    fn = _attributor(model, method, layer)
    out = []
    with warnings.catch_warnings():  # Captum announces its temporary ReLU hooks on every call
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        for s in range(0, len(x), batch_size):
            xb = normalize(x[s:s + batch_size].to(device)).requires_grad_(True)
            out.append(fn(xb, t[s:s + batch_size].to(device)).detach().float().sum(1).cpu())
    return torch.cat(out).numpy()


def predict_classes(model: nn.Module, images: np.ndarray, device="cpu", batch_size: int = 512) -> np.ndarray:
    """The model's predicted class for (B, 48, 48) uint8 faces."""
    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.as_tensor(images[s:s + batch_size]).float().div(255)[:, None].to(device)
            out.append(model(normalize(x)).argmax(1).cpu())
    return torch.cat(out).numpy()


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Absolute maps scaled to sum to 1 per image (so every face weighs the same in a mean)."""
    a = np.abs(maps)
    return a / np.maximum(a.sum(axis=(1, 2), keepdims=True), 1e-12)


def emotion_mean_maps(maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(7, 48, 48) mean of normalised absolute maps per emotion (zeros for emotions without images)."""
    norm = normalise_maps(maps)
    return np.stack([norm[labels == c].mean(0) if (labels == c).any() else np.zeros(maps.shape[1:])
                     for c in range(len(EMOTIONS))])


def _shares(norm: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """Mean share of (normalised) attribution inside a per-image pixel set, and the set's mean share of the area."""
    return float((norm * inside).sum(axis=(1, 2)).mean()), float(inside.mean(axis=(1, 2)).mean())


def region_shares(maps: np.ndarray, landmarks: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Share of absolute attribution per region (rest, brows, eyes, nose, mouth), per emotion.

    Args:
        maps: (B, 48, 48) attribution maps.
        landmarks: (B, K, 2) the faces' landmarks (the regions are drawn from them).
        labels: (B,) emotions.

    Returns:
        A long DataFrame: ``emotion``, ``region``, ``attribution`` (mean share; the shares of one image sum to
        1), ``area`` (mean share of the region in the image), ``ratio`` (attribution / area).
    """
    norm = normalise_maps(maps)
    rmap = region_map(landmarks)
    rows = []
    for c, emo in enumerate(EMOTIONS):
        sel = labels == c
        if not sel.any():
            continue
        for k, region in enumerate(MAP_REGIONS):
            share, area = _shares(norm[sel], rmap[sel] == k)
            rows.append({"emotion": emo, "region": region, "attribution": share, "area": area,
                         "ratio": share / area if area > 0 else float("nan")})
    return pd.DataFrame(rows)


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rank correlation of each pair of flattened maps; NaN where a map is constant (a randomised network can
    give an all-zero map, whose correlation is undefined: scipy would warn and return NaN)."""
    return np.array([spearmanr(x.ravel(), y.ravel()).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else np.nan
                     for x, y in zip(a, b)])


def _mean_defined(values: np.ndarray) -> float:
    """Mean over the faces whose correlation is defined (NaN when none is)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def randomization_check(model: nn.Module, images: np.ndarray, targets, method: str = "saliency",
                        seed: int = 0, device="cpu") -> pd.DataFrame:
    """Cascading model-parameter randomisation: re-initialise layers from the output down, one block at a
    time, and measure the rank correlation of the absolute maps with the trained model's.

    Returns:
        ``step`` (0 = trained), ``randomised`` (name of the deepest re-initialised module), ``spearman`` (mean
        over images). A map that keeps its correlation once the weights are random does not depend on what
        the model learned.
    """
    ref = np.abs(attribute(model, images, targets, method, device=device))
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rows = [{"step": 0, "randomised": "none (trained)", "spearman": 1.0}]
    torch.manual_seed(seed)
    rand = copy.deepcopy(model)
    rand_layers = dict(rand.named_modules())
    blocks = np.array_split(np.arange(len(layers))[::-1], min(6, len(layers)))
    for step, block in enumerate(blocks, 1):
        for i in block:
            rand_layers[layers[i][0]].reset_parameters()
        maps = np.abs(attribute(rand, images, targets, method, device=device))
        rows.append({"step": step, "randomised": layers[block[-1]][0], "spearman": _mean_defined(_spearman(ref, maps))})
    return pd.DataFrame(rows)


def deletion_insertion(model: nn.Module, images: np.ndarray, labels: np.ndarray, maps: np.ndarray,
                       fractions=(0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5), seed: int = 0, device="cpu") -> pd.DataFrame:
    """Accuracy as pixels are deleted (set to the image's mean) most-attributed first, or inserted into a
    mean image most-attributed first, against a random pixel order.

    Returns:
        ``fraction``, ``deletion``, ``deletion_random``, ``insertion``, ``insertion_random`` (accuracies).
    """
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(images).float().div(255)
    mean = x.mean(dim=(1, 2), keepdim=True).expand_as(x)
    order = np.argsort(-np.abs(maps).reshape(len(maps), -1), axis=1)
    random_order = np.argsort(rng.random(order.shape), axis=1)
    rows = []
    for f in fractions:
        k = int(round(f * order.shape[1]))
        row = {"fraction": f}
        for name, o in (("", order), ("_random", random_order)):
            top = torch.zeros(order.shape, dtype=torch.bool)
            top[torch.arange(len(o))[:, None], torch.as_tensor(o[:, :k])] = True
            top = top.reshape(x.shape)
            for mode, img in (("deletion", torch.where(top, mean, x)), ("insertion", torch.where(top, x, mean))):
                pred = predict_classes(model, (img * 255).round().byte().numpy(), device)
                row[mode + name] = float((pred == labels).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def ground_truth_scores(maps: np.ndarray, landmarks: np.ndarray, labels: np.ndarray,
                        defining: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Per emotion, the share of attribution inside the regions that define it by construction.

    Returns:
        ``emotion``, ``defining regions``, ``attribution`` (share inside them), ``area`` (their share of the
        image), ``ratio`` (attribution / area; 1 = no better than spreading attribution evenly).
    """
    norm = normalise_maps(maps)
    rmap = region_map(landmarks)
    rows = []
    for c, emo in enumerate(EMOTIONS):
        regions = defining.get(emo) or ()
        sel = labels == c
        if not regions or not sel.any():
            continue
        share, area = _shares(norm[sel], np.isin(rmap[sel], [MAP_REGIONS.index(r) for r in regions]))
        rows.append({"emotion": emo, "defining regions": ", ".join(regions), "attribution": share, "area": area,
                     "ratio": share / area if area else float("nan")})
    return pd.DataFrame(rows)
