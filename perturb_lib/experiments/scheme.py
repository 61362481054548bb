"""The Perturb Scheme experiment (the paper's Section 3; Figures 4-6, Tables 2-3).

1. **Attention classifier** - a backbone with CBAM spatial gates between its stages (``attention=True``) is
   trained on clean faces; its gates say how much each pixel matters.
2. **Clustering** - the highest-attention pixels are grouped by k-means with the paper's Eq. 1
   (:mod:`perturb_lib.policies.clusters`), once per epoch from a sample of training faces (one map shared by all
   faces, the paper) or per face.
3. **Predictor** - a new classifier learns from faces in which clusters are masked out.

The paper's text is the default; each behaviour of the authors' code is an option
(:meth:`~perturb_lib.params.SchemeOptions.code`). The code's phase-1 bug (the gate's output discarded) is not
reproduced: gates always shape the features.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from ..data.faces import EMOTIONS, SPLITS, FaceSet, pick_per_emotion
from ..evaluate import Predictions, ensemble_logits, run_predictions
from ..execution import Settings
from ..grid import run_grid
from ..io import array_fingerprint, code_fingerprint, read_json, save_npz, stable_hash, write_json
from ..landmarks.regions import MAP_REGIONS
from ..models import attention_maps
from ..paper import TABLE2_BASELINE, TABLE2_PERTURB, paper_column
from ..params import SchemeNotebook, SchemeOptions
from ..policies import split_tensors
from ..policies.clusters import UNSELECTED, cluster_maps, face_pixels, shared_cluster_map
from ..runs import POLICY_FILE, Run, Study, StudyContext
from ..tables import accuracy, accuracy_difference, change_table, estimate_columns, macro_f1, verdict
from ..train import TrainConfig, with_checkpoint
from .results import Results, RunKey, run_key
from .saliency import compare

#: the parts of a paired change stored in Table 2 and the variants' table (:func:`~perturb_lib.tables.estimate_columns`)
DELTA_PARTS = ("ci", "lo", "hi", "sd", "se_test")


# ------------------------------------------------------------------------------------------ the phases
def phase1_config(base: TrainConfig, attention_model: str) -> TrainConfig:
    """Phase 1: the attention classifier, trained on clean faces."""
    return base.replace(model=attention_model, attention=True, policy={"kind": "clean"})


def perturb_config(base: TrainConfig, backbone: str, phase1: Run | str, options: SchemeOptions) -> TrainConfig:
    """Phase 3: the predictor, trained on faces with clusters of ``phase1``'s attention masked out (``phase1``: the
    run, or its name)."""
    name = phase1 if isinstance(phase1, str) else phase1.name
    return base.replace(model=backbone, attention=False, policy={"kind": "perturb", "phase1": name, **asdict(options)})


def phase2_record(phase1: Run, faces: FaceSet, options: SchemeOptions, settings: Settings | None = None,
                  seed: int = 0, examples: int = 64, landmarks: np.ndarray | None = None) -> dict:
    """Phase 2 on its own: the shared cluster map of a training sample and per-image maps of some test faces.

    Stored beside the phase-1 run (``clusters-<hash>.npz`` and ``.json``) and reused. On synthetic faces the
    JSON also holds each cluster's overlap with the true regions.

    Returns:
        ``shared_map`` (H, W), ``per_image_maps``, ``attention``, ``example_index`` (into the test split), and the
        info: ``seconds_shared_map``, ``test_split``, ``example_ids``, ``overlap_shared``, ``overlap_per_image``.
    """
    lm = landmarks if landmarks is not None else faces.landmarks
    key = {"scheme": asdict(options), "data": faces.fingerprint(), "seed": seed, "examples": examples,
           "landmarks": array_fingerprint(lm) if lm is not None else None,
           # what computed it: a change to this function, the clustering or the attention maps is a new key
           "code": code_fingerprint(phase2_record, shared_cluster_map, cluster_maps, face_pixels, attention_maps,
                                    cluster_region_overlap)}
    stem = phase1.work / f"clusters-{stable_hash(key)}"  # a cache beside the run in the study, never in a ledger
    if stem.with_suffix(".json").is_file():
        with np.load(stem.with_suffix(".npz")) as z:
            return {**read_json(stem.with_suffix(".json")), **{k: z[k] for k in z.files}}
    settings = settings or Settings()
    device = settings.resolved_device()
    model = phase1.model(device=str(device))
    attention = lambda x: attention_maps(model, x)  # noqa: E731
    gen = torch.Generator(device=device).manual_seed(seed)
    t0 = time.perf_counter()
    shared = shared_cluster_map(attention, split_tensors(faces, "Training", device, lm), options, gen)
    seconds = time.perf_counter() - t0
    test_name = phase1.config["test_split"]
    test = split_tensors(faces, test_name, device, lm)
    pick = torch.arange(min(examples, len(test)), device=device)
    x = test.batch(pick)
    att = attention(x)
    allowed = face_pixels(test.landmarks[pick]) if options.cluster_region == "face" else None
    per_image = cluster_maps(att, x[:, 0], options, gen, allowed)  # each face's own map, whatever the scope
    info = {"scheme": asdict(options), "seconds_shared_map": round(seconds, 4), "test_split": test_name,
            "example_ids": test.ids[:len(pick)].tolist()}
    if "regions" in faces.extras:
        regions = faces.extras["regions"][faces.splits == SPLITS.index(test_name)][:len(pick)]
        info["overlap_shared"] = cluster_region_overlap(shared.cpu().numpy(), regions).to_dict("records")
        info["overlap_per_image"] = cluster_region_overlap(per_image.cpu().numpy(), regions).to_dict("records")
    arrays = {"shared_map": shared.cpu().numpy(), "per_image_maps": per_image.cpu().numpy(),
              "attention": att.cpu().numpy(), "example_index": pick.cpu().numpy()}
    stem = phase1.writable_work() / stem.name
    save_npz(stem.with_suffix(".npz"), arrays)
    write_json(stem.with_suffix(".json"), info)
    return {**info, **arrays}


def cluster_region_overlap(maps: np.ndarray, region_maps: np.ndarray) -> pd.DataFrame:
    """How each cluster overlaps the true facial regions (synthetic faces know them).

    Args:
        maps: (H, W) one shared map or (B, H, W) per-image maps of cluster ids (-1 unselected).
        region_maps: (B, H, W) region ids per face (:data:`perturb_lib.landmarks.MAP_REGIONS`).

    Returns:
        One row per cluster: its best-matching region, the IoU with it (mean over faces), the share of the
        cluster's pixels inside that region ("precision") and that region's share of the image ("chance").
    """
    maps = np.broadcast_to(maps, region_maps.shape) if maps.ndim == 2 else maps
    rows = []
    for c in sorted(set(np.unique(maps)) - {UNSELECTED}):
        cl = maps == c
        best = None
        for r, name in enumerate(MAP_REGIONS):
            if name == "rest":
                continue
            reg = region_maps == r
            inter = (cl & reg).sum((1, 2))
            iou = float(np.mean(inter / np.maximum((cl | reg).sum((1, 2)), 1)))
            if best is None or iou > best["iou"]:
                best = {"cluster": int(c), "region": name, "iou": iou, "precision": float(inter.sum() / max(cl.sum(), 1)),
                        "chance": float(reg.mean()), "pixels": float(cl.sum((1, 2)).mean())}
        rows.append(best)
    return pd.DataFrame(rows)


#: the regions a cluster can fall on (the paper's Figure 4 names the eyes, and the mouth and nose), then the rest
LOCATION_REGIONS = ("eyes", "brows", "nose", "mouth")
ELSEWHERE = "elsewhere"


def region_probability(landmarks: np.ndarray, batch: int = 2048) -> np.ndarray:
    """(5, H, W): for each pixel, the share of faces in which it lies in each of :data:`LOCATION_REGIONS`, and
    elsewhere; a pixel in two regions of a face counts for the first (eyes, then brows, nose, mouth).

    Args:
        landmarks: (N, K, 2) the faces' landmarks (e.g. dlib's, on the faces it found).
    """
    from ..landmarks.regions import region_masks
    total = None
    for start in range(0, len(landmarks), batch):
        masks = region_masks(landmarks[start:start + batch], LOCATION_REGIONS) >= 0.5  # (B, 4, H, W)
        taken = torch.zeros_like(masks[:, 0])
        hard = []
        for r in range(masks.shape[1]):
            hard.append(masks[:, r] & ~taken)
            taken |= masks[:, r]
        counts = torch.stack(hard, 1).float().sum(0)
        total = counts if total is None else total + counts
    share = (total / max(len(landmarks), 1)).numpy()
    return np.concatenate([share, 1 - share.sum(0, keepdims=True)])


#: a cluster is on a region when it holds at least this many times the region's share of the image there
ON_REGION = 2.0


def cluster_locations(shared_map: np.ndarray, probability: np.ndarray) -> pd.DataFrame:
    """Where each cluster of a shared map falls: per cluster, its pixels and the share of them in each region
    (:func:`region_probability`), and the region it is on (``dominant``): of the named regions, the one where it is
    most over-represented against that region's share of the image, when it holds at least :data:`ON_REGION` times
    that share there; else ``elsewhere`` (a cluster on the cheeks or the forehead, or spread over the face).

    The regions are small (on FER2013 the eyes are 3 % of the image, the mouth 5 %) and a cluster is not: a cluster
    centred on the mouth has most of its pixels around it, so the raw share alone would call nearly every cluster
    ``elsewhere``."""
    names = LOCATION_REGIONS + (ELSEWHERE,)
    area = probability.reshape(len(names), -1).mean(1)
    rows = []
    for c in sorted(set(np.unique(shared_map).tolist()) - {UNSELECTED}):
        inside = shared_map == c
        shares = probability[:, inside].mean(1)
        over = shares[:-1] / np.maximum(area[:-1], 1e-9)
        best = int(over.argmax())
        rows.append({"cluster": int(c), "pixels": int(inside.sum()), **dict(zip(names, shares.round(4).tolist())),
                     "dominant": names[best] if over[best] >= ON_REGION else ELSEWHERE})
    return pd.DataFrame(rows)


def configuration(locations: pd.DataFrame) -> str:
    """The clusters' dominant regions, e.g. ``eyes, eyes, mouth``."""
    return ", ".join(sorted(locations["dominant"])) if len(locations) else ""


def configurations(locations: pd.DataFrame, variant: str) -> dict[int, str]:
    """Per seed, where one scheme's shared clusters fell (:func:`configuration`), from
    :attr:`SchemeResults.locations` (``variant``: ``paper`` for the study's own scheme)."""
    if locations.empty:
        return {}
    own = locations[locations["variant"] == variant]
    return {int(seed): configuration(group) for seed, group in own.groupby("seed")}


def paper_configuration(locations: pd.DataFrame) -> bool:
    """The paper's Figure 4: two clusters on the eyes and one on the mouth and nose."""
    dominant = list(locations["dominant"])
    return len(dominant) == 3 and dominant.count("eyes") == 2 and sum(d in ("mouth", "nose") for d in dominant) == 1


@dataclass
class SchemeRuns:
    """The records of one Perturb Scheme run: phase 1, the phase-2 clusters, the predictor, and the baseline."""

    phase1: Run
    clusters: dict
    perturb: Run
    baseline: Run


def run_perturb_scheme(base: TrainConfig, context: StudyContext, *, backbone: str = "vgg16",
                       options: SchemeOptions | None = None) -> SchemeRuns:
    """The three phases end to end for one seed (each reused when finished), plus the matching clean baseline: the
    notebook's own experiment (:class:`SchemeExperiment`) on one backbone and one seed.

    Args:
        base: the training recipe shared by every phase (seed, epochs, width...).
        context: the faces (with their landmarks, for clustering inside the face), the study and the settings; the
            study's own folder is used, not its ledger.
        backbone: the phase-3 predictor (and baseline) model; phase 1 is the same model with spatial gates.
        options: the scheme's options (default: the paper's).

    Returns:
        The runs.
    """
    from ..params import Compute, Recipe
    options, settings, faces = options or SchemeOptions(), context.settings, context.faces
    landmarks = context.landmarks if context.landmarks is not None else faces.landmarks
    params = SchemeNotebook(
        **{k: getattr(base, k) for k in Recipe.defaults()}, **asdict(options),
        **{k: getattr(settings, k) for k in Compute.defaults()}, perturb_models=[backbone], baseline_models=[],
        perturb_seeds=[base.seed], sweep_seeds=[], cluster_sweep=[], study_dir=str(context.study.dir),
        ledger_dir=str(context.study.dir / "no-ledger"))
    experiment = SchemeExperiment(params, faces, landmarks)
    experiment.train()  # the notebook's own assembly of the three phases
    phase1 = experiment.phase1(base.seed)
    clusters = phase2_record(phase1, faces, options, settings, seed=base.seed, landmarks=landmarks)
    return SchemeRuns(phase1, clusters, experiment.runs[run_key("perturb", backbone, base.seed, options.n_clusters)],
                      experiment.runs[run_key("baseline", backbone, base.seed, 0)])


def clustering_cost(run: Run) -> dict:
    """Clustering seconds per epoch and their share of the epoch's training time, from a run's history."""
    h = run.history
    if "cluster_seconds" not in h:
        return {}
    return {"cluster_seconds_per_epoch": float(h["cluster_seconds"].mean()),
            "train_seconds_per_epoch": float(h["train_seconds"].mean()),
            "share_of_epoch": float((h["cluster_seconds"] / h["train_seconds"]).mean())}


# ------------------------------------------------------------------------------------------ the study
@dataclass
class SchemeResults(Results):
    """What notebook 03 found.

    Attributes:
        dataset: the dataset's name.
        options: the scheme's options.
        phase1: the phase-1 run's name per seed.
        clusters: Figure 4: one test face per emotion (``images``, ``labels``, ``attention``, ``own`` maps) and
            the ``shared`` map, plus ``overlap`` with the true regions on synthetic faces.
        table2: per model: baseline and Perturb accuracy and F1 over seeds, their difference, the paper's.
        table3: long form: per-class change with the scheme, in relative % and in percentage points (``unit``).
        sweep: Figure 5: accuracy and macro F1 against the number of clusters (0 = the baseline), on validation
            (``val_*``, which chooses n: ``chosen``) and on test.
        sweep_model: the sweep's backbone.
        locations: where the shared clusters fell, per Perturb run of the sweep's backbone that recorded its maps
            (``policy.npz``): each cluster of the map of its kept epoch, its share of pixels in the eyes, brows,
            nose, mouth and elsewhere (from the landmarks of the training faces the detector found), its dominant
            region; ``variant`` names the scheme (``paper`` for the study's own).
        variants: the scheme's variants (``scheme_variants``) on their seeds, each paired with the baseline of its
            own seed and recipe, beside the study's own scheme on the same seeds.
        cost: clustering seconds per epoch and their share of the epoch, per Perturb run.
        figure6: the baseline and the Perturb run explained on the same faces (see
            :func:`perturb_lib.experiments.saliency.compare`).
        runs: run names by key ``kind/model/seed/n``.
    """

    name = "scheme"
    made_by = "03_perturb_scheme"

    dataset: str = ""
    options: dict = field(default_factory=dict)
    phase1: dict = field(default_factory=dict)
    clusters: dict = field(default_factory=dict)
    table2: pd.DataFrame = field(default_factory=pd.DataFrame)
    table3: pd.DataFrame = field(default_factory=pd.DataFrame)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    sweep_model: str = ""
    locations: pd.DataFrame = field(default_factory=pd.DataFrame)
    variants: pd.DataFrame = field(default_factory=pd.DataFrame)
    cost: pd.DataFrame = field(default_factory=pd.DataFrame)
    figure6: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)


class SchemeExperiment:
    """The runs and tables of notebook 03.

    Every seed has its own phase 1 (and so its own clusters), so the spread over seeds includes phase 1 and the
    clustering, not only the predictor's training.

    Args:
        params: the notebook's parameters.
        faces: the dataset.
        landmarks: its landmarks (for the region shares of Figure 6).
    """

    def __init__(self, params: SchemeNotebook, faces: FaceSet, landmarks: np.ndarray):
        self.params = params
        #: the faces, their landmarks, the study and the settings every run shares
        self.context = StudyContext(faces, Study.of_params(params), landmarks, Settings.of(params))
        #: the seeds of the baseline and Perturb pairs (Tables 2-3)
        self.seeds = list(params.perturb_seeds if params.perturb_seeds is not None else params.seeds)
        self.runs: dict[str, Run] = {}

    def options(self, n: int | None = None, variant: str | None = None) -> SchemeOptions:
        """The scheme's options the parameters select (with ``n`` clusters, or a variant's changes, when given)."""
        values = {k: getattr(self.params, k) for k in SchemeOptions.defaults()}
        changes = {k: v for k, v in self.params.scheme_variants.get(variant, {}).items() if k in values}
        return SchemeOptions(**{**values, **changes, **({"n_clusters": n} if n else {})})

    def _grid(self, configs: dict[str, TrainConfig]) -> None:
        runs = run_grid(list(configs.values()), self.context, grid=self.params)
        self.runs.update(zip(configs, runs))

    def recipe(self, model: str, seed: int, variant: str | None = None) -> TrainConfig:
        """The notebook's recipe for a model and seed, with the model's own changes and a variant's recipe changes."""
        changes = {k: v for k, v in self.params.scheme_variants.get(variant, {}).items() if k in TrainConfig.defaults()}
        return TrainConfig.from_params(self.params, model=model, seed=seed).replace(**changes)

    def configs(self) -> dict[str, TrainConfig]:
        """``{run key: config}`` of every run but phase 1's (whose names the Perturb runs' configs hold: see
        :meth:`phase1_configs`)."""
        P, configs = self.params, {}
        for model in P.perturb_models:
            for seed in self.params.seeds_of(model, self.seeds):
                configs[run_key("baseline", model, seed, 0)] = self.recipe(model, seed)
                configs[run_key("perturb", model, seed, P.n_clusters)] = perturb_config(
                    self.recipe(model, seed), model, self._phase1_name(seed), self.options())
        for model in P.baseline_models:
            for seed in self.params.seeds_of(model, self.seeds):
                configs.setdefault(run_key("baseline", model, seed, 0), self.recipe(model, seed))
        for seed in P.sweep_seeds:
            configs.setdefault(run_key("baseline", P.sweep_model, seed, 0), self.recipe(P.sweep_model, seed))
            for n in P.cluster_sweep:
                configs[run_key("perturb", P.sweep_model, seed, n)] = perturb_config(
                    self.recipe(P.sweep_model, seed), P.sweep_model, self._phase1_name(seed), self.options(n))
        for variant in P.scheme_variants:
            for seed in P.variant_seeds:
                configs[run_key(f"baseline@{variant}", P.sweep_model, seed, 0)] = self.recipe(P.sweep_model, seed, variant)
                configs[run_key(f"perturb@{variant}", P.sweep_model, seed, 0)] = perturb_config(
                    self.recipe(P.sweep_model, seed, variant), P.sweep_model,
                    self._phase1_name(seed, variant), self.options(variant=variant))
        return configs

    def phase1_configs(self) -> dict[str, TrainConfig]:
        """``{run key: config}`` of the phase-1 runs: one per seed (and per variant whose recipe differs)."""
        attention_model = self.attention_model()
        out = {run_key("phase1", attention_model, s, 0): phase1_config(self.recipe(attention_model, s), attention_model)
               for s in self.phase1_seeds()}
        for variant in self.params.scheme_variants:
            for s in self.params.variant_seeds:
                out.setdefault(run_key(f"phase1@{variant}", attention_model, s, 0),
                               phase1_config(self.recipe(attention_model, s, variant), attention_model))
        return out

    def all_configs(self) -> dict[str, TrainConfig]:
        """``{run key: config}`` of every run the notebook trains: phase 1's (:meth:`phase1_configs`), then the rest
        (:meth:`configs`); the grower and the plan read it."""
        return {**self.phase1_configs(), **self.configs()}

    def context_for(self, key: str) -> StudyContext:
        """The context the run of a key trains in: every run of this notebook shares one."""
        return self.context

    def _phase1_name(self, seed: int, variant: str | None = None) -> str:
        key = run_key(f"phase1@{variant}" if variant else "phase1", self.attention_model(), seed, 0)
        return self.context.name(self.phase1_configs()[key])

    def attention_model(self) -> str:
        """The phase-1 model: ``attention_model``, else the first backbone (the sweep's, when there is none)."""
        P = self.params
        return P.attention_model or (P.perturb_models[0] if P.perturb_models else P.sweep_model)

    def train(self) -> dict[str, Run]:
        """Phase 1 for every seed, then baselines, Perturb runs, the cluster sweep and the variants, then the models
        Figures 4 and 6 load (:meth:`loaded_runs`)."""
        self.train_phase1()
        return self.train_predictors()

    def train_phase1(self) -> dict[str, Run]:
        """Phase 1: the attention classifier of every seed (and of every variant whose recipe differs)."""
        self._grid(self.phase1_configs())
        return {k: r for k, r in self.runs.items() if k.startswith("phase1")}

    def train_predictors(self) -> dict[str, Run]:
        """Phase 3 and its baselines: every Perturb run (each clustering its phase 1's attention, phase 2, once per
        epoch), every baseline, the sweep and the variants; then the models Figures 4 and 6 load (published with their
        records, else trained again)."""
        self._grid(self.configs())
        for run in self.loaded_runs():
            restored = with_checkpoint(run, self.context)
            self.runs.update({k: restored for k, r in self.runs.items() if r.dir == run.dir})
        return self.runs

    def explained_seed(self) -> int:
        """The seed whose phase 1, baseline and Perturb run Figures 4 and 6 load."""
        return self.params.explained_seed(self.params.perturb_models[0], self.seeds)

    def loaded_keys(self) -> list[str]:
        """The keys of the runs whose models the notebook loads: the first backbone's phase 1, baseline and Perturb
        run of the explained seed (their models are published with their records); none without a backbone."""
        P = self.params
        if not P.perturb_models:
            return []
        model, seed = P.perturb_models[0], self.explained_seed()
        return [run_key("phase1", self.attention_model(), seed, 0), run_key("baseline", model, seed, 0),
                run_key("perturb", model, seed, P.n_clusters)]

    def loaded_runs(self) -> list[Run]:
        """The runs of :meth:`loaded_keys`."""
        return [self.runs[k] for k in self.loaded_keys()]

    def phase1_seeds(self) -> list[int]:
        """The seeds with a phase 1: every backbone's with a Perturb run, and the sweep's."""
        P = self.params
        return list(dict.fromkeys([s for m in P.perturb_models for s in P.seeds_of(m, self.seeds)] + list(P.sweep_seeds)))

    def phase1(self, seed: int) -> Run:
        """The phase-1 (attention) run of a seed."""
        return self.runs[run_key("phase1", self.attention_model(), seed, 0)]

    def clusters(self) -> dict:
        """Figure 4: phase 2 on its own (the first seed's phase 1), one test face per emotion."""
        seed = self.explained_seed()
        faces, landmarks, settings = self.context.faces, self.context.landmarks, self.context.settings
        phase1 = with_checkpoint(self.phase1(seed), self.context)
        rec = phase2_record(phase1, faces, self.options(), settings, seed=seed, landmarks=landmarks)
        test = faces.split(rec["test_split"])
        shown = np.asarray(rec["example_index"])
        pick = [int(next((i for i in shown if test.labels[i] == c), shown[0])) for c in range(len(EMOTIONS))]
        return {"images": test.images[pick], "labels": test.labels[pick], "attention": rec["attention"][pick],
                "own": rec["per_image_maps"][pick], "shared": rec["shared_map"],
                "overlap": pd.DataFrame(rec.get("overlap_shared") or []),
                "location": cluster_locations(rec["shared_map"], self.region_probability()), "seed": seed}

    def phase2_steps(self, emotion: str = "Happy") -> dict:
        """Phase 2 on one test face of ``emotion``, step by step (:func:`~perturb_lib.policies.clusters.cluster_steps`):
        the face, its attention under the explained seed's phase 1, the pixels selected, their Eq. 1 coordinates,
        their k-means labels and the map."""
        from ..policies.clusters import cluster_steps
        seed = self.explained_seed()
        device = self.context.settings.resolved_device()
        model = with_checkpoint(self.phase1(seed), self.context).model(str(device))
        test = split_tensors(self.context.faces, self.params.test_split, device, self.context.landmarks)
        index = int(np.flatnonzero(test.labels.cpu().numpy() == EMOTIONS.index(emotion))[0])
        x = test.batch(torch.tensor([index], device=device))
        attention = attention_maps(model, x)[0]
        allowed = face_pixels(test.landmarks[index:index + 1])[0] if self.params.cluster_region == "face" else None
        steps = cluster_steps(attention, x[0, 0], self.options(), torch.Generator(device=device).manual_seed(seed),
                              allowed)
        return {"face": (x[0, 0].cpu().numpy() * 255).round().astype(np.uint8), "attention": attention.cpu().numpy(),
                "emotion": emotion, "options": asdict(self.options()),
                **{k: v.cpu().numpy() for k, v in steps.items()}}

    def epoch_maps(self) -> np.ndarray | None:
        """The shared cluster map of every epoch of the explained seed's Perturb run, as it recorded them (None
        when it recorded none)."""
        run = self.runs.get(run_key("perturb", self.params.perturb_models[0], self.explained_seed(),
                                 self.params.n_clusters))
        if run is None or not (run.dir / POLICY_FILE).is_file():
            return None
        with np.load(run.dir / POLICY_FILE) as z:
            return z["shared_maps"] if "shared_maps" in z.files else None

    def training_batch(self, epoch: int = 1, faces: int = 8) -> dict:
        """What phase 3 trains on: a few training faces with one cluster of an epoch's recorded shared map masked
        out, as the explained seed's Perturb run drew them (or none: a face kept whole)."""
        from ..policies import make_policy
        maps = self.epoch_maps()
        if maps is None:
            return {}
        seed = self.explained_seed()
        run = self.runs[run_key("perturb", self.params.perturb_models[0], seed, self.params.n_clusters)]
        policy = make_policy(run.config["policy"])
        policy.map = torch.as_tensor(maps[epoch - 1]).long()
        train = split_tensors(self.context.faces, "Training", torch.device("cpu"), self.context.landmarks)
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(train), generator=gen)[:faces]
        x, _ = policy.train_inputs(train.batch(idx), train.labels[idx], train, idx, gen)
        return {"inputs": (x[:, 0].numpy() * 255).round().astype(np.uint8), "labels": train.labels[idx].numpy(),
                "map": maps[epoch - 1], "epoch": epoch}

    def region_probability(self) -> np.ndarray:
        """:func:`region_probability` of the training faces whose landmarks the detector found."""
        if not hasattr(self, "_probability"):
            from ..landmarks import detected
            P = self.params
            found = (detected(self.context.faces, P.landmark_source, P.landmark_file, P.cache_dir)
                     & (self.context.faces.splits == SPLITS.index("Training")))
            self._probability = region_probability(self.context.landmarks[found])
        return self._probability

    def locations(self) -> pd.DataFrame:
        """Where the shared clusters fell in each Perturb run of the sweep's backbone with ``n_clusters`` that recorded
        its maps, the study's own scheme and each variant's (see :attr:`SchemeResults.locations`)."""
        P, frames = self.params, []
        runs = [("paper", run_key("perturb", P.sweep_model, s, P.n_clusters), s)
                for s in sorted({*self.params.seeds_of(P.sweep_model, self.seeds), *P.sweep_seeds})]
        runs += [(v, run_key(f"perturb@{v}", P.sweep_model, s, 0), s) for v in P.scheme_variants for s in P.variant_seeds]
        for variant, key, seed in runs:
            run = self.runs.get(key)
            if run is None or not (run.dir / POLICY_FILE).is_file():
                continue
            with np.load(run.dir / POLICY_FILE) as z:
                maps = z["shared_maps"] if "shared_maps" in z.files else None
            if maps is None:
                continue
            kept = run.metrics["best_epoch"]
            frames.append(cluster_locations(maps[kept - 1], self.region_probability()).assign(
                variant=variant, seed=seed, epoch=kept))
        if not frames:
            return pd.DataFrame()
        table = pd.concat(frames, ignore_index=True)
        return table[["variant", "seed", "epoch"] + [c for c in table.columns if c not in ("variant", "seed", "epoch")]]

    def variants(self) -> pd.DataFrame:
        """Each variant of the scheme on its seeds, paired with the baseline of its seed and recipe, and the study's
        own scheme on the same seeds (like with like): accuracies, the paired change and its interval."""
        P, rows = self.params, []
        if not P.scheme_variants:
            return pd.DataFrame()
        model = P.sweep_model
        entries = [("paper", "the study's scheme (the paper's text)", "baseline", "perturb", P.n_clusters)]
        entries += [(v, ", ".join(f"{k} {val}" for k, val in c.items()), f"baseline@{v}", f"perturb@{v}", 0)
                    for v, c in P.scheme_variants.items()]
        for variant, changes, base_kind, kind, n in entries:
            seeds = [s for s in P.variant_seeds
                     if run_key(base_kind, model, s, 0) in self.runs and run_key(kind, model, s, n) in self.runs]
            if not seeds:
                continue
            labels, base = self._predictions(base_kind, model, 0, seeds)
            _, pert = self._predictions(kind, model, n, seeds)
            recipe = any(k in TrainConfig.defaults() for k in P.scheme_variants.get(variant, {}))
            row = {"variant": variant, "changes": changes, "recipe": recipe, "seeds": len(seeds)}
            for label, preds in (("baseline", base), ("perturb", pert)):
                row.update(estimate_columns(f"{label} acc", accuracy(labels, preds), ("ci",)))
            d = accuracy_difference(labels, base, pert)
            row.update({**estimate_columns("delta acc", d, DELTA_PARTS), "test faces": d.test_faces})
            rows.append(row)
        return pd.DataFrame(rows)

    # -------------------------------------------------------------------------------------- tables
    def _logits(self, kind: str, model: str, n: int, seeds, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, logits (S, N, C))`` of the runs ``kind/model/seed/n`` on a split (default: their test split)."""
        return Predictions.stack_logits([run_predictions(self.runs[run_key(kind, model, s, n)], self.context.faces, split=split,
                                                         landmarks=self.context.landmarks, settings=self.context.settings)
                                         for s in seeds])

    def _predictions(self, kind: str, model: str, n: int, seeds, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, preds (S, N))`` of the runs ``kind/model/seed/n`` on a split (default: their test split)."""
        labels, logits = self._logits(kind, model, n, seeds, split)
        return labels, logits.argmax(-1)

    def _seeds(self, model: str, n: int) -> list[int]:
        return [s for s in self.params.seeds_of(model, self.seeds) if run_key("perturb", model, s, n) in self.runs]

    def table2(self) -> pd.DataFrame:
        """Per backbone: test accuracy (%) and macro F1, baseline and Perturb, with intervals (seeds and test faces),
        the paired difference, and the paper's numbers for the same architecture."""
        rows = []
        for model in self.params.perturb_models:
            seeds = self._seeds(model, self.params.n_clusters)
            labels, base = self._predictions("baseline", model, 0, seeds)
            _, pert = self._predictions("perturb", model, self.params.n_clusters, seeds)
            row = {"model": model, "seeds": len(seeds)}
            for label, preds in (("baseline", base), ("perturb", pert)):
                for metric, fn in (("acc", accuracy), ("F1", macro_f1)):
                    row.update(estimate_columns(f"{label} {metric}", fn(labels, preds)))
            for label, kind, n in (("baseline", "baseline", 0), ("perturb", "perturb", self.params.n_clusters)):
                # an under-trained predictor shows here first: its last-epoch accuracy on its own training inputs
                row[f"{label} last train acc"] = float(np.mean([100 * self.runs[run_key(kind, model, s, n)].history[
                    "train_accuracy"].iloc[-1] for s in seeds]))
            d = accuracy_difference(labels, base, pert)
            row.update({**estimate_columns("delta acc", d, DELTA_PARTS), "test faces": d.test_faces,
                        "verdict": verdict(d)})
            pb, pp = TABLE2_BASELINE.get(paper_column(model)), TABLE2_PERTURB.get(paper_column(model))
            row["paper baseline acc"], row["paper perturb acc"] = (pb[0] if pb else np.nan), (pp[0] if pp else np.nan)
            row["paper delta acc"] = (pp[0] - pb[0]) if (pb and pp) else np.nan
            rows.append(row)
        rows += self._baselines_alone()
        return pd.DataFrame(rows)

    def _baselines_alone(self) -> list[dict]:
        """Table 2's rows of the models trained clean alone (``baseline_models``) and, when several models have
        baselines, of their ensemble (the sum of the models' logits, per seed, as the authors' code does)."""
        P, rows = self.params, []
        models = list(dict.fromkeys(list(P.perturb_models) + list(P.baseline_models)))
        columns = [(m, [m]) for m in P.baseline_models if m not in P.perturb_models]
        if len(models) > 1:
            columns.append(("Ensemble", models))
        for name, members in columns:
            seeds = [s for s in self.params.seeds_of(name, self.seeds, members if len(members) > 1 else None)
                     if all(run_key("baseline", m, s, 0) in self.runs for m in members)]
            if not seeds:
                continue
            parts = [self._logits("baseline", m, 0, seeds) for m in members]
            labels, preds = parts[0][0], ensemble_logits([p[1] for p in parts]).argmax(-1)
            row = {"model": name, "seeds": len(seeds)}
            if len(members) > 1:  # an ensemble names its members
                row["members"] = " + ".join(members)
            for metric, fn in (("acc", accuracy), ("F1", macro_f1)):
                row.update(estimate_columns(f"baseline {metric}", fn(labels, preds)))
            pb = TABLE2_BASELINE.get(paper_column(name) if name != "Ensemble" else "Ensemble")
            row.update({"paper baseline acc": pb[0] if pb else np.nan, "paper perturb acc": np.nan,
                        "paper delta acc": np.nan})
            rows.append(row)
        return rows

    def table3(self) -> pd.DataFrame:
        """Per-class change with the Perturb Scheme, long form per backbone, in the three measures of
        :func:`perturb_lib.tables.change_table` (``relative`` is the unit we read the paper's Table 3 in, as its
        Table 1)."""
        frames = []
        for model in self.params.perturb_models:
            seeds = self._seeds(model, self.params.n_clusters)
            labels, base = self._logits("baseline", model, 0, seeds)
            _, pert = self._logits("perturb", model, self.params.n_clusters, seeds)
            frames.append(change_table({model: (labels, base, pert)}))
        return pd.concat(frames, ignore_index=True)

    def sweep(self) -> pd.DataFrame:
        """Figure 5: accuracy and macro F1 against the number of clusters (0 = the baseline), on the validation
        split (which picks the best n) and on the test split (which reports it)."""
        rows = []
        model, P = self.params.sweep_model, self.params
        for n in [0] + sorted(P.cluster_sweep):
            kind = "baseline" if n == 0 else "perturb"
            seeds = [s for s in P.sweep_seeds if run_key(kind, model, s, n) in self.runs]
            row = {"n_clusters": n, "seeds": len(seeds)}
            for split, prefix in ((P.val_split, "val_"), (P.test_split, "")):
                labels, preds = self._predictions(kind, model, n, seeds, split)
                acc, f1 = accuracy(labels, preds), macro_f1(labels, preds)
                row.update({f"{prefix}accuracy": acc.value, f"{prefix}accuracy_ci": acc.half,
                            f"{prefix}macro_f1": f1.value, f"{prefix}macro_f1_ci": f1.half})
                # the change against no clusters, paired by seed (the same seed's baseline and phase 1)
                paired = [s for s in seeds if run_key("baseline", model, s, 0) in self.runs]
                _, base = self._predictions("baseline", model, 0, paired, split)
                _, mine = self._predictions(kind, model, n, paired, split)
                d = accuracy_difference(labels, base, mine)
                row.update({f"{prefix}delta": d.value, f"{prefix}delta lo": d.lo, f"{prefix}delta hi": d.hi})
            rows.append(row)
        table = pd.DataFrame(rows)
        perturbed = table[table["n_clusters"] > 0]
        table["chosen"] = table["n_clusters"] == (int(perturbed.loc[perturbed["val_accuracy"].idxmax(), "n_clusters"])
                                                  if len(perturbed) else -1)
        return table

    def cost(self) -> pd.DataFrame:
        """Clustering seconds per epoch and their share of the epoch, per Perturb run."""
        return pd.DataFrame([{"run": r.name, **clustering_cost(r)} for k, r in self.runs.items()
                             if RunKey.parse(k).kind == "perturb"])

    def figure6(self) -> dict:
        """The first backbone's baseline and Perturb run (first seed) explained on one test face per emotion."""
        P = self.params
        model = P.perturb_models[0]
        seed = self.explained_seed()
        runs = {"baseline": self.runs[run_key("baseline", model, seed, 0)],
                "Perturb Scheme": self.runs[run_key("perturb", model, seed, P.n_clusters)]}
        split = runs["baseline"].config["test_split"]
        test, test_lm = self.context.faces.split(split), self.context.landmarks[self.context.faces.splits == SPLITS.index(split)]
        return compare(runs, test, test_lm, pick_per_emotion(test.labels, 1, seed=1), P.figure_method,
                       device=self.context.settings.resolved_device())

    def results(self) -> SchemeResults:
        """Train what is missing and compute every table and figure's data."""
        if not self.runs:
            self.train()
        return SchemeResults(dataset=self.context.faces.name, options=asdict(self.options()),
                             phase1={s: self.phase1(s).name for s in self.phase1_seeds()},
                             clusters=self.clusters(), table2=self.table2(), table3=self.table3(), sweep=self.sweep(),
                             sweep_model=self.params.sweep_model, locations=self.locations(),
                             variants=self.variants(), cost=self.cost(), figure6=self.figure6(),
                             runs={k: r.name for k, r in self.runs.items()})
