"""Phase 2 of the Perturb Scheme: attention maps of a phase-1 model and k-means clusters of its top pixels.

The paper clusters the highest-attention pixels with the distance of its Eq. 1,

    Dist = sqrt((lambda (i - k))^2 + (lambda (j - l))^2 + (alpha (I_ij - I_kl))^2),   lambda = 1.5, alpha = 1.2,

i.e. Euclidean k-means over features (lambda i, lambda j, alpha I). Here pixel coordinates are min-max scaled to
[0, 1] (as the authors' code does; with raw 0-47 coordinates the intensity term would not matter) and I is the
pixel intensity in [0, 1] (the paper) or the attention (the authors' code). Everything is batched on the device:
one shared cluster map per epoch (the paper) or one map per image (an extension).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .augment import normalize
from .models import spatial_gates

UNSELECTED = -1


@torch.no_grad()
def attention_maps(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 512, min_side: int = 6) -> torch.Tensor:
    """Spatial attention of a phase-1 model at input resolution.

    The maps of the :class:`~perturb_lib.models.SpatialGate` layers that are at least ``min_side`` pixels wide are
    upsampled (bilinear) to the input size and averaged. A 3x3 gate (VGG16's last block at 48 px) says nothing
    about where in the face: upsampled, its maximum lands on the image corners.

    Args:
        model: a model built with ``attention=True``.
        x: (B, 1, H, W) float faces in [0, 1] (or (B, H, W) uint8).
        min_side: smallest gate resolution taken into the average.

    Returns:
        (B, H, W) attention in [0, 1].
    """
    gates = spatial_gates(model)
    if not gates:
        raise ValueError("the phase-1 model has no spatial attention gates (build it with attention=True)")
    if x.dtype == torch.uint8:
        x = x.float().div(255)
    if x.dim() == 3:
        x = x[:, None]
    was = model.training
    model.eval()
    out = []
    try:
        for g in gates:
            g.record = True
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size]
            model(normalize(xb))
            used = [g for g in gates if g.last_map.shape[-1] >= min_side] or gates[:1]
            maps = [F.interpolate(g.last_map.float(), size=xb.shape[-2:], mode="bilinear", align_corners=False)
                    for g in used]
            out.append(torch.stack(maps).mean(0)[:, 0])
    finally:
        for g in gates:
            g.record, g.last_map = False, None
        model.train(was)
    return torch.cat(out)


def pixel_features(third: torch.Tensor, lam: float = 1.5, alpha: float = 1.2) -> torch.Tensor:
    """Eq. 1 features of every pixel: (lambda x, lambda y, alpha v) with x, y in [0, 1].

    Args:
        third: (B, H, W) the third coordinate per pixel (intensity in [0, 1], or attention).
        lam, alpha: the weights of Eq. 1.

    Returns:
        (B, H*W, 3) features, row-major pixel order; Euclidean distance between two rows is Eq. 1.
    """
    b, h, w = third.shape
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h, device=third.device), torch.linspace(0, 1, w, device=third.device),
                            indexing="ij")
    coords = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)[None].expand(b, -1, -1)
    return torch.cat([lam * coords, alpha * third.reshape(b, -1, 1)], -1)


def eq1_distance(p, q, lam: float = 1.5, alpha: float = 1.2) -> float:
    """Eq. 1 between two pixels given as (i, j, I) in the units the features use."""
    (i, j, a), (k, l, b) = p, q
    return float(np.sqrt((lam * (i - k)) ** 2 + (lam * (j - l)) ** 2 + (alpha * (a - b)) ** 2))


def kmeans(x: torch.Tensor, k: int, iters: int = 20, tol: float = 1e-4, generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched k-means with k-means++ initialisation: B independent problems solved at once.

    Args:
        x: (B, P, D) points.
        k: clusters per problem.
        iters: at most this many Lloyd iterations.
        tol: stop when no centre moves more than this (checked every 5 iterations to avoid host syncs).
        generator: seeds the initialisation.

    Returns:
        ``centers`` (B, k, D) and ``labels`` (B, P).
    """
    b, p, d = x.shape
    if p < k:
        raise ValueError(f"k-means needs at least k={k} points, got {p}")
    rows = torch.arange(b, device=x.device)
    first = torch.randint(0, p, (b,), generator=generator, device=x.device)
    centers = [x[rows, first]]
    closest = ((x - centers[0][:, None]) ** 2).sum(-1)
    for _ in range(1, k):  # k-means++: the next centre with probability proportional to squared distance
        probs = closest / closest.sum(1, keepdim=True).clamp_min(1e-12)
        probs = torch.where(probs.sum(1, keepdim=True) > 0, probs, torch.full_like(probs, 1 / p))
        nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
        centers.append(x[rows, nxt])
        closest = torch.minimum(closest, ((x - centers[-1][:, None]) ** 2).sum(-1))
    centers = torch.stack(centers, 1)
    for it in range(iters):
        labels = torch.cdist(x, centers).argmin(-1)
        onehot = F.one_hot(labels, k).to(x.dtype)
        counts = onehot.sum(1)
        new = (onehot.transpose(1, 2) @ x) / counts.clamp_min(1)[..., None]
        new = torch.where(counts[..., None] > 0, new, centers)  # an empty cluster keeps its centre
        moved = (new - centers).abs().amax()
        centers = new
        if tol and it % 5 == 4 and float(moved) < tol:
            break
    return centers, torch.cdist(x, centers).argmin(-1)


def cluster_maps(attention: torch.Tensor, intensity: torch.Tensor, n: int = 3, lam: float = 1.5, alpha: float = 1.2,
                 features: str = "intensity", selection: str = "top", top_fraction: float = 0.2,
                 threshold: float = 0.5, iters: int = 20, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cluster maps: each selected pixel gets a cluster id 0..n-1, the others :data:`UNSELECTED` (-1).

    Args:
        attention: (B, H, W) attention in [0, 1] (B = 1 for one shared map).
        intensity: (B, H, W) faces in [0, 1] (the paper's I).
        n: clusters.
        lam, alpha: Eq. 1 weights.
        features: third coordinate: ``intensity`` (the paper) or ``attention`` (the authors' code, with the
            attention min-max normalised).
        selection: ``top`` (the ``top_fraction`` highest-attention pixels, the paper) or ``all`` (every pixel,
            attention below ``threshold`` set to 0 first - the authors' code).
        iters: Lloyd iterations.
        generator: seeds k-means.

    Returns:
        (B, H, W) int64 cluster ids.
    """
    b, h, w = attention.shape
    if features == "intensity":
        third = intensity
    elif features == "attention":
        a = torch.where(attention >= threshold, attention, torch.zeros_like(attention)) if selection == "all" else attention
        lo, hi = a.flatten(1).amin(1)[:, None, None], a.flatten(1).amax(1)[:, None, None]
        third = (a - lo) / (hi - lo).clamp_min(1e-6)
    else:
        raise ValueError(f"features must be 'intensity' or 'attention', got {features!r}")
    feats = pixel_features(third, lam, alpha)
    if selection == "top":
        keep = max(n, int(round(top_fraction * h * w)))
        idx = attention.flatten(1).topk(keep, dim=1).indices
    elif selection == "all":
        idx = torch.arange(h * w, device=attention.device)[None].expand(b, -1)
    else:
        raise ValueError(f"selection must be 'top' or 'all', got {selection!r}")
    points = feats.gather(1, idx[..., None].expand(-1, -1, feats.shape[-1]))
    _, labels = kmeans(points, n, iters, generator=generator)
    out = torch.full((b, h * w), UNSELECTED, dtype=torch.long, device=attention.device)
    out.scatter_(1, idx, labels)
    return out.reshape(b, h, w)


def cluster_region_overlap(maps: np.ndarray, region_maps: np.ndarray, region_names) -> pd.DataFrame:
    """How each cluster overlaps the true facial regions (synthetic faces know them).

    Args:
        maps: (H, W) one shared map or (B, H, W) per-image maps of cluster ids (-1 unselected).
        region_maps: (B, H, W) region ids per face (:data:`perturb_lib.landmarks.MAP_REGIONS`).
        region_names: names of the region ids.

    Returns:
        One row per cluster: its best-matching region, the IoU with it (mean over faces), the share of the
        cluster's pixels inside that region ("precision") and that region's share of the image ("chance").
    """
    maps = np.broadcast_to(maps, region_maps.shape) if maps.ndim == 2 else maps
    rows = []
    for c in sorted(set(np.unique(maps)) - {UNSELECTED}):
        cl = maps == c
        best = None
        for r, name in enumerate(region_names):
            if name == "rest":
                continue
            reg = region_maps == r
            inter = (cl & reg).sum((1, 2))
            union = (cl | reg).sum((1, 2))
            iou = float(np.mean(inter / np.maximum(union, 1)))
            precision = float(inter.sum() / max(cl.sum(), 1))
            if best is None or iou > best["iou"]:
                best = {"cluster": int(c), "region": name, "iou": iou, "precision": precision,
                        "chance": float(reg.mean()), "pixels": float(cl.sum((1, 2)).mean())}
        rows.append(best)
    return pd.DataFrame(rows)
