"""The reproduction report: every figure and table of the paper, drawn from the experiments' results objects and
written under ``figures/<study>/``, and our numbers set beside the paper's. Nothing here trains.

One function per artefact; each draws it, writes it, and returns what a notebook displays. Notebooks 01-04
call the ones of their experiment right after it ran, and notebook 05 calls every one of them from the saved
results (``make figures``).
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from . import figures
from .data.faces import EMOTIONS
from .experiments import DataResults, LandmarkResults, MaskFerResults, SaliencyResults, SchemeResults
from .paper import PAPER_COLUMNS, TABLE1, TABLE2_BASELINE, TABLE2_PERTURB, TABLE3, paper_column, table1_frame
from .claims import claims
from .stats import fmt_bounds, fmt_ci, fmt_range, fmt_relative, position
from .paths import resolve
from .tables import cell_text, estimate_from, formatted, of_measure, wide


def _tables(figures_dir) -> str:
    return f"{figures_dir}/tables"


# ------------------------------------------------------------------------------------------- the data
def figure3(data: DataResults, figures_dir):
    """The paper's Figure 3 (class distribution) and the count table."""
    figures.save_table(data.counts.set_index("emotion"), _tables(figures_dir), "class_counts")
    fig = figures.plot_class_distribution(data.counts, data.dataset)
    figures.save_figure(fig, figures_dir, "fig3_class_distribution")
    return fig


# ------------------------------------------------------------------------------------------ MaskFer
def table1(maskfer: MaskFerResults, figures_dir) -> pd.DataFrame:
    """Table 1 (ours: the relative change, the paper's unit, with intervals on the log-ratio scale; beside it the
    change in points and of the one-vs-rest AUC), ours beside the paper's, and the heatmap of both."""
    ours = formatted(maskfer.table1)
    figures.save_table(ours, _tables(figures_dir), "table1_ours")
    for measure in ("points", "auc"):
        figures.save_table(formatted(maskfer.table1, measure), _tables(figures_dir), f"table1_{measure}")
    paper = table1_frame()
    figures.save_table(paper, _tables(figures_dir), "table1_paper", floatfmt=".0f")
    beside = {}
    for column in wide(maskfer.table1).columns:
        name = paper_column(column) if column != "Ensemble" else "Ensemble"
        beside[f"{column} (ours)"] = wide(maskfer.table1)[column]
        beside[f"{name} (paper)"] = paper[name]
    figures.save_table(pd.DataFrame(beside).rename_axis("emotion"), _tables(figures_dir), "table1_vs_paper",
                       floatfmt=".0f")
    label = f"ours ({maskfer.dataset}, {maskfer.seed_counts()} seeds)"
    fig = figures.plot_change_heatmaps({label: wide(maskfer.table1), "paper (FER2013)": paper},
                                       "Table 1: % change of per-class accuracy, trained and tested masked",
                                       noise={label: undecided(maskfer.table1)})
    figures.save_figure(fig, figures_dir, "table1_heatmap")
    table1_of(maskfer, figures_dir)
    table1_architectures(maskfer, figures_dir)
    return ours


def cross_conditions(maskfer: MaskFerResults, figures_dir) -> pd.DataFrame:
    """Test accuracy for each train -> test condition: the table and its bar chart."""
    table = maskfer.cross_conditions.assign(**{
        "test accuracy %": [fmt_bounds(m, lo, hi, 1, "") for m, lo, hi in
                            zip(maskfer.cross_conditions["mean"], maskfer.cross_conditions["lo"],
                                maskfer.cross_conditions["hi"])],
        "one more run (95 %)": [fmt_range(max(lo, 0), min(hi, 100), 1) for lo, hi in
                                zip(maskfer.cross_conditions["pred_lo"], maskfer.cross_conditions["pred_hi"])]})
    figures.save_table(table[["model", "condition", "test accuracy %", "one more run (95 %)", "seeds", "test_faces"]]
                       .rename(columns={"test_faces": "test faces"}).set_index(["model", "condition"]),
                       _tables(figures_dir), "cross_conditions")
    figures.save_figure(figures.plot_cross_conditions(maskfer.cross_conditions), figures_dir, "cross_conditions")
    return maskfer.cross_conditions


def removal(maskfer: MaskFerResults, figures_dir, model: str | None = None) -> pd.DataFrame:
    """Feature removal: tested without a region (heatmap and table) and trained without it (table)."""
    model = model or maskfer.models[0]
    tested = maskfer.removal_tested[maskfer.removal_tested["model"] == model]
    table = formatted(tested).T
    figures.save_table(table, _tables(figures_dir), "removal_tested")
    label = f"{model}, trained clean"
    fig = figures.plot_change_heatmaps({label: wide(tested).T},
                                       "% change of per-class accuracy when a region is removed at test time",
                                       noise={label: undecided(tested).T})
    figures.save_figure(fig, figures_dir, "removal_heatmap")
    if not maskfer.removal_trained.empty:
        figures.save_table(formatted(maskfer.removal_trained).T, _tables(figures_dir), "removal_trained")
        figures.save_table(formatted(maskfer.removal_trained, "points").T, _tables(figures_dir),
                           "removal_trained_points")
        figures.save_table(formatted(maskfer.removal_trained, "auc").T, _tables(figures_dir), "removal_trained_auc")
    return table


def truth(maskfer: MaskFerResults, figures_dir) -> str:
    """The synthetic truth check and its chance level, as a sentence (and the table, written)."""
    if maskfer.truth_check.empty:
        return ""
    figures.save_table(maskfer.truth_check.set_index("emotion"), _tables(figures_dir), "truth_check")
    t = maskfer.truth_summary
    return (f"For {t['score']} of {t['emotions']} emotions the most harmful single-feature removal is one of the "
            f"emotion's measured defining regions; a random ranking of the four features scores {t['chance']:.2f} on "
            f"average, and scores at least {t['score']} with probability {t['p_value']:.3f}: the check "
            f"{'beats' if t['beats_chance'] else 'does not beat'} chance (p < 0.05).")


def undecided(long: pd.DataFrame, measure: str = "relative") -> pd.DataFrame:
    """Cells of a long table that its data cannot decide (one seed, not estimable, or an interval that includes
    0)."""
    flags = long.assign(flag=[v not in ("decrease", "increase") for v in long["verdict"]])
    return wide(flags, "flag", measure=measure).astype(bool)


def maskfer_examples(faces, landmarks: np.ndarray, specs: list[dict], figures_dir):
    """One face per emotion, clean and under each mask style and removal."""
    fig = figures.plot_perturbation_examples(faces, landmarks, specs)
    figures.save_figure(fig, figures_dir, "maskfer_examples")
    return fig


def baseline_recipes(root: Path, runs: dict) -> dict[str, str]:
    """Each model's recipe and cost, from the records of its Table 2 baselines (``runs`` by key,
    ``baseline/<model>/<seed>/0``): ``{model: "x0.125, 16 epochs, 41 min a run"}``, the minutes the median
    recorded wall time of those runs (whichever machine and hour trained them). Seeds trained with other recipes
    list each one."""
    from .experiments.results import RunKey
    from .io import read_json
    records: dict[str, list[dict]] = {}
    for key, name in runs.items():
        kind, model, *_ = RunKey.parse(key)
        folder = root / "records" / name
        if kind == "baseline" and (folder / "config.json").is_file():
            env = read_json(folder / "env.json") if (folder / "env.json").is_file() else {}
            records.setdefault(model, []).append({**read_json(folder / "config.json"), **env})
    out = {}
    for model, rows in records.items():
        recipe = " or ".join(dict.fromkeys(f"x{r['width']:g}, {r['epochs']} epochs" for r in rows))
        # a resumed run's wall time covers its last sitting only: not a run's cost
        walls = [r["wall_seconds"] for r in rows if "wall_seconds" in r and not r.get("resumed_at_epoch")]
        minutes = statistics.median(walls) / 60 if walls else None
        cost = "" if minutes is None else f", {minutes:.0f} min a run" if minutes >= 1 else ", under a minute a run"
        out[model] = recipe + cost
    return out


def table1_of(maskfer: MaskFerResults, figures_dir, model: str | None = None) -> pd.DataFrame:
    """Table 1 of one model beside the paper's column: per emotion, the relative change, the points and the AUC
    (``table1_<model>``)."""
    from .paper import TABLE1
    model = model or maskfer.models[0]
    column = paper_column(model)
    t1 = maskfer.table1[maskfer.table1["column"] == model]
    few = of_measure(t1, "relative").set_index("row")
    rows = {}
    for emo in EMOTIONS:
        cells = {f"paper ({column})": f"{TABLE1[emo][PAPER_COLUMNS.index(column)]} %"}
        for measure, name in (("relative", "relative"), ("points", "points"), ("auc", "AUC")):
            sub = of_measure(t1, measure).set_index("row")
            cells[name] = cell_text(sub.loc[emo], measure) if emo in sub.index else "--"
        label = (f"{emo} ({int(few.loc[emo, 'test_faces'])} test faces)" if emo in few.index and few.loc[emo, "few"]
                 else emo)
        rows[label] = cells
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("emotion")
    figures.save_table(table, _tables(figures_dir), f"table1_{model}")
    return table


def table1_architectures(maskfer: MaskFerResults, figures_dir) -> pd.DataFrame:
    """Table 1 of every architecture (and the ensemble) beside the paper's column (``table1_architectures``; none for
    a study of one architecture)."""
    from .paper import TABLE1
    if len(maskfer.columns) < 2:
        return pd.DataFrame()
    relative = of_measure(maskfer.table1, "relative")
    rows = {}
    for emo in EMOTIONS:
        cells = {}
        for c in maskfer.columns:
            p = paper_column(c)
            sub = relative[(relative["column"] == c) & (relative["row"] == emo)]
            cells[c] = cell_text(sub.iloc[0], "relative") if len(sub) else "--"
            cells[f"paper ({p})"] = f"{TABLE1[emo][PAPER_COLUMNS.index(p)]} %"
        rows[emo] = cells
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("emotion")
    figures.save_table(table, _tables(figures_dir), "table1_architectures")
    return table


def table2_architectures(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """Table 2 of every architecture beside the paper's, with each model's recipe and median minutes a run from its
    records (``table2_architectures``; none for a study of one architecture)."""
    from .paper import TABLE2_BASELINE, TABLE2_PERTURB
    t2 = scheme.table2
    if len(t2) < 2:
        return pd.DataFrame()
    recipes = baseline_recipes(resolve(figures_dir), scheme.runs)
    rows = []
    for _, r in t2.iterrows():
        column = paper_column(r["model"])
        (pa, pf), pp = TABLE2_BASELINE[column], TABLE2_PERTURB.get(column)
        ran = "delta acc" in r and pd.notna(r["delta acc"])
        base, f1 = estimate_from(r, "baseline acc"), estimate_from(r, "baseline F1")
        delta = estimate_from(r, "delta acc") if ran else None
        rows.append({"ours": table2_label(r), "recipe": recipes.get(r["model"], "--"), "paper's column": column,
                     "seeds": str(int(r["seeds"])),
                     "accuracy": fmt_ci(base.value, base.half, 1, " %", mark=False),
                     "paper: accuracy": f"{pa} %",
                     "macro F1": fmt_ci(f1.value, f1.half, 3, "", mark=False),
                     "paper: macro F1": str(pf),
                     "Perturb Scheme: change of accuracy": (fmt_ci(delta.value, delta.half, 2, " pp", delta.seeds)
                                                            if ran else "--"),
                     "paper: change": f"{pp[0] - pa:+.1f} pp" if pp else "--"})
    table = pd.DataFrame(rows).set_index("ours")
    figures.save_table(table, _tables(figures_dir), "table2_architectures")
    return table


def table3_vs_paper(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """Table 3 of each Perturb backbone, relative and in points, beside the paper's column (its unit is not
    stated): ``table3_vs_paper``."""
    from .paper import TABLE3
    t3 = scheme.table3
    if t3.empty:
        return pd.DataFrame()
    backbones = list(dict.fromkeys(t3["column"]))
    relative, points = formatted(t3, "relative"), formatted(t3, "points")  # rows: emotions, few faces flagged
    rows = {}
    for label in relative.index:
        emotion = label.split(" (")[0]
        cells = {}
        for b in backbones:
            paper = TABLE3.get(emotion, {}).get(paper_column(b))
            cells[f"{b}: relative"], cells[f"{b}: points"] = relative.loc[label, b], points.loc[label, b]
            cells[f"paper ({paper_column(b)})"] = f"{paper:+g}" if paper is not None else "--"
        rows[label] = cells
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("emotion")
    figures.save_table(table, _tables(figures_dir), "table3_vs_paper")
    return table


# ------------------------------------------------------------------------------------------ saliency
def figure1(saliency: SaliencyResults, figures_dir):
    """The paper's Figure 1: one test face per emotion, explained by the clean- and the mask-trained model."""
    inputs = "; ".join(f"{k} explained on {v}" for k, v in saliency.figure1.get("captions", {}).items())
    fig = figures.plot_saliency_comparison(saliency.figure1, f"Figure 1 ({saliency.method}): {inputs}")
    figures.save_figure(fig, figures_dir, "fig1_saliency")
    return fig


def saliency_maps(saliency: SaliencyResults, figures_dir):
    """Per-emotion mean maps and the region heatmaps of Figure 1's models, and their region-ratio tables."""
    figures.save_figure(figures.plot_mean_maps(saliency.mean_maps, saliency.mean_face,
                                               f"Figure 1, per-emotion mean maps ({saliency.method})"),
                        figures_dir, "fig1_mean_maps")
    for name, df in saliency.shares.items():
        figures.save_table(df.pivot(index="emotion", columns="region", values="ratio"), _tables(figures_dir),
                           f"region_ratio_{name.lower().replace(' ', '_')}", floatfmt=".2f")
    fig = figures.plot_region_heatmaps(saliency.shares, "ratio", f"attribution share / area share ({saliency.method})")
    figures.save_figure(fig, figures_dir, "region_attribution")
    return fig


def saliency_checks(saliency: SaliencyResults, figures_dir) -> pd.DataFrame:
    """The randomisation and deletion checks, and the ground-truth scores per method on synthetic faces."""
    figures.save_figure(figures.plot_sanity(saliency.randomization, saliency.deletion, saliency.method), figures_dir,
                        "saliency_sanity")
    if saliency.ground_truth.empty:
        return pd.DataFrame()
    summary = saliency.ground_truth.groupby("method", sort=False)[["attribution", "area", "ratio"]].mean()
    figures.save_table(summary, _tables(figures_dir), "saliency_ground_truth", floatfmt=".3f")
    return summary


# --------------------------------------------------------------------------------------- the scheme
def figure4(clusters: dict, figures_dir):
    """The paper's Figure 4: the phase-1 attention and its clusters on one test face per emotion
    (:attr:`SchemeResults.clusters`); its title says where the shared map's clusters fall."""
    from .experiments.scheme import configuration
    location = clusters.get("location")
    where = (f" (seed {clusters.get('seed')}: the shared clusters fall on the {configuration(location)}; "
             "the paper's: eyes, eyes, mouth and nose)") if isinstance(location, pd.DataFrame) and len(location) else ""
    fig = figures.plot_clusters(clusters, f"Figure 4: clusters of the highest-attention pixels{where}")
    figures.save_figure(fig, figures_dir, "fig4_clusters")
    return fig


def figure5(scheme: SchemeResults, figures_dir):
    """The paper's Figure 5: accuracy and macro F1 against the number of clusters."""
    figures.save_table(scheme.sweep.set_index("n_clusters"), _tables(figures_dir), "fig5_sweep", floatfmt=".4g")
    fig = figures.plot_cluster_sweep(scheme.sweep, scheme.sweep_model)
    figures.save_figure(fig, figures_dir, "fig5_cluster_sweep")
    return fig


def cluster_locations(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """Where the shared clusters fell, per scheme and seed: each cluster's share of pixels per region."""
    if scheme.locations.empty:
        return scheme.locations
    table = scheme.locations.set_index(["variant", "seed", "cluster"])
    figures.save_table(table, _tables(figures_dir), "cluster_locations", floatfmt=".3f")
    return table


def variants(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The scheme's variants beside the paper's +3.0: each one's paired change of accuracy and its verdict."""
    from .claims import decide, variant_estimate
    from .experiments.scheme import configurations
    from .paper import paper_column, perturb_gain
    if scheme.variants.empty:
        return scheme.variants
    gain = perturb_gain(paper_column(scheme.sweep_model))
    rows = []
    for _, r in scheme.variants.iterrows():
        e = variant_estimate(r)
        verdict, by = decide(e, gain)
        fell = "; ".join(f"s{s}: {c}" for s, c in configurations(scheme.locations, r["variant"]).items())
        rows.append({"variant": r["variant"], "what differs": r["changes"], "seeds": int(r["seeds"]),
                     "baseline accuracy %": _within(estimate_from(r, "baseline acc"), 0, 100, 1),
                     "Perturb accuracy %": _within(estimate_from(r, "perturb acc"), 0, 100, 1),
                     "change (pp, paired by seed)": fmt_ci(e.value, e.half, 2, "", e.seeds),
                     f"against the paper's {gain:+.1f}": verdict + (f" ({by})" if by else ""),
                     "where the clusters fell": fell or "--"})
    table = pd.DataFrame(rows).set_index("variant")
    figures.save_table(table, _tables(figures_dir), "scheme_variants")
    return table


def _within(e, low, high, digits) -> str:
    """A level (an accuracy, an F1) with its interval, bounds kept inside the quantity's range."""
    mean, half = float(e.value), float(e.half)
    return fmt_bounds(mean, max(mean - half, low), min(mean + half, high), digits, "") if math.isfinite(half) \
        else fmt_bounds(mean, float("nan"), float("nan"), digits, "")


def _paper_table2(r) -> str:
    base, perturb, delta = (_float(r.get(k)) for k in ("paper baseline acc", "paper perturb acc", "paper delta acc"))
    if math.isfinite(delta):
        return f"{base:.1f}, {perturb:.1f}, {delta:+.1f}"
    return f"{base:.1f}, --, --" if math.isfinite(base) else "--"


def table2_label(r) -> str:
    """A Table 2 row's name; an ensemble's names its members (it is the paper's five-model Ensemble only when they
    are those five)."""
    members = r.get("members")
    return f"{r['model']} ({members})" if isinstance(members, str) and members else str(r["model"])


def table2(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper's Table 2: baseline vs Perturb Scheme per backbone, as a person writes it."""
    rows = []
    for _, r in scheme.table2.iterrows():
        n, delta = int(r["seeds"]), estimate_from(r, "delta acc")
        rows.append({"model": table2_label(r), "seeds": n,
                     "baseline accuracy %": _within(estimate_from(r, "baseline acc"), 0, 100, 1),
                     "Perturb accuracy %": _within(estimate_from(r, "perturb acc"), 0, 100, 1),
                     "change (pp, paired by seed)": fmt_ci(delta.value, delta.half, 2, "", n),
                     "baseline macro F1": _within(estimate_from(r, "baseline F1"), 0, 1, 3),
                     "Perturb macro F1": _within(estimate_from(r, "perturb F1"), 0, 1, 3),
                     "paper: baseline, Perturb, change": _paper_table2(r)})
    table = pd.DataFrame(rows).set_index("model")
    figures.save_table(table, _tables(figures_dir), "table2")
    table2_architectures(scheme, figures_dir)
    return table


def table3(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper's Table 3: per-class change with the Perturb Scheme, ours in relative % (the paper's unit as we
    read it) beside percentage points and the change of one-vs-rest AUC."""
    t3 = scheme.table3
    table = formatted(t3, "relative").add_suffix(" (relative %)").join(
        formatted(t3, "points").add_suffix(" (pp)")).join(formatted(t3, "auc").add_suffix(" (AUC)"))
    figures.save_table(table, _tables(figures_dir), "table3_ours")
    table3_vs_paper(scheme, figures_dir)
    return table


def figure6(scheme: SchemeResults, figures_dir):
    """The paper's Figure 6: the baseline and the Perturb Scheme model explained on the same faces."""
    if not scheme.figure6:
        return None
    inputs = "; ".join(f"{k} explained on {v}" for k, v in scheme.figure6.get("captions", {}).items())
    fig = figures.plot_saliency_comparison(scheme.figure6, f"Figure 6: {inputs}")
    figures.save_figure(fig, figures_dir, "fig6_saliency")
    figures.save_figure(figures.plot_mean_maps(scheme.figure6["means"], None, "Figure 6, per-emotion mean maps"),
                        figures_dir, "fig6_mean_maps")
    return fig


# ---------------------------------------------------------------------------------------- landmarks
def landmark_figures(landmarks: LandmarkResults, figures_dir) -> pd.DataFrame:
    """Relevance on the mean face per model family and the reduction curves (the first seed's), the full-vs-reduced
    table of every seed, and the comparison over seeds (:func:`landmark_comparison`)."""
    seed = landmarks.seeds[0] if landmarks.seeds else None
    first = (lambda t: t[t["seed"] == seed] if seed is not None and "seed" in t else t)  # noqa: E731
    kept = {k.rsplit("/", 1)[0]: v for k, v in landmarks.kept.items() if seed is None or k.endswith(f"/{seed}")}
    for family in landmarks.summary["family"].unique() if not landmarks.summary.empty else []:
        fig = figures.plot_landmark_relevance(first(landmarks.relevance), landmarks.mean_face, landmarks.mean_landmarks,
                                              kept, family)
        figures.save_figure(fig, figures_dir, f"landmark_relevance_{family}")
    figures.save_figure(figures.plot_reduction(first(landmarks.reduction)), figures_dir, "landmark_reduction")
    summary = landmarks.summary.set_index(["emotion", "family"] + (["seed"] if "seed" in landmarks.summary else []))
    figures.save_table(summary, _tables(figures_dir), "landmark_full_vs_reduced", floatfmt=".3g")
    landmark_comparison(landmarks, figures_dir)
    return summary


def landmark_comparison(landmarks: LandmarkResults, figures_dir) -> pd.DataFrame:
    """The reduced landmark set against the full one, per emotion and family, over seeds (and test faces): the change
    of balanced accuracy, the landmarks kept, the change of inference time and of parameters, and how much the kept
    sets of two seeds overlap."""
    if landmarks.comparison.empty:
        return landmarks.comparison
    rows = []
    for _, r in landmarks.comparison.iterrows():
        n = int(r["seeds"])
        rows.append({"emotion": r["emotion"], "family": r["family"], "seeds": n,
                     "balanced accuracy %: full, reduced": f"{r['full balanced accuracy']:.1f}, "
                                                          f"{r['reduced balanced accuracy']:.1f}",
                     "change (pp)": fmt_bounds(r["delta"], r["delta lo"], r["delta hi"], 2, ""),
                     "landmarks kept": f"{r['kept']:.0f} of {int(r['landmarks'])} ({r['kept lo']:.0f}-{r['kept hi']:.0f})",
                     "inference time": fmt_relative(r["time change"], r["time change lo"], r["time change hi"]),
                     "parameters": fmt_relative(r["parameter change"], r["parameter change lo"],
                                                r["parameter change hi"]),
                     "kept sets' overlap (Jaccard)": f"{r['overlap']:.2f}" if np.isfinite(r["overlap"]) else "--"})
    table = pd.DataFrame(rows).set_index(["emotion", "family"])
    figures.save_table(table, _tables(figures_dir), "landmark_seeds")
    return table


# ---------------------------------------------------------------------------------- paper vs ours
def paper_verdict(paper: float, cell, change: bool) -> str:
    """Does one more run of ours land where the paper's single run did?

    Args:
        paper: the paper's value.
        cell: our estimate (``mean``, ``pred_lo``, ``pred_hi``, ``seeds``, ``estimable``), or None.
        change: whether the quantity is a change (then an interval holding both the paper's value and 0 decides
            nothing).

    Returns:
        ``differs from the paper`` (the paper's value is outside our 95 % prediction interval for one more run,
        seed spread and test faces included), ``consistent with the paper (not rejected)``, ``not decided (n
        seeds, a to b)``, ``not estimable`` or ``no value``.
    """
    if cell is None or cell["mean"] is None or not math.isfinite(float(cell["mean"])):
        return "no value"
    if not bool(cell.get("estimable", True)):
        return "not estimable"
    seeds, lo, hi = int(cell["seeds"]), _float(cell.get("pred_lo")), _float(cell.get("pred_hi"))
    where = position(lo, hi, paper) if seeds >= 2 else "none"  # against our interval for one more run
    if where == "none":
        return f"not decided ({seeds} seed{'s' if seeds != 1 else ''}, no interval)"
    if where != "inside":
        return "differs from the paper"
    if change and position(lo, hi, 0.0) == "inside" and paper != 0:
        return f"not decided ({seeds} seeds, one more run: {fmt_range(lo, hi, 1)})"
    return "consistent with the paper (not rejected)"


def _float(x) -> float:
    try:
        return float(x) if x is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def comparison_table(maskfer: MaskFerResults, scheme: SchemeResults) -> pd.DataFrame:
    """Every cell the paper reports beside ours, in the same quantity and unit.

    Columns: ``table``, ``emotion or metric``, ``model`` (the paper's column), ``our model``, ``unit``,
    ``paper``, ``ours``, ``one more run (95 %)`` (our prediction interval for one more run, seeds and test faces),
    ``seeds``, ``verdict`` (:func:`paper_verdict`), ``note`` (e.g. a paper value that is a copy of another). Our
    models are matched to the paper's columns by family (vgg16 -> VGG16, resnet* -> ResNet, ...).
    """
    rows = []

    def add(table, what, column, ours_model, unit, paper, cell, note=""):
        mean = _float(cell["mean"]) if cell is not None else np.nan
        rows.append({"table": table, "emotion or metric": what, "model": column, "our model": ours_model or "(not run)",
                     "unit": unit, "paper": paper, "ours": mean,
                     "one more run (95 %)": fmt_range(cell.get("pred_lo"), cell.get("pred_hi"), 3 if unit == "macro F1"
                                                      else 1) if cell is not None else "--",
                     "seeds": int(cell["seeds"]) if cell is not None else 0,
                     "verdict": paper_verdict(paper, cell, unit in ("% change", "pp")) if ours_model else "not run",
                     "note": note})

    def cell(long, emo, column):
        long = of_measure(long, "relative")
        hit = long[(long["row"] == emo) & (long["column"] == column)] if column else long.iloc[:0]
        return hit.iloc[0].to_dict() if len(hit) else None

    t1 = maskfer.table1
    ours_t1 = {}
    for column in t1["column"].unique():
        ours_t1.setdefault("Ensemble" if column == "Ensemble" else paper_column(column), column)
    for emo in EMOTIONS:
        for k, col in enumerate(PAPER_COLUMNS):
            note = "the paper's Ensemble column repeats its ResMasking column" if col == "Ensemble" else ""
            add("Table 1", emo, col, ours_t1.get(col), "% change", TABLE1[emo][k], cell(t1, emo, ours_t1.get(col)), note)
    t2 = scheme.table2.set_index("model") if not scheme.table2.empty else pd.DataFrame()
    ours_t2 = {paper_column(m): m for m in t2.index}
    for col in PAPER_COLUMNS:
        for label, paper_values in (("baseline", TABLE2_BASELINE), ("Perturb", TABLE2_PERTURB)):
            p = paper_values.get(col)
            if p is None:
                continue
            ours = ours_t2.get(col)
            for metric, key, unit, value in (("accuracy", "acc", "accuracy %", p[0]), ("macro F1", "F1", "macro F1", p[1])):
                c = None
                if ours:
                    r = t2.loc[ours]
                    mean, pred = r[f"{label.lower()} {key}"], r[f"{label.lower()} {key} pred"]
                    c = {"mean": mean, "pred_lo": mean - pred, "pred_hi": mean + pred, "seeds": r["seeds"]}
                add(f"Table 2 ({label})", metric, col, ours, unit, value, c)
    for emo in EMOTIONS:
        for col, value in TABLE3[emo].items():
            ours = ours_t2.get(col)
            add("Table 3", emo, col, ours, "% change", value, cell(scheme.table3, emo, ours) if ours else None)
    return pd.DataFrame(rows)


def comparison(maskfer: MaskFerResults, scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper-vs-ours table, written as ``paper_vs_ours``."""
    table = comparison_table(maskfer, scheme)
    figures.save_table(table.set_index("table"), _tables(figures_dir), "paper_vs_ours", floatfmt=".3g")
    return table


# ------------------------------------------------------------------------------------------ claims
def claims_table(maskfer: MaskFerResults | None, scheme: SchemeResults | None, figures_dir,
                 model: str = "vgg16", landmarks: LandmarkResults | None = None) -> pd.DataFrame:
    """The claims table (:func:`perturb_lib.claims.claims`), written as ``claims``."""
    table = claims(maskfer, scheme, model, landmarks)
    figures.save_table(table.set_index("claim"), _tables(figures_dir), "claims")
    return table


def collapsed_runs(study, names) -> list[str]:
    """The runs among ``names`` (run folder names) whose test predictions put more than half of the faces on one
    class (:func:`perturb_lib.metrics.collapsed`), each with its share.

    Args:
        study: where the runs are (a :class:`~perturb_lib.runs.Study`, or a folder holding ``records/``).
        names: the run names.
    """
    from .metrics import collapsed
    from .runs import Study
    out, study = [], Study.of(study)
    for name in sorted(set(names)):
        run = study.run(name)
        if run.finished and collapsed(run.metrics["test"]):
            t = run.metrics["test"]
            out.append(f"{name} ({100 * t['top_prediction_share']:.0f} % of its test faces on "
                       f"{EMOTIONS[t['top_prediction']]})")
    return out


# ------------------------------------------------------------------------------------------ what this says
def says(table: pd.DataFrame, what: str) -> str:
    """A notebook's closing paragraph, in Markdown, from the claims its results decide (:func:`perturb_lib.claims.claims`):
    how many are confirmed, refuted and not decided, then each claim with our evidence. No number is typed by hand."""
    if table.empty:
        return f"**What this says.** {what}: no claim of the paper is tested here."
    counts = table["verdict"].value_counts()
    head = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in ("confirmed", "refuted", "not decided"))
    lines = [f"**What this says.** {what}: of the paper's {len(table)} claims tested here, {head}."]
    for _, r in table.iterrows():
        decide_by = f" What would decide it: {r['what would decide it']}." if r["what would decide it"] else ""
        lines.append(f"- **{r['verdict']}**: {r['claim']} (the paper: {r['the paper']}). Ours: {r['evidence']}."
                     f"{decide_by}")
    return "\n".join(lines)


def says_data(data: DataResults) -> str:
    """Notebook 00's closing paragraph: what the data is, and how many faces each landmark detector finds."""
    text = (f"**What this says.** {data.dataset}: {data.faces:,} faces, landmarks from {data.landmark_source}. ")
    if not data.detection.empty:
        alls = data.detection[data.detection["by"] == "all"]
        text += "Faces found, of all: " + ", ".join(f"{r['provider']} {r['rate %']:.1f} %" for _, r in alls.iterrows())
        text += (". Table 1 keeps only the faces dlib finds (MaskTheFace's rule), so its class mix is not the whole "
                 "set's; the Perturb Scheme's runs use every face.") if "dlib" in set(alls["provider"]) else "."
    return text


def says_saliency(saliency: SaliencyResults) -> str:
    """Notebook 02's closing paragraph: do the maps pass the randomisation and the deletion checks?"""
    r = saliency.randomization
    last = r[r["step"] == r["step"].max()].set_index("method")["spearman"] if not r.empty else pd.Series(dtype=float)
    d = saliency.deletion
    lines = ["**What this says.** Whether the maps can be read at all:"]
    if len(last):
        lines.append("- with every layer of the clean model randomised, the maps' rank correlation with the trained "
                     "model's falls to " + ", ".join(f"{m} {v:.2f}" for m, v in last.items())
                     + " (near 0: the map depends on what the model learned; near 1: it would draw the same map "
                       "for any model).")
    if not d.empty:
        at = d[d["fraction"] == d["fraction"].max()].iloc[0]
        faster = at["deletion"] < at["deletion_random"]
        lines.append(f"- deleting the {at['fraction']:.0%} most attributed pixels ({saliency.method}) leaves "
                     f"{100 * at['deletion']:.0f} % accuracy, deleting as many random pixels "
                     f"{100 * at['deletion_random']:.0f} %: the map {'does' if faster else 'does not'} rank the pixels "
                     "the model needs first.")
    lines.append("The paper reads its saliency maps by eye; they support no claim of its table of claims here.")
    return "\n".join(lines)
