"""The Perturb Scheme's phases 2 and 3 as a policy: k-means clusters of the highest-attention pixels (the paper's
Eq. 1), and faces with one cluster masked out.

The paper clusters the highest-attention pixels with the distance of its Eq. 1,

    Dist = sqrt((lambda (i - k))^2 + (lambda (j - l))^2 + (alpha (I_ij - I_kl))^2),   lambda = 1.5, alpha = 1.2,

i.e. Euclidean k-means over features (lambda i, lambda j, alpha I). Here pixel coordinates are min-max scaled to
[0, 1] (as the authors' code does; with raw 0-47 coordinates the intensity term would not matter) and I is the
pixel intensity in [0, 1] (the paper) or the attention (the authors' code). One shared cluster map per epoch
(the paper) or one map per image (an extension).

The policy needs the phase-1 model's attention: it gets it as an argument (``attention``, a function from
faces (B, 1, H, W) in [0, 1] to maps (B, H, W) in [0, 1]), so this module knows nothing of models or runs.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import torch
import torch.nn.functional as F

from ..landmarks.regions import region_masks
from ..params import SchemeOptions
from .base import InputPolicy, SplitTensors

UNSELECTED = -1
AttentionFn = Callable[[torch.Tensor], torch.Tensor]


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


def kmeans(x: torch.Tensor, k: int, iters: int = 20, tol: float = 1e-4, generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched k-means with k-means++ initialisation: B independent problems solved at once.

    Our own code, not scikit-learn's: the scheme clusters once per epoch (or per image) inside the training
    loop, on the training device, for a batch of problems at once; scikit-learn runs one problem at a time on
    the CPU and would move every attention map to the host.

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


def cluster_maps(attention: torch.Tensor, intensity: torch.Tensor, options: SchemeOptions,
                 generator: torch.Generator | None = None, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Cluster maps: each selected pixel gets a cluster id 0..n-1, the others :data:`UNSELECTED` (-1).

    Args:
        attention: (B, H, W) attention in [0, 1] (B = 1 for one shared map).
        intensity: (B, H, W) faces in [0, 1] (the paper's I).
        options: the scheme's options (``n_clusters``, ``lam``, ``alpha``, ``cluster_features``,
            ``cluster_selection``, ``top_fraction``, ``attention_threshold``, ``kmeans_iters``).
        generator: seeds k-means.
        allowed: (B, H, W) bool, the pixels that may be selected (the face); None: every pixel. With
            ``cluster_selection="all"`` every allowed pixel is clustered.

    Returns:
        (B, H, W) int64 cluster ids.
    """
    o = options
    b, h, w = attention.shape
    if allowed is not None:
        allowed = allowed.to(attention.device).expand(b, h, w)
        attention = torch.where(allowed, attention, torch.full_like(attention, -1.0))  # never in the top
    if o.cluster_features == "intensity":
        third = intensity
    else:  # the authors' code: the attention, zeroed below the threshold when every pixel is clustered
        a = (torch.where(attention >= o.attention_threshold, attention, torch.zeros_like(attention))
             if o.cluster_selection == "all" else attention)
        lo, hi = a.flatten(1).amin(1)[:, None, None], a.flatten(1).amax(1)[:, None, None]
        third = (a - lo) / (hi - lo).clamp_min(1e-6)
    feats = pixel_features(third, o.lam, o.alpha)
    if o.cluster_selection == "top":  # the top share of the pixels that may be chosen
        room = h * w if allowed is None else int(allowed.flatten(1).sum(1).min())
        keep = max(o.n_clusters, int(round(o.top_fraction * room)))
        idx = attention.flatten(1).topk(keep, dim=1).indices
    elif allowed is None:
        idx = torch.arange(h * w, device=attention.device)[None].expand(b, -1)
    else:  # every allowed pixel (the same count per map: the smallest face's)
        idx = attention.flatten(1).topk(int(allowed.flatten(1).sum(1).min()), dim=1).indices
    points = feats.gather(1, idx[..., None].expand(-1, -1, feats.shape[-1]))
    _, labels = kmeans(points, o.n_clusters, o.kmeans_iters, generator=generator)
    out = torch.full((b, h * w), UNSELECTED, dtype=torch.long, device=attention.device)
    out.scatter_(1, idx, labels)
    return out.reshape(b, h, w)


def cluster_steps(attention: torch.Tensor, intensity: torch.Tensor, options: SchemeOptions,
                  generator: torch.Generator | None = None, allowed: torch.Tensor | None = None) -> dict:
    """The steps of :func:`cluster_maps` for one face, kept for a reader to see: the selected pixels, their Eq. 1
    features and their k-means labels, and the map.

    Args:
        attention, intensity: (H, W) the face's attention and its pixels in [0, 1].
        options, generator, allowed: as :func:`cluster_maps` ((H, W) ``allowed``).

    Returns:
        ``selected`` (H, W) bool, ``features`` (P, 3) the selected pixels' Eq. 1 coordinates (lambda x, lambda y,
        alpha times the third coordinate), ``labels`` (P,) and ``map`` (H, W), the same map :func:`cluster_maps`
        makes with the same generator state.
    """
    state = generator.get_state() if generator is not None else None
    shared = cluster_maps(attention[None], intensity[None], options, generator,
                          None if allowed is None else allowed[None])[0]
    if generator is not None:
        generator.set_state(state)  # the caller's stream moves on as one cluster_maps call moves it
        cluster_maps(attention[None], intensity[None], options, generator, None if allowed is None else allowed[None])
    selected = shared != UNSELECTED
    o = options
    if o.cluster_features == "intensity":
        third = intensity
    else:
        a = torch.where(attention >= o.attention_threshold, attention, torch.zeros_like(attention)) \
            if o.cluster_selection == "all" else attention
        third = (a - a.min()) / (a.max() - a.min()).clamp_min(1e-6)
    feats = pixel_features(third[None], o.lam, o.alpha)[0]
    return {"selected": selected, "features": feats[selected.flatten()], "labels": shared[selected], "map": shared}


def face_pixels(landmarks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool: the pixels inside each face's outline (at least half covered)."""
    return region_masks(landmarks, ("face",))[:, 0] >= 0.5


def shared_cluster_map(attention: AttentionFn, faces: SplitTensors, options: SchemeOptions,
                       generator: torch.Generator) -> torch.Tensor:
    """One cluster map (H, W) from the mean attention and mean intensity of ``cluster_sample`` random faces; with
    ``cluster_region="face"`` only pixels inside the outline of most of these faces may be clustered."""
    idx = torch.randperm(len(faces), generator=generator, device=faces.images.device)[:options.cluster_sample]
    x = faces.batch(idx)
    allowed = None
    if options.cluster_region == "face":
        allowed = face_pixels(faces.landmarks[idx]).float().mean(0, keepdim=True) >= 0.5
    return cluster_maps(attention(x).mean(0, keepdim=True), x[:, 0].mean(0, keepdim=True), options, generator,
                        allowed)[0]


def _elapsed(t0: float, device) -> float:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


class PerturbPolicy(InputPolicy):
    """Phase 3 inputs: faces with one attention cluster masked out.

    Args:
        phase1: name of the phase-1 (attention) run; part of the spec, so it names the run it depends on.
        options: the scheme's options (:class:`~perturb_lib.params.SchemeOptions`).
        attention: the phase-1 model's attention function (needed before :meth:`prepare`; may be None to
            only read the spec).
    """

    def __init__(self, phase1: str, options: SchemeOptions | None = None, attention: AttentionFn | None = None):
        self.phase1, self.options, self.attention = phase1, options or SchemeOptions(), attention
        self.views = self.options.n_clusters + 1 if self.options.test_policy == "sum" else 1
        self.map: torch.Tensor | None = None  # the shared cluster map of the current epoch
        self.epoch_maps: list[torch.Tensor] = []  # every epoch's shared map, recorded with the run
        self._seconds = 0.0

    def spec(self) -> dict:
        return {"kind": "perturb", "phase1": self.phase1, **asdict(self.options)}

    def tag(self) -> str:
        """``perturb-n<k>-<scope>-<masking>``, then what differs from the paper's Eq. 1 (the authors' code's third
        coordinate, every pixel clustered, another share of the top pixels)."""
        o, paper = self.options, SchemeOptions()
        marks = ("-attention" if o.cluster_features != paper.cluster_features else "") + (
            "-all" if o.cluster_selection != paper.cluster_selection else
            f"-top{o.top_fraction:g}" if o.top_fraction != paper.top_fraction else "")
        return f"perturb-n{o.n_clusters}-{o.cluster_scope}-{o.masking}{marks}"

    def needs_landmarks(self) -> bool:
        return self.options.cluster_region == "face"

    def _maps(self, x: torch.Tensor, split: SplitTensors, idx: torch.Tensor,
              generator: torch.Generator | None) -> torch.Tensor:
        """Per-face cluster maps (B, H, W) for faces x (B, 1, H, W)."""
        if self.options.cluster_scope == "shared":
            if self.map is None:
                raise RuntimeError("no shared cluster map yet: on_epoch_start computes it")
            return self.map.to(x.device)[None].expand(len(x), -1, -1)
        t0 = time.perf_counter()
        allowed = split.cache["face_pixels"][idx] if self.options.cluster_region == "face" else None
        maps = cluster_maps(self.attention(x), x[:, 0], self.options, generator, allowed)
        self._seconds += _elapsed(t0, x.device)
        return maps

    def prepare(self, split: SplitTensors) -> None:
        if self.attention is None:
            raise ValueError(f"the perturb policy needs the attention of its phase-1 run {self.phase1!r} "
                             "(make_policy(spec, attention=...))")
        if self.needs_landmarks():
            if split.landmarks is None:
                raise ValueError(f"split {split.name}: clustering inside the face (cluster_region='face') needs "
                                 "landmarks")
            if self.options.cluster_scope == "per_image":
                split.cache["face_pixels"] = torch.cat([face_pixels(split.landmarks[s:s + 2048])
                                                        for s in range(0, len(split), 2048)])

    def on_epoch_start(self, epoch: int, train_split: SplitTensors, generator: torch.Generator) -> None:
        if self.options.cluster_scope == "shared":  # the paper: clusters are updated once per epoch
            t0 = time.perf_counter()
            self.map = shared_cluster_map(self.attention, train_split, self.options, generator)
            self._seconds += _elapsed(t0, train_split.images.device)
            self.epoch_maps = self.epoch_maps[:epoch] + [self.map.detach().cpu().to(torch.int8)]

    def _masked(self, x: torch.Tensor, maps: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
        hide = (maps == cluster[:, None, None]) & (cluster >= 0)[:, None, None]
        return torch.where(hide[:, None], torch.full_like(x, self.options.fill_value), x)

    def _copies(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """The face, then one copy per cluster with that cluster masked: view-major (n+1) * B."""
        b = len(x)
        return torch.cat([x] + [self._masked(x, maps, torch.full((b,), c, device=x.device))
                                for c in range(self.options.n_clusters)])

    def train_inputs(self, x, y, split, idx, generator):
        maps = self._maps(x, split, idx, generator)
        n = self.options.n_clusters
        if self.options.masking == "copies":
            return self._copies(x, maps), y.repeat(n + 1)
        choice = torch.randint(-1, n, (len(x),), generator=generator, device=x.device)  # -1: none
        return self._masked(x, maps, choice), y

    def eval_views(self, x, split, idx):
        if self.options.test_policy == "plain":
            return x
        gen = torch.Generator(device=x.device).manual_seed(0)
        return self._copies(x, self._maps(x, split, idx, gen))

    def epoch_stats(self) -> dict:
        out, self._seconds = {"cluster_seconds": round(self._seconds, 4)}, 0.0
        return out

    def state_dict(self) -> dict:
        return {"map": None if self.map is None else self.map.cpu(),
                "epoch_maps": torch.stack(self.epoch_maps) if self.epoch_maps else None}

    def load_state_dict(self, state: dict) -> None:
        if state.get("map") is not None:
            self.map = state["map"]
        if state.get("epoch_maps") is not None:
            self.epoch_maps = list(state["epoch_maps"].cpu().to(torch.int8))

    def record_arrays(self) -> dict:
        """The shared cluster map of every epoch (E, H, W) int8, -1 where no cluster: where the clusters fell."""
        return {"shared_maps": torch.stack(self.epoch_maps).numpy()} if self.epoch_maps else {}
