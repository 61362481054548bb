"""The MaskFer degradation study (notebook 01): which emotions suffer when the lower face is masked, and when
single facial features are removed.

:class:`MaskFerStudy` turns a notebook's parameters into the grid of training runs it needs, trains (or reuses)
them, and computes the tables: Table 1 (percent change of per-class accuracy, masked vs clean, per model and
for the ensemble), the cross conditions (clean-trained models tested on masked faces and back), and the
feature-removal tables (trained clean and tested without a region; trained and tested without it), with the
synthetic faces' known truth as a check.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data.faces import EMOTIONS, FaceSet
from .grid import run_grid
from .metrics import classification_metrics
from .paper import paper_column
from .runs import Run
from .stats import mean_ci, within_noise
from .train import Settings, TrainConfig, evaluate_run, run_logits

CLEAN = {"kind": "clean"}
FEATURES = ("eyes", "brows", "nose", "mouth")  # the single features whose removal the truth check compares


def percent_change(new, base) -> np.ndarray:
    """Per-class percent change of recall, ``100 * (new - base) / base`` (NaN where ``base`` is 0 or NaN)."""
    new, base = np.asarray(new, dtype=float), np.asarray(base, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(base > 0, 100 * (new - base) / base, np.nan)


def summarise(cells: dict[str, list[np.ndarray]], index=EMOTIONS) -> pd.DataFrame:
    """Mean, 95% half-width and a within-noise flag per row and column from per-seed vectors.

    Args:
        cells: ``{column: [vector over index, one per seed]}``.
        index: row labels of the vectors.

    Returns:
        A long DataFrame with columns ``row``, ``column``, ``mean``, ``ci``, ``noise``, ``seeds``.
    """
    rows = []
    for column, vectors in cells.items():
        stacked = np.asarray(vectors, dtype=float).reshape(len(vectors), -1)
        for i, name in enumerate(index):
            m, h = mean_ci(stacked[:, i])
            rows.append({"row": name, "column": column, "mean": m, "ci": h, "noise": within_noise(m, h),
                         "seeds": int(np.isfinite(stacked[:, i]).sum())})
    return pd.DataFrame(rows)


def pivot(long: pd.DataFrame, value: str = "mean", index=EMOTIONS) -> pd.DataFrame:
    """A wide table (rows x columns) of one value of a :func:`summarise` frame, in the original orders."""
    columns = list(dict.fromkeys(long["column"]))
    out = long.pivot(index="row", columns="column", values=value).reindex(index=list(index), columns=columns)
    out.index.name, out.columns.name = "emotion" if index is EMOTIONS else "row", None
    return out


def formatted(long: pd.DataFrame, digits: int = 0, index=EMOTIONS) -> pd.DataFrame:
    """``mean ± ci`` strings, with ``~`` where the interval includes zero."""
    from .stats import fmt_ci
    text = long.assign(text=[fmt_ci(m, c, digits, "%") for m, c in zip(long["mean"], long["ci"])])
    return pivot(text, "text", index)


@dataclass
class MaskFerStudy:
    """The runs and tables of notebook 01.

    Args:
        P: the notebook's validated parameters (see :data:`perturb_lib.params.NOTEBOOK_PARAMS`).
        faces: the dataset (clean faces).
        landmarks: (N, 68, 2) landmarks of ``faces`` (masks and removals are drawn from them).
        masked_faces: published MaskFer images paired with their originals (``None``: masks are generated).
    """

    P: object
    faces: FaceSet
    landmarks: np.ndarray
    masked_faces: FaceSet | None = None

    def __post_init__(self):
        self.settings = Settings(device=self.P.device)
        self.mask = CLEAN if self.masked_faces is not None else {"kind": "mask", "style": self.P.mask_style, "seed": 0}
        self.runs: dict[tuple, Run] = {}

    # ------------------------------------------------------------------------------------- the grid
    def configs(self) -> dict[tuple, TrainConfig]:
        """``{(kind, model, seed, condition): config}`` for every run of the notebook."""
        base, P = TrainConfig.from_params(self.P), self.P
        out = {}
        for model in P.models:
            for seed in P.seeds:
                out[("maskfer", model, seed, "clean")] = base.replace(model=model, seed=seed)
                out[("maskfer", model, seed, "masked")] = base.replace(model=model, seed=seed, policy=self.mask)
        for region in P.removal_train_regions:
            for seed in P.removal_train_seeds:
                out[("removal", P.removal_model, seed, region)] = base.replace(
                    model=P.removal_model, seed=seed, policy={"kind": "remove", "region": region,
                                                              "fill": P.removal_fill, "seed": 0})
        return out

    def train(self) -> dict[tuple, Run]:
        """Train (or reuse) every run; masked runs on published MaskFer use those images."""
        configs = self.configs()
        P = self.P
        masked_keys = [k for k in configs if k[0] == "maskfer" and k[3] == "masked"]
        main_keys = [k for k in configs if k not in masked_keys or self.masked_faces is None]
        runs = run_grid([configs[k] for k in main_keys], self.faces, P.study_dir, self.settings, self.landmarks,
                        backend=P.backend, address=P.ray_address)
        self.runs = dict(zip(main_keys, runs))
        if self.masked_faces is not None and masked_keys:
            masked = run_grid([configs[k] for k in masked_keys], self.masked_faces, P.study_dir, self.settings,
                              backend=P.backend, address=P.ray_address)
            self.runs.update(zip(masked_keys, masked))
        return self.runs

    # ------------------------------------------------------------------------------------- Table 1
    def _logits(self, run: Run, tested: str) -> tuple[np.ndarray, np.ndarray]:
        """A run's test logits on the ``tested`` condition's faces."""
        if self.masked_faces is not None:  # published MaskFer: each condition is its own image set
            faces = self.masked_faces if tested == "masked" else self.faces
            return run_logits(run, faces, CLEAN, settings=self.settings)
        return run_logits(run, self.faces, self.mask if tested == "masked" else CLEAN, landmarks=self.landmarks,
                          settings=self.settings)

    def _metrics(self, model: str, seed: int, trained: str, tested: str) -> dict:
        """Test metrics of the run trained on ``trained`` faces, evaluated on ``tested`` faces."""
        run = self.runs[("maskfer", model, seed, trained)]
        if trained == tested:
            return run.metrics["test"]
        logits, labels = self._logits(run, tested)
        return classification_metrics(labels, logits.argmax(1))

    def _ensemble_metrics(self, seed: int, trained: str, tested: str) -> dict:
        logits, labels = None, None
        for model in self.P.models:
            lg, labels = self._logits(self.runs[("maskfer", model, seed, trained)], tested)
            logits = lg if logits is None else logits + lg
        return classification_metrics(labels, logits.argmax(1))

    def columns(self) -> list[str]:
        """Our models, then ``Ensemble`` when there are several."""
        return list(self.P.models) + (["Ensemble"] if len(self.P.models) > 1 else [])

    def condition_metrics(self, column: str, seed: int, trained: str, tested: str) -> dict:
        if column == "Ensemble":
            return self._ensemble_metrics(seed, trained, tested)
        return self._metrics(column, seed, trained, tested)

    def table1(self) -> pd.DataFrame:
        """Percent change of per-class accuracy, trained and tested masked vs trained and tested clean.

        Returns:
            Long form (see :func:`summarise`), one column per model and the ensemble.
        """
        cells = {}
        for column in self.columns():
            cells[column] = [percent_change(self.condition_metrics(column, s, "masked", "masked")["per_class_recall"],
                                            self.condition_metrics(column, s, "clean", "clean")["per_class_recall"])
                             for s in self.P.seeds]
        return summarise(cells)

    def cross_conditions(self) -> pd.DataFrame:
        """Test accuracy (mean ± 95% CI over seeds) for each train -> test condition, per model and ensemble."""
        rows = []
        for column in self.columns():
            for trained in ("clean", "masked"):
                for tested in ("clean", "masked"):
                    acc = [self.condition_metrics(column, s, trained, tested)["accuracy"] * 100 for s in self.P.seeds]
                    m, h = mean_ci(acc)
                    rows.append({"model": column, "condition": f"{trained} -> {tested}", "mean": m, "ci": h})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------------------------ removal
    def removal_tested(self) -> pd.DataFrame:
        """Trained clean, tested with one region removed: percent change of per-class accuracy vs clean test.

        Returns:
            Long form with ``row`` = emotion, ``column`` = region, plus ``model``.
        """
        frames = []
        for model in self.P.models:
            cells = {}
            for region in self.P.removal_regions:
                policy = {"kind": "remove", "region": region, "fill": self.P.removal_fill, "seed": 0}
                cells[region] = []
                for s in self.P.seeds:
                    run = self.runs[("maskfer", model, s, "clean")]
                    removed = evaluate_run(run, self.faces, policy, landmarks=self.landmarks, settings=self.settings)
                    cells[region].append(percent_change(removed["per_class_recall"], run.metrics["test"]["per_class_recall"]))
            frames.append(summarise(cells).assign(model=model))
        return pd.concat(frames, ignore_index=True)

    def removal_trained(self) -> pd.DataFrame:
        """Trained and tested with one region removed, vs trained and tested clean (same model and seeds)."""
        P = self.P
        cells = {}
        for region in P.removal_train_regions:
            cells[region] = [percent_change(self.runs[("removal", P.removal_model, s, region)].metrics["test"]["per_class_recall"],
                                            self.runs[("maskfer", P.removal_model, s, "clean")].metrics["test"]["per_class_recall"])
                             for s in P.removal_train_seeds if ("maskfer", P.removal_model, s, "clean") in self.runs]
        return summarise(cells).assign(model=P.removal_model) if cells else pd.DataFrame()


def largest_drop(long: pd.DataFrame) -> dict:
    """The most negative mean change in a long table: ``{"row", "column", "mean", "ci"}``."""
    if long.empty or long["mean"].isna().all():
        return {}
    r = long.loc[long["mean"].idxmin()]
    return {k: (None if isinstance(r[k], float) and math.isnan(r[k]) else r[k]) for k in ("row", "column", "mean", "ci")}


def truth_check(removal: pd.DataFrame, defining: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """For each emotion defined by some regions: which single feature's removal hurts it most, and is it one
    of its defining regions? (Neutral is defined by no region and is left out.)"""
    rows = []
    features = removal[removal["column"].isin(FEATURES)]
    for emo in EMOTIONS:
        if not defining.get(emo):
            continue
        sub = features[features["row"] == emo].groupby("column")["mean"].mean()
        if sub.empty or sub.isna().all():
            continue
        worst = sub.idxmin()
        rows.append({"emotion": emo, "defining regions": ", ".join(defining[emo]), "most harmful removal": worst,
                     "change %": round(float(sub[worst]), 1), "agrees": worst in defining[emo]})
    return pd.DataFrame(rows)


def paper_beside(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our wide Table 1 (columns = our models) with the paper's matching columns beside it."""
    out = {}
    for column in ours.columns:
        name = paper_column(column) if column != "Ensemble" else "Ensemble"
        out[f"{column} (ours)"] = ours[column]
        out[f"{name} (paper)"] = paper[name]
    df = pd.DataFrame(out)
    df.index.name = "emotion"
    return df
