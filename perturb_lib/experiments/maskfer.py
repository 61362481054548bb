"""The MaskFer degradation experiment (the paper's Table 1): which emotions suffer when the lower face is masked,
and when single facial features are removed.

:class:`MaskFerExperiment` turns the parameters into the grid of training runs it needs, trains (or reuses)
them, and computes :class:`MaskFerResults`: Table 1 (percent change of per-class accuracy, masked vs clean, per
model and for the ensemble), the cross conditions (clean-trained models tested on masked faces and back), the
feature-removal tables (trained clean and tested without a region; trained and tested without it), and on
synthetic faces a check against the known truth with its chance level.

Every comparison is paired: the same test faces (by id) under both conditions, the same seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..data.faces import EMOTIONS, SPLITS, FaceSet
from ..data.maskfer import load_maskfer_folders, load_maskfer_list
from ..data.registry import defining_regions
from ..evaluate import Predictions, ensemble, run_logits
from ..execution import Settings
from ..grid import run_grid
from ..landmarks import choose, detected
from ..params import MaskFerNotebook
from ..runs import CheckpointMissingError, Run, Study, StudyContext
from ..stats import count_span
from ..tables import accuracy, change_table, estimate_row
from ..train import TrainConfig, with_checkpoint
from .results import Results, RunKey, group_by_context, run_key

CLEAN = {"kind": "clean"}
FEATURES = ("eyes", "brows", "nose", "mouth")  # the single features whose removal the truth check compares


@dataclass
class MaskFerResults(Results):
    """What notebook 01 found.

    Attributes:
        dataset: the dataset's name.
        models, seeds: what was trained (``seeds``: those of a model without its own in ``model_seeds``).
        columns: Table 1's columns (the models, then ``Ensemble`` when there are several and they share a seed).
        column_seeds: each column's seeds (the ensemble's: those all its models share).
        mask_policy: the spec of the generated masks, or None when the published MaskFer images were used.
        maskfer_path: the published MaskFer folders, when used.
        membership: per split, how many faces MaskFer keeps (the detected ones, those with a published masked
            twin, or all) and, given the published list, how they agree with it.
        table1: long form (see :mod:`perturb_lib.tables`): relative % change of per-class accuracy.
        cross_conditions: ``model``, ``condition`` (trained -> tested), ``mean``, ``ci``, ``pred``, ``seeds``
            (test accuracy %).
        removal_tested: long form per ``model``: trained clean, tested with a region removed.
        removal_trained: long form: trained and tested with a region removed, vs trained and tested clean.
        truth_check: synthetic faces only: per emotion, whether the most harmful single-feature removal is one
            of the emotion's (measured) defining regions.
        truth_summary: the check's score, its chance level and a p-value against a random ranking.
        mask_probe: generated masks only: how well a probe reads the emotion from the mask's pixels
            (:func:`mask_probe`).
        runs: run names by :func:`run_key`.
        explain_seed: the seed whose clean and masked runs notebook 02 explains.
    """

    name = "maskfer"
    made_by = "01_maskfer_degradation"

    dataset: str = ""
    models: list = field(default_factory=list)
    seeds: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    column_seeds: dict = field(default_factory=dict)
    mask_policy: dict | None = None
    maskfer_path: str | None = None
    membership: pd.DataFrame = field(default_factory=pd.DataFrame)
    table1: pd.DataFrame = field(default_factory=pd.DataFrame)
    cross_conditions: pd.DataFrame = field(default_factory=pd.DataFrame)
    removal_tested: pd.DataFrame = field(default_factory=pd.DataFrame)
    removal_trained: pd.DataFrame = field(default_factory=pd.DataFrame)
    truth_check: pd.DataFrame = field(default_factory=pd.DataFrame)
    truth_summary: dict = field(default_factory=dict)
    mask_probe: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    explain_seed: int = 0

    def seed_counts(self) -> str:
        """How many seeds Table 1's columns have: ``5``, or ``3-5`` when they differ."""
        return count_span([len(self.column_seeds[c]) for c in self.columns] or [len(self.seeds)])

    def run(self, study: Study, model: str, seed: int, condition: str) -> Run:
        """A MaskFer run (condition ``clean`` or ``masked``) of this experiment, found in ``study``."""
        key = run_key("maskfer", model, seed, condition)
        if key not in self.runs:
            raise KeyError(f"no run {key}; notebook 01 trained models {self.models} with seeds "
                           f"{self.column_seeds or self.seeds}")
        return study.run(self.runs[key])


def maskfer_experiment(params: MaskFerNotebook, faces: FaceSet, landmarks: np.ndarray,
                       out=print) -> "MaskFerExperiment":
    """Notebook 01's experiment on these faces: with the published MaskFer images when ``maskfer_path`` names them
    (their pairing with the originals reported to ``out``), else with masks drawn from the landmarks."""
    masked = None
    if params.maskfer_path:
        pairs = load_maskfer_folders(params.maskfer_path, faces)
        out(pairs.report())
        masked = pairs.masked
    return MaskFerExperiment(params, faces, landmarks, masked)


class MaskFerExperiment:
    """The runs and tables of notebook 01.

    Args:
        params: the notebook's parameters.
        faces: the dataset (clean faces).
        landmarks: (N, K, 2) landmarks of ``faces`` (masks and removals are drawn from them).
        masked_faces: published MaskFer images paired with their originals (``None``: masks are generated).
            Then, unless ``params.maskfer_all_clean``, clean runs train on the faces that have a masked twin, so
            that clean and masked runs see the same faces.
    """

    def __init__(self, params: MaskFerNotebook, faces: FaceSet, landmarks: np.ndarray,
                 masked_faces: FaceSet | None = None):
        if masked_faces is not None:  # the published images: their faces are MaskFer's
            kept, selection = np.isin(faces.ids, masked_faces.ids), "maskfer"
        elif params.maskfer_faces == "detected":  # MaskTheFace's rule: the faces its detector finds
            kept = detected(faces, params.landmark_source, params.landmark_file, params.cache_dir)
            selection = choose(faces, params.landmark_source, params.landmark_file)
        else:
            kept, selection = np.ones(len(faces), dtype=bool), "all"
        published = load_maskfer_list(params.maskfer_list, faces) if params.maskfer_list else None
        self.membership = membership_table(faces.splits, kept, published)
        if not (masked_faces is not None and params.maskfer_all_clean) and not kept.all():
            faces, landmarks = faces.subset(kept, selection=selection), landmarks[kept]
        self.params, self.masked_faces = params, masked_faces
        #: the faces Table 1 trains on, their landmarks, the study and the settings every run shares
        self.context = StudyContext(faces, Study.of_params(params), landmarks, Settings.of(params))
        #: where the masked runs train when the study uses the published MaskFer images (None: masks are drawn)
        self.masked_context = None if masked_faces is None else self.context.on(masked_faces)
        self.mask = CLEAN if masked_faces is not None else {"kind": "mask", "style": params.mask_style, "seed": 0}
        self.runs: dict[str, Run] = {}

    # ------------------------------------------------------------------------------------- the grid
    def configs(self) -> dict[str, TrainConfig]:
        """``{run key: config}`` for every run of the notebook."""
        P = self.params
        out = {}
        for model in P.models:
            for seed in P.seeds_of(model, P.seeds):
                out[run_key("maskfer", model, seed, "clean")] = TrainConfig.from_params(P, model=model, seed=seed)
                out[run_key("maskfer", model, seed, "masked")] = TrainConfig.from_params(P, model=model, seed=seed,
                                                                                        policy=self.mask)
        for region in P.removal_train_regions:
            for seed in P.removal_train_seeds:
                out[run_key("removal", P.removal_model, seed, region)] = TrainConfig.from_params(
                    P, model=P.removal_model, seed=seed, policy={"kind": "remove", "region": region,
                                                                 "fill": P.removal_fill})
        return out

    def all_configs(self) -> dict[str, TrainConfig]:
        """``{run key: config}`` of every run the notebook trains (:meth:`configs`; the grower and the plan read it)."""
        return self.configs()

    def context_for(self, key: str) -> StudyContext:
        """The context the run of a key trains in: the masked runs on the published MaskFer images when the study
        uses them, every other run on Table 1's faces."""
        if self.masked_context is not None and RunKey.parse(key)[::3] == ("maskfer", "masked"):
            return self.masked_context
        return self.context

    def train(self) -> dict[str, Run]:
        """Train (or reuse) every run of :meth:`configs`, each in its context (:meth:`context_for`), then have the
        models of the two runs notebook 02 explains (:meth:`loaded_runs`: published with their records, else trained
        again)."""
        configs = self.configs()
        self.runs = {}
        for context, keys in group_by_context(self, configs).items():
            self.runs.update(zip(keys, run_grid([configs[k] for k in keys], context, grid=self.params)))
        for run in self.loaded_runs():  # notebook 02 explains these two models
            self.restore(run)
        return self.runs

    def explained_seed(self) -> int:
        """The seed whose clean and masked runs notebook 02 explains (``explain_seed``, else the first)."""
        return self.params.explained_seed(self.params.models[0], self.params.seeds)

    def loaded_keys(self) -> list[str]:
        """The keys of the runs whose models notebook 02 loads: the first model's clean and masked runs of the
        explained seed."""
        model, seed = self.params.models[0], self.explained_seed()
        return [run_key("maskfer", model, seed, c) for c in ("clean", "masked")]

    def loaded_runs(self) -> list[Run]:
        """The runs of :meth:`loaded_keys`."""
        return [self.runs[k] for k in self.loaded_keys()]

    def evaluate(self, run: Run) -> None:
        """Compute, and store beside the run's record, every evaluation of one run that this notebook's tables read
        (:meth:`evaluations`). Called while the run's checkpoint is here, so that its record carries them and a study
        elsewhere need not train it again."""
        published = self.context_of(run) is not self.context
        for tested, policy in self.evaluations(run.config["policy"], published):
            self._logits(run, tested, policy)

    def evaluations(self, policy: dict, on_published_masks: bool = False) -> list[tuple[str, dict | None]]:
        """``(tested, policy)`` of every evaluation the tables read of a run trained under ``policy``: a MaskFer run
        (clean or masked) on clean and on masked test faces, a clean one also with each region of
        ``removal_regions`` removed; a run trained without a region, tested without it."""
        if policy["kind"] == "remove":
            return [("clean", policy)]
        out = [("clean", None), ("masked", None)]
        if policy["kind"] == "clean" and not on_published_masks:
            out += [("clean", self._removal(region)) for region in self.params.removal_regions]
        return out

    def tested(self, tested: str, policy: dict | None = None) -> tuple[FaceSet, dict, np.ndarray | None]:
        """``(faces, test-time policy, landmarks)`` of a condition (``clean``, ``masked``, or the clean faces under
        ``policy``)."""
        if tested == "masked" and self.masked_faces is not None:  # published MaskFer: its own image set
            return self.masked_faces, CLEAN, None
        return self.context.faces, policy or (self.mask if tested == "masked" else CLEAN), self.context.landmarks

    def _removal(self, region: str) -> dict:
        """The policy spec that removes a region from the test faces."""
        return {"kind": "remove", "region": region, "fill": self.params.removal_fill}

    # ---------------------------------------------------------------------------------- predictions
    def _logits(self, run: Run, tested: str, policy: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ids, labels, logits)`` of a run on the test faces of a condition (``clean``, ``masked``, or the
        clean faces under ``policy``)."""
        faces, spec, lm = self.tested(tested, policy)
        split = run.config["test_split"]
        try:
            logits, labels = run_logits(run, faces, policy=spec, split=split, landmarks=lm, settings=self.context.settings)
        except CheckpointMissingError:  # a record from the ledger, and this evaluation is not cached: train it again
            run = self.restore(run)
            logits, labels = run_logits(run, faces, policy=spec, split=split, landmarks=lm, settings=self.context.settings)
        return faces.ids[faces.splits == SPLITS.index(split)], labels, logits

    def context_of(self, run: Run) -> StudyContext:
        """The context a run of this experiment was trained in: on the published MaskFer images (masked runs, when
        the study uses them), else on Table 1's faces."""
        if self.masked_context is not None and run.config["data"]["fingerprint"] == self.masked_faces.fingerprint():
            return self.masked_context
        return self.context

    def restore(self, run: Run) -> Run:
        """A run of this experiment with its checkpoint (trained again when only its record is here)."""
        restored = with_checkpoint(run, self.context_of(run))
        self.runs.update({k: restored for k, r in self.runs.items() if r.dir == run.dir})
        return restored

    def predictions(self, column: str, seed: int, trained: str, tested: str, policy: dict | None = None) -> Predictions:
        """A model's (or the ensemble's: summed logits) test predictions, trained on ``trained`` faces and tested
        on ``tested`` faces (or on clean faces under ``policy``)."""
        models = self.params.models if column == "Ensemble" else [column]
        return ensemble([Predictions(*self._logits(self.runs[run_key("maskfer", m, seed, trained)], tested, policy))
                         for m in models])

    def _paired(self, base: list[Predictions], new: list[Predictions]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(labels, base logits (S, N, C), new logits (S, N, C))`` on the faces both share, by id."""
        labels, stacked = Predictions.stack_logits(base + new)
        return labels, stacked[:len(base)], stacked[len(base):]

    def columns(self) -> list[str]:
        """Our models, then ``Ensemble`` when there are several (and they share a seed)."""
        return list(self.column_seeds)

    @property
    def column_seeds(self) -> dict[str, list[int]]:
        """Table 1's columns and their seeds: each model's own (:meth:`~perturb_lib.params.ModelRecipes.seeds_of`),
        then ``Ensemble`` (its logits summed per seed, over the seeds all its models share) when there are several
        models and they share a seed."""
        P = self.params
        out = {m: P.seeds_of(m, P.seeds) for m in P.models}
        shared = P.seeds_of("Ensemble", P.seeds, members=list(P.models))
        if len(P.models) > 1 and shared:
            out["Ensemble"] = shared
        return out

    # ------------------------------------------------------------------------------------- tables
    def table1(self) -> pd.DataFrame:
        """Relative % change of per-class accuracy, trained and tested masked vs trained and tested clean."""
        return change_table({c: self._paired([self.predictions(c, s, "clean", "clean") for s in self.column_seeds[c]],
                                             [self.predictions(c, s, "masked", "masked") for s in self.column_seeds[c]])
                             for c in self.columns()})

    def cross_conditions(self) -> pd.DataFrame:
        """Test accuracy (%) for each train -> test condition, per model and ensemble."""
        rows = []
        for column in self.columns():
            for trained in ("clean", "masked"):
                for tested in ("clean", "masked"):
                    labels, preds = Predictions.stack([self.predictions(column, s, trained, tested)
                                                       for s in self.column_seeds[column]])
                    rows.append({"model": column, "condition": f"{trained} -> {tested}",
                                 **estimate_row(accuracy(labels, preds))})
        return pd.DataFrame(rows)

    def removal_tested(self) -> pd.DataFrame:
        """Trained clean, tested with one region removed: relative % change of per-class accuracy vs clean test."""
        frames = []
        for model in self.params.models:
            seeds = self.column_seeds[model]
            clean = [self.predictions(model, s, "clean", "clean") for s in seeds]
            cells = {region: self._paired(clean, [self.predictions(model, s, "clean", "clean", self._removal(region))
                                                  for s in seeds])
                     for region in self.params.removal_regions}
            frames.append(change_table(cells).assign(model=model))
        return pd.concat(frames, ignore_index=True)

    def removal_trained(self) -> pd.DataFrame:
        """Trained and tested with one region removed, vs trained and tested clean (same model and seeds)."""
        P = self.params
        seeds = [s for s in P.removal_train_seeds if run_key("maskfer", P.removal_model, s, "clean") in self.runs]
        if not seeds or not P.removal_train_regions:
            return pd.DataFrame()
        clean = [self.predictions(P.removal_model, s, "clean", "clean") for s in seeds]
        cells = {}
        for region in P.removal_train_regions:
            removed = []
            for s in seeds:
                run = self.runs[run_key("removal", P.removal_model, s, region)]
                ids, labels, logits = self._logits(run, "clean", run.config["policy"])
                removed.append(Predictions(ids, labels, logits))
            cells[region] = self._paired(clean, removed)
        return change_table(cells).assign(model=P.removal_model)

    # ------------------------------------------------------------------------------------ results
    def results(self) -> MaskFerResults:
        """Train what is missing and compute every table."""
        if not self.runs:
            self.train()
        removal = self.removal_tested()
        truth, summary = pd.DataFrame(), {}
        if "aus" in self.context.faces.extras:  # synthetic faces: which regions define each emotion is known
            defining = defining_regions(cache_dir=self.params.cache_dir)
            truth, summary = truth_check(removal[removal["model"] == self.params.removal_model], defining)
        return MaskFerResults(
            dataset=self.context.faces.name, models=list(self.params.models), seeds=list(self.params.seeds), columns=self.columns(),
            column_seeds=self.column_seeds,
            mask_policy=None if self.masked_faces is not None else self.mask, maskfer_path=self.params.maskfer_path,
            membership=self.membership, table1=self.table1(), cross_conditions=self.cross_conditions(), removal_tested=removal,
            removal_trained=self.removal_trained(), truth_check=truth, truth_summary=summary,
            mask_probe={} if self.masked_faces is not None else mask_probe(
                self.context.faces, self.context.landmarks, self.params.mask_style, self.params.test_split),
            runs={k: r.name for k, r in self.runs.items()}, explain_seed=self.explained_seed())


def membership_table(splits: np.ndarray, kept: np.ndarray, published: np.ndarray | None = None) -> pd.DataFrame:
    """Per split and in all: faces, how many MaskFer keeps, and - given the published list - how many are in both,
    only ours, only the published, and the share of all faces on which the two agree.

    Args:
        splits: (N,) split index of every face.
        kept: (N,) bool, the faces we keep.
        published: (N,) bool, the faces the published MaskFer holds (None: not known).
    """
    rows = []
    for name, sel in [(s, splits == i) for i, s in enumerate(SPLITS)] + [("all", np.ones(len(splits), bool))]:
        row = {"split": name, "faces": int(sel.sum()), "kept": int(kept[sel].sum()),
               "kept %": round(100 * float(kept[sel].mean()), 1) if sel.any() else float("nan")}
        if published is not None:
            row.update({"published": int(published[sel].sum()), "both": int((kept & published)[sel].sum()),
                        "only ours": int((kept & ~published)[sel].sum()),
                        "only published": int((~kept & published)[sel].sum()),
                        "agreement %": round(100 * float((kept == published)[sel].mean()), 2)})
        rows.append(row)
    return pd.DataFrame(rows)


def truth_check(removal: pd.DataFrame, defining: dict[str, tuple[str, ...]]) -> tuple[pd.DataFrame, dict]:
    """For each emotion defined by some regions: which single feature's removal hurts it most, and is it one of
    its defining regions? Scored against a random ranking of the features.

    A removal that lowers no emotion's accuracy (every change >= 0) cannot agree: a model that ignores the face
    (one looking only at the image border, say) scores 0. Neutral is defined by no region and is left out.

    Args:
        removal: a long removal table (``row`` emotion, ``column`` region, ``mean``).
        defining: the defining regions of each emotion (:func:`perturb_lib.data.defining_regions`).

    Returns:
        The per-emotion table, and ``{"score", "emotions", "chance", "p_value", "beats_chance"}``: the number of
        emotions that agree, how many were checked, the score expected from a random ranking of the four
        features, and the probability of a score at least as high by chance (exact, over random rankings).
    """
    rows, chances = [], []
    features = removal[removal["column"].isin(FEATURES)]
    for emo in EMOTIONS:
        regions = defining.get(emo) or ()
        sub = features[features["row"] == emo].groupby("column")["mean"].mean().dropna()
        if not regions or sub.empty:
            continue
        worst = sub.idxmin()
        hurt = bool(sub[worst] < 0)
        rows.append({"emotion": emo, "defining regions": ", ".join(regions),
                     "most harmful removal": worst if hurt else "(none lowers it)",
                     "change %": round(float(sub[worst]), 1), "agrees": hurt and worst in regions})
        chances.append(len([r for r in regions if r in sub.index]) / len(sub))
    table = pd.DataFrame(rows)
    if table.empty:
        return table, {}
    score = int(table["agrees"].sum())
    return table, {"score": score, "emotions": len(table), "chance": float(sum(chances)),
                   "p_value": score_p_value(score, chances), "beats_chance": score_p_value(score, chances) < 0.05}


def score_p_value(score: int, chances: list[float]) -> float:
    """P(a score >= ``score``) when emotion ``i`` agrees by chance with probability ``chances[i]`` (the
    Poisson-binomial distribution, computed exactly)."""
    dist = np.array([1.0])
    for p in chances:
        dist = np.convolve(dist, [1 - p, p])
    return float(dist[score:].sum())


COVERED_SHARE = 0.95  # mask_probe: a pixel is a probe feature when at least this share of the masks cover it


def mask_probe(faces: FaceSet, landmarks: np.ndarray, style: str = "n95", test_split: str = "PrivateTest") -> dict:
    """Does the mask show the face through it? A logistic regression trained on the pixels that (nearly) every
    face's mask covers (so the mask's outline, which follows the jaw, plays no part) predicts the emotion on the test
    split.

    Returns:
        ``{"balanced_accuracy", "chance", "chance_band", "pixels", "test_faces"}``: chance is 1/7, and a probe
        within ``chance_band`` (3 standard errors of a chance-level balanced accuracy) reads nothing.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    from ..images import id_keys
    from ..policies import mask_layers
    x = torch.as_tensor(faces.images).float() / 255
    alpha, tone = mask_layers(x, torch.as_tensor(landmarks, dtype=torch.float32), id_keys(faces.ids), style)
    # Real faces vary in pose and size, so no pixel is under every mask (the probe then had no feature): take the
    # pixels at least 95 % of the masks cover, and give a face whose mask misses some of them its own mean mask tone
    # there, so neither its face pixels nor its mask's outline (which follows the jaw) reach the probe.
    covered = alpha > 0.99
    share = covered.float().mean(0)
    always = share >= min(COVERED_SHARE, float(share.max()))
    inside = covered[:, always]
    mean_tone = (tone[:, always] * inside).sum(1) / inside.sum(1).clamp(min=1)
    feats = torch.where(inside, tone[:, always], mean_tone[:, None]).numpy()
    train, test = faces.splits == SPLITS.index("Training"), faces.splits == SPLITS.index(test_split)
    probe = LogisticRegression(max_iter=3000, class_weight="balanced").fit(feats[train], faces.labels[train])
    score = balanced_accuracy_score(faces.labels[test], probe.predict(feats[test]))
    chance = 1 / len(EMOTIONS)
    return {"balanced_accuracy": float(score), "chance": chance, "pixels": int(always.sum()),
            "chance_band": float(3 * np.sqrt(chance * (1 - chance) / test.sum() * len(EMOTIONS))),
            "test_faces": int(test.sum())}
