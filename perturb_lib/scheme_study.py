"""The Perturb Scheme study (notebook 03): which runs it needs, and Tables 2-3 and Figures 4-5 from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data.faces import EMOTIONS, FaceSet
from .degradation import summarise
from .grid import run_grid
from .paper import TABLE2_BASELINE, TABLE2_PERTURB, TABLE3, paper_column
from .runs import Run
from .scheme import PAPER_SCHEME, clustering_cost, perturb_config, phase1_config, phase2_record
from .stats import mean_ci
from .train import Settings, TrainConfig


@dataclass
class SchemeStudy:
    """The runs and tables of notebook 03.

    Args:
        P: the notebook's validated parameters.
        faces: the dataset.
    """

    P: object
    faces: FaceSet

    def __post_init__(self):
        self.settings = Settings(device=self.P.device)
        self.runs: dict[tuple, Run] = {}
        self.phase1: Run | None = None

    def scheme(self, n: int | None = None) -> dict:
        """The Perturb policy options the parameters select."""
        P = self.P
        return {**PAPER_SCHEME, "n_clusters": n or P.n_clusters, "lam": P.lam, "alpha": P.alpha,
                "features": P.cluster_features, "selection": P.cluster_selection, "top_fraction": P.top_fraction,
                "scope": P.cluster_scope, "sample": P.cluster_sample, "masking": P.masking, "fill": P.fill_value,
                "test": P.test_policy}

    def train(self) -> dict[tuple, Run]:
        """Phase 1 (once, with the first seed), then baselines, Perturb runs and the cluster sweep."""
        P = self.P
        base = TrainConfig.from_params(P)
        attention_model = P.attention_model or P.perturb_models[0]
        (self.phase1,) = run_grid([phase1_config(base.replace(seed=P.seeds[0]), attention_model)], self.faces,
                                  P.study_dir, self.settings, backend=P.backend, address=P.ray_address)
        configs = {}
        for model in P.perturb_models:
            for seed in P.seeds:
                configs[("baseline", model, seed, 0)] = base.replace(model=model, seed=seed)
                configs[("perturb", model, seed, P.n_clusters)] = perturb_config(base.replace(seed=seed), model,
                                                                                self.phase1, self.scheme())
        for seed in P.sweep_seeds:
            configs.setdefault(("baseline", P.sweep_model, seed, 0), base.replace(model=P.sweep_model, seed=seed))
            for n in P.cluster_sweep:
                configs[("perturb", P.sweep_model, seed, n)] = perturb_config(base.replace(seed=seed), P.sweep_model,
                                                                             self.phase1, self.scheme(n))
        runs = run_grid(list(configs.values()), self.faces, P.study_dir, self.settings, backend=P.backend,
                        address=P.ray_address)
        self.runs = dict(zip(configs, runs))
        return self.runs

    def clusters(self) -> dict:
        """Phase 2 on its own (shared map, per-image maps, overlap with true regions when known)."""
        return phase2_record(self.phase1, self.faces, self.P.study_dir, self.scheme(), self.settings, seed=self.P.seeds[0])

    # -------------------------------------------------------------------------------------- tables
    def _pairs(self, model: str, n: int, seeds) -> list[tuple[Run, Run]]:
        return [(self.runs[("baseline", model, s, 0)], self.runs[("perturb", model, s, n)]) for s in seeds
                if ("perturb", model, s, n) in self.runs]

    def table2(self) -> pd.DataFrame:
        """Accuracy (%) and macro F1, baseline and Perturb, per model: mean and 95% half-width over seeds,
        the paired difference, and the paper's numbers for the same architecture."""
        rows = []
        for model in self.P.perturb_models:
            pairs = self._pairs(model, self.P.n_clusters, self.P.seeds)
            row = {"model": model}
            for label, k in (("baseline", 0), ("perturb", 1)):
                acc = [100 * p[k].metrics["test"]["accuracy"] for p in pairs]
                f1 = [p[k].metrics["test"]["macro_f1"] for p in pairs]
                row[f"{label} acc"], row[f"{label} acc ci"] = mean_ci(acc)
                row[f"{label} F1"], row[f"{label} F1 ci"] = mean_ci(f1)
            for label, k in (("baseline", 0), ("perturb", 1)):  # an under-trained predictor shows here first
                row[f"{label} last train acc"] = float(np.mean([100 * p[k].history["train_accuracy"].iloc[-1]
                                                                for p in pairs])) if pairs else np.nan
            diff = [100 * (b.metrics["test"]["accuracy"] - a.metrics["test"]["accuracy"])
                    for a, b in pairs]
            row["delta acc"], row["delta acc ci"] = mean_ci(diff)
            column = paper_column(model)
            pb, pp = TABLE2_BASELINE.get(column), TABLE2_PERTURB.get(column)
            row["paper baseline acc"], row["paper perturb acc"] = (pb[0] if pb else np.nan), (pp[0] if pp else np.nan)
            row["paper delta acc"] = (pp[0] - pb[0]) if (pb and pp) else np.nan
            row["seeds"] = len(pairs)
            rows.append(row)
        return pd.DataFrame(rows).set_index("model")

    def table3(self) -> pd.DataFrame:
        """Per-class accuracy change with the Perturb Scheme, in percentage points (long form, per model)."""
        frames = []
        for model in self.P.perturb_models:
            cells = {model: [100 * (np.array(b.metrics["test"]["per_class_recall"], dtype=float)
                                    - np.array(a.metrics["test"]["per_class_recall"], dtype=float))
                             for a, b in self._pairs(model, self.P.n_clusters, self.P.seeds)]}
            frames.append(summarise(cells))
        return pd.concat(frames, ignore_index=True)

    def sweep(self) -> pd.DataFrame:
        """Figure 5: accuracy and macro F1 against the number of clusters (and the baseline as n = 0)."""
        rows = []
        model, seeds = self.P.sweep_model, self.P.sweep_seeds
        for n in [0] + sorted(self.P.cluster_sweep):
            key = (lambda s: ("baseline", model, s, 0)) if n == 0 else (lambda s, n=n: ("perturb", model, s, n))
            rs = [self.runs[key(s)] for s in seeds if key(s) in self.runs]
            acc_m, acc_h = mean_ci([100 * r.metrics["test"]["accuracy"] for r in rs])
            f1_m, f1_h = mean_ci([r.metrics["test"]["macro_f1"] for r in rs])
            rows.append({"n_clusters": n, "accuracy": acc_m, "accuracy_ci": acc_h, "macro_f1": f1_m, "macro_f1_ci": f1_h,
                         "seeds": len(rs)})
        return pd.DataFrame(rows)

    def cost(self) -> pd.DataFrame:
        """Clustering seconds per epoch and their share of the epoch, per Perturb run."""
        return pd.DataFrame([{"run": r.name, **clustering_cost(r)} for k, r in self.runs.items() if k[0] == "perturb"])


def table3_paper() -> pd.DataFrame:
    """The paper's Table 3 (percent; architectures the paper did not run are absent)."""
    df = pd.DataFrame({e: TABLE3[e] for e in EMOTIONS}).T
    df.index.name = "emotion"
    return df


def paper_table3_column(model: str) -> pd.Series:
    column = paper_column(model)
    return table3_paper().get(column, pd.Series(np.nan, index=list(EMOTIONS)))
