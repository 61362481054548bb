"""The Perturb Scheme (the paper's Section 3): attention classifier, attention-based clusters, feature-focused
training.

1. **Attention classifier** - a backbone with CBAM spatial gates between its stages (``attention=True``) is
   trained on clean faces; its gates say how much each pixel matters.
2. **Clustering** - the highest-attention pixels are grouped by k-means with the paper's Eq. 1 into ``n``
   clusters (:mod:`perturb_lib.cluster`), recomputed once per epoch from a sample of training faces (one map
   shared by all faces, the paper) or per face (``scope="per_image"``).
3. **Predictor** - a new classifier learns from faces in which clusters are masked out (:class:`PerturbPolicy`).

The paper's text is the default; the authors' code differs and each of its behaviours is an option: attention
instead of intensity in Eq. 1 (``features="attention"``, ``selection="all"``), k+1 copies per face
(``masking="copies"``) and test logits summed over the copies (``test="sum"``). The code's phase-1 bug (the
gate's output discarded) is not reproduced: gates always shape the features.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .cluster import attention_maps, cluster_maps, cluster_region_overlap
from .data.faces import SPLITS, FaceSet
from .policy import InputPolicy, SplitTensors
from .runs import Run, config_hash, load_run, read_json, write_json
from .train import Settings, TrainConfig, train

SCOPES = ("shared", "per_image")
MASKINGS = ("random", "copies")
TESTS = ("plain", "sum")

#: the paper's text (Section 3 and 4.2) where it is explicit; the fraction of top pixels is not given there
PAPER_SCHEME = {"n_clusters": 3, "lam": 1.5, "alpha": 1.2, "features": "intensity", "selection": "top",
                "top_fraction": 0.2, "threshold": 0.5, "scope": "shared", "sample": 256, "masking": "random",
                "fill": 0.5, "test": "plain", "kmeans_iters": 20}
#: the authors' public code, as far as it can be made to run (zeroed pixels: black in [0, 1] inputs)
CODE_SCHEME = {**PAPER_SCHEME, "features": "attention", "selection": "all", "sample": 16, "masking": "copies",
               "fill": 0.0, "test": "sum"}


class PerturbPolicy(InputPolicy):
    """Phase 3 inputs: faces with one attention cluster masked out.

    Args:
        phase1: name of the finished phase-1 (attention) run in ``<study_dir>/records``.
        n_clusters: k of k-means.
        lam, alpha: Eq. 1 weights (paper: 1.5, 1.2).
        features: ``intensity`` (paper) or ``attention`` (code) as Eq. 1's third coordinate.
        selection: ``top`` (the ``top_fraction`` highest-attention pixels) or ``all`` (code).
        top_fraction, threshold: see :func:`perturb_lib.cluster.cluster_maps`.
        scope: ``shared`` (one map per epoch from ``sample`` training faces) or ``per_image``.
        sample: faces whose mean attention and intensity make the shared map.
        masking: ``random`` (each face in a step loses one random cluster, or none) or ``copies`` (the face and
            one copy per cluster with that cluster masked: (n+1) x the inputs).
        fill: the value masked pixels get, in [0, 1]; 0.5 (default) is the network's zero after normalisation,
            0 is black. Measured on synthetic faces: black patches slow narrow models down markedly.
        test: ``plain`` (the predictor sees clean test faces) or ``sum`` (logits summed over the n+1 copies).
        kmeans_iters: Lloyd iterations.
        study_dir: where the phase-1 run lives.
    """

    def __init__(self, phase1: str, n_clusters: int = 3, lam: float = 1.5, alpha: float = 1.2,
                 features: str = "intensity", selection: str = "top", top_fraction: float = 0.2,
                 threshold: float = 0.5, scope: str = "shared", sample: int = 256, masking: str = "random",
                 fill: float = 0.5, test: str = "plain", kmeans_iters: int = 20, study_dir=None):
        for name, value, choices in (("scope", scope, SCOPES), ("masking", masking, MASKINGS), ("test", test, TESTS),
                                     ("features", features, ("intensity", "attention")),
                                     ("selection", selection, ("top", "all"))):
            if value not in choices:
                raise ValueError(f"perturb policy: {name} must be one of {', '.join(choices)}, got {value!r}")
        if n_clusters < 1:
            raise ValueError("perturb policy: n_clusters must be at least 1")
        self.options = {"phase1": phase1, "n_clusters": n_clusters, "lam": lam, "alpha": alpha, "features": features,
                        "selection": selection, "top_fraction": top_fraction, "threshold": threshold, "scope": scope,
                        "sample": sample, "masking": masking, "fill": fill, "test": test, "kmeans_iters": kmeans_iters}
        self.__dict__.update(self.options)
        self.study_dir = study_dir
        self.views = n_clusters + 1 if test == "sum" else 1
        self.map: torch.Tensor | None = None  # the shared cluster map of the current epoch
        self._model = None
        self._seconds = 0.0

    def spec(self) -> dict:
        return {"kind": "perturb", **self.options}

    def tag(self) -> str:
        return f"perturb-n{self.n_clusters}-{self.scope}-{self.masking}"

    # ------------------------------------------------------------------------------------------ phase 2
    def _phase1(self, device) -> torch.nn.Module:
        if self._model is None:
            if self.study_dir is None:
                raise ValueError("the perturb policy needs study_dir to find its phase-1 run")
            self._model = load_run(self.phase1, self.study_dir).model(device=str(device))
        return self._model

    def _cluster(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Per-face cluster maps (B, H, W) for faces x (B, 1, H, W)."""
        if self.scope == "shared":
            if self.map is None:
                raise RuntimeError("no shared cluster map yet: on_epoch_start computes it")
            return self.map.to(x.device)[None].expand(len(x), -1, -1)
        t0 = time.perf_counter()
        maps = self.clusters_of(attention_maps(self._phase1(x.device), x), x[:, 0], generator)
        self._seconds += _elapsed(t0, x.device)
        return maps

    def clusters_of(self, attention: torch.Tensor, intensity: torch.Tensor, generator) -> torch.Tensor:
        """:func:`perturb_lib.cluster.cluster_maps` with this policy's options."""
        return cluster_maps(attention, intensity, self.n_clusters, self.lam, self.alpha, self.features,
                            self.selection, self.top_fraction, self.threshold, self.kmeans_iters, generator)

    def shared_map(self, faces: SplitTensors, generator: torch.Generator) -> torch.Tensor:
        """One cluster map from the mean attention and mean intensity of ``sample`` random faces."""
        idx = torch.randperm(len(faces), generator=generator, device=faces.images.device)[:self.sample]
        x = faces.batch(idx)
        att = attention_maps(self._phase1(x.device), x).mean(0, keepdim=True)
        return self.clusters_of(att, x[:, 0].mean(0, keepdim=True), generator)[0]

    # ---------------------------------------------------------------------------------- the interface
    def prepare(self, split: SplitTensors) -> None:
        self._phase1(split.images.device)

    def on_epoch_start(self, epoch: int, train_split: SplitTensors, generator: torch.Generator) -> dict:
        if self.scope == "shared":  # the paper: clusters are updated once per epoch
            t0 = time.perf_counter()
            self.map = self.shared_map(train_split, generator)
            self._seconds += _elapsed(t0, train_split.images.device)
        return {}

    def _masked(self, x: torch.Tensor, maps: torch.Tensor, cluster: torch.Tensor) -> torch.Tensor:
        hide = (maps == cluster[:, None, None]) & (cluster >= 0)[:, None, None]
        return torch.where(hide[:, None], torch.full_like(x, self.fill), x)

    def _copies(self, x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """The face, then one copy per cluster with that cluster masked: view-major (n+1) * B."""
        b = len(x)
        return torch.cat([x] + [self._masked(x, maps, torch.full((b,), c, device=x.device))
                                for c in range(self.n_clusters)])

    def train_inputs(self, x, y, split, idx, generator):
        maps = self._cluster(x, generator)
        if self.masking == "copies":
            return self._copies(x, maps), y.repeat(self.n_clusters + 1)
        choice = torch.randint(-1, self.n_clusters, (len(x),), generator=generator, device=x.device)  # -1: none
        return self._masked(x, maps, choice), y

    def eval_views(self, x, split, idx):
        if self.test == "plain":
            return x
        gen = torch.Generator(device=x.device).manual_seed(0)
        return self._copies(x, self._cluster(x, gen))

    def epoch_stats(self) -> dict:
        out, self._seconds = {"cluster_seconds": round(self._seconds, 4)}, 0.0
        return out

    def state_dict(self) -> dict:
        return {"map": None if self.map is None else self.map.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("map") is not None:
            self.map = state["map"]


def _elapsed(t0: float, device) -> float:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ the phases
def phase1_config(base: TrainConfig, attention_model: str) -> TrainConfig:
    """Phase 1: the attention classifier, trained on clean faces."""
    return base.replace(model=attention_model, attention=True, policy={"kind": "clean"})


def perturb_config(base: TrainConfig, backbone: str, phase1: Run, scheme: dict) -> TrainConfig:
    """Phase 3: the predictor, trained on faces with clusters of ``phase1``'s attention masked out."""
    options = {**PAPER_SCHEME, **scheme}
    return base.replace(model=backbone, attention=False, policy={"kind": "perturb", "phase1": phase1.name, **options})


@dataclass
class SchemeRuns:
    """The records of one Perturb Scheme run: phase 1, the phase-2 clusters, the predictor, and the baseline."""

    phase1: Run
    clusters: dict
    perturb: Run
    baseline: Run


def phase2_record(phase1: Run, faces: FaceSet, study_dir, scheme: dict, settings: Settings | None = None,
                  seed: int = 0, examples: int = 64) -> dict:
    """Phase 2 on its own: the shared cluster map of a training sample and per-image maps of some test faces.

    Stored beside the phase-1 run (``clusters-<hash>.npz`` and ``.json``) and reused. On synthetic faces the
    JSON also holds each cluster's overlap with the true regions.
    """
    options = {**PAPER_SCHEME, **scheme}
    key = {"scheme": options, "data": faces.fingerprint(), "seed": seed, "examples": examples}
    stem = phase1.dir / f"clusters-{config_hash(key)}"
    if stem.with_suffix(".json").is_file():
        with np.load(stem.with_suffix(".npz")) as z:
            return {**read_json(stem.with_suffix(".json")), **{k: z[k] for k in z.files}}
    settings = settings or Settings()
    device = settings.resolved_device()
    from .policy import split_tensors
    pol = PerturbPolicy(phase1.name, study_dir=study_dir, **{k: v for k, v in options.items() if k != "phase1"})
    train_split = split_tensors(faces, "Training", device)
    gen = torch.Generator(device=device).manual_seed(seed)
    t0 = time.perf_counter()
    shared = pol.shared_map(train_split, gen)
    seconds = _elapsed(t0, device)
    test_name = phase1.config["test_split"]
    test = split_tensors(faces, test_name, device)
    pick = torch.arange(min(examples, len(test)), device=device)
    x = test.batch(pick)
    attention = attention_maps(pol._phase1(device), x)
    per_image = pol.clusters_of(attention, x[:, 0], gen)  # each face's own map, whatever the policy's scope
    info = {"scheme": options, "seconds_shared_map": round(seconds, 4), "test_split": test_name,
            "example_ids": test.ids[:len(pick)].tolist()}
    if "regions" in faces.extras:
        from .landmarks import MAP_REGIONS
        regions = faces.extras["regions"][faces.splits == SPLITS.index(test_name)][:len(pick)]
        info["overlap_shared"] = cluster_region_overlap(shared.cpu().numpy(), regions, MAP_REGIONS).to_dict("records")
        info["overlap_per_image"] = cluster_region_overlap(per_image.cpu().numpy(), regions, MAP_REGIONS).to_dict("records")
    arrays = {"shared_map": shared.cpu().numpy(), "per_image_maps": per_image.cpu().numpy(),
              "attention": attention.cpu().numpy(), "example_index": pick.cpu().numpy()}
    from .data.faces import atomic_save_npz
    atomic_save_npz(stem.with_suffix(".npz"), arrays)
    write_json(stem.with_suffix(".json"), info)
    return {**info, **arrays}


def run_perturb_scheme(base: TrainConfig, faces: FaceSet, study_dir, backbone: str = "vgg16",
                       attention_model: str | None = None, scheme: dict | None = None,
                       settings: Settings | None = None) -> SchemeRuns:
    """The three phases end to end (each reused when finished), plus the matching clean baseline.

    Args:
        base: the training recipe shared by every phase (seed, epochs, width...).
        faces: the dataset.
        study_dir: the study folder.
        backbone: the phase-3 predictor (and baseline) model.
        attention_model: the phase-1 model (default: the backbone with spatial gates).
        scheme: :class:`PerturbPolicy` options overriding :data:`PAPER_SCHEME`.
        settings: execution settings.
    """
    scheme = scheme or {}
    phase1 = train(phase1_config(base, attention_model or backbone), faces, study_dir, settings)
    clusters = phase2_record(phase1, faces, study_dir, scheme, settings, seed=base.seed)
    baseline = train(base.replace(model=backbone, policy={"kind": "clean"}), faces, study_dir, settings)
    perturb = train(perturb_config(base, backbone, phase1, scheme), faces, study_dir, settings)
    return SchemeRuns(phase1, clusters, perturb, baseline)


def clustering_cost(run: Run) -> dict:
    """Clustering seconds per epoch and their share of the epoch's training time, from a run's history."""
    h = run.history
    if "cluster_seconds" not in h:
        return {}
    return {"cluster_seconds_per_epoch": float(h["cluster_seconds"].mean()),
            "train_seconds_per_epoch": float(h["train_seconds"].mean()),
            "share_of_epoch": float((h["cluster_seconds"] / h["train_seconds"]).mean())}
