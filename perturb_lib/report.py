"""The reproduction report: every figure and table of the paper, drawn from the experiments' results objects and
written under ``figures/<study>/``, and our numbers set beside the paper's. Nothing here trains.

One function per artefact; each draws it, writes it, and returns what a notebook displays. Notebooks 01-04
call the ones of their experiment right after it ran, and notebook 05 calls every one of them from the saved
results (``make figures``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import figures
from .data.faces import EMOTIONS
from .experiments import DataResults, LandmarkResults, MaskFerResults, SaliencyResults, SchemeResults
from .paper import (FIGURE5_BEST_CLUSTERS, PAPER_COLUMNS, TABLE1, TABLE2_BASELINE, TABLE2_PERTURB, TABLE3, paper_column,
                    table1_frame)
from .stats import fmt_ci
from .tables import formatted, wide


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
    """Table 1 (ours, formatted), ours beside the paper's, and the heatmap of both."""
    ours = formatted(maskfer.table1)
    figures.save_table(ours, _tables(figures_dir), "table1_ours")
    paper = table1_frame()
    figures.save_table(paper, _tables(figures_dir), "table1_paper", floatfmt=".0f")
    beside = {}
    for column in wide(maskfer.table1).columns:
        name = paper_column(column) if column != "Ensemble" else "Ensemble"
        beside[f"{column} (ours)"] = wide(maskfer.table1)[column]
        beside[f"{name} (paper)"] = paper[name]
    figures.save_table(pd.DataFrame(beside).rename_axis("emotion"), _tables(figures_dir), "table1_vs_paper",
                       floatfmt=".0f")
    label = f"ours ({maskfer.dataset}, {len(maskfer.seeds)} seeds)"
    fig = figures.plot_change_heatmaps({label: wide(maskfer.table1), "paper (FER2013)": paper},
                                       "Table 1: % change of per-class accuracy, trained and tested masked",
                                       noise={label: undecided(maskfer.table1)})
    figures.save_figure(fig, figures_dir, "table1_heatmap")
    return ours


def cross_conditions(maskfer: MaskFerResults, figures_dir) -> pd.DataFrame:
    """Test accuracy for each train -> test condition: the table and its bar chart."""
    figures.save_table(maskfer.cross_conditions.set_index(["model", "condition"]), _tables(figures_dir),
                       "cross_conditions")
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


def undecided(long: pd.DataFrame) -> pd.DataFrame:
    """Cells of a long table that its data cannot decide (one seed, or an interval that includes 0)."""
    flags = long.assign(flag=[v not in ("decrease", "increase") for v in long["verdict"]])
    return wide(flags, "flag").astype(bool)


def maskfer_examples(faces, landmarks: np.ndarray, specs: list[dict], figures_dir):
    """One face per emotion, clean and under each mask style and removal."""
    fig = figures.plot_perturbation_examples(faces, landmarks, specs)
    figures.save_figure(fig, figures_dir, "maskfer_examples")
    return fig


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
def figure4(scheme: SchemeResults, figures_dir):
    """The paper's Figure 4: the phase-1 attention and its clusters on one test face per emotion."""
    fig = figures.plot_clusters(scheme.clusters)
    figures.save_figure(fig, figures_dir, "fig4_clusters")
    return fig


def figure5(scheme: SchemeResults, figures_dir):
    """The paper's Figure 5: accuracy and macro F1 against the number of clusters."""
    figures.save_table(scheme.sweep.set_index("n_clusters"), _tables(figures_dir), "fig5_sweep", floatfmt=".4g")
    fig = figures.plot_cluster_sweep(scheme.sweep, scheme.sweep_model)
    figures.save_figure(fig, figures_dir, "fig5_cluster_sweep")
    return fig


def table2(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper's Table 2: baseline vs Perturb Scheme per backbone."""
    table = scheme.table2.set_index("model")
    figures.save_table(table, _tables(figures_dir), "table2", floatfmt=".3g")
    return table


def table3(scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper's Table 3: per-class change with the Perturb Scheme, ours in relative % (the paper's unit as we
    read it) beside percentage points."""
    t3 = scheme.table3
    relative = formatted(t3[t3["unit"] == "relative"], digits=1).add_suffix(" (relative %)")
    points = formatted(t3[t3["unit"] == "points"], digits=1, unit=" pp").add_suffix(" (pp)")
    table = relative.join(points)
    figures.save_table(table, _tables(figures_dir), "table3_ours")
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
    """Relevance on the mean face per model family, the reduction curves, and the full-vs-reduced table."""
    for family in landmarks.summary["family"].unique() if not landmarks.summary.empty else []:
        fig = figures.plot_landmark_relevance(landmarks.relevance, landmarks.mean_face, landmarks.mean_landmarks,
                                              landmarks.kept, family)
        figures.save_figure(fig, figures_dir, f"landmark_relevance_{family}")
    figures.save_figure(figures.plot_reduction(landmarks.reduction), figures_dir, "landmark_reduction")
    summary = landmarks.summary.set_index(["emotion", "family"])
    figures.save_table(summary, _tables(figures_dir), "landmark_full_vs_reduced", floatfmt=".3g")
    return summary


# ---------------------------------------------------------------------------------- paper vs ours
#: the range each compared quantity can take: a prediction interval wider than it says nothing
SPANS = {"% change": 200.0, "accuracy %": 100.0, "macro F1": 1.0}


def paper_verdict(paper: float, ours: float, pred_half: float, seeds: int, span: float) -> str:
    """Does one more run of ours land where the paper's single run did?

    Returns:
        ``paper inside our prediction interval``, ``paper outside our prediction interval``, or ``inconclusive (n
        seeds)`` when there is no interval (one seed) or it is wider than the quantity's own range, or ``no value``
        (e.g. a change from a clean accuracy of 0).
    """
    if ours is None or not math.isfinite(ours):
        return "no value"
    if seeds < 2 or pred_half is None or not math.isfinite(pred_half) or 2 * pred_half > span:
        return f"inconclusive ({seeds} seed{'s' if seeds != 1 else ''})"
    inside = abs(paper - ours) <= pred_half
    return f"paper {'inside' if inside else 'outside'} our prediction interval"


def comparison_table(maskfer: MaskFerResults, scheme: SchemeResults) -> pd.DataFrame:
    """Every cell the paper reports beside ours, in the same quantity and unit.

    Columns: ``table``, ``emotion or metric``, ``model`` (the paper's column), ``our model``, ``unit``,
    ``paper``, ``ours``, ``interval`` (our 95 % prediction interval for one more run), ``seeds``, ``verdict``
    (:func:`paper_verdict`), ``note`` (e.g. a paper value that is a copy of another). Our models are matched to
    the paper's columns by family (vgg16 -> VGG16, resnet* -> ResNet, ...).
    """
    rows = []

    def add(table, what, column, ours_model, unit, paper, cell, note=""):
        mean = float(cell["mean"]) if cell is not None and cell["mean"] is not None else np.nan
        pred = float(cell["pred"]) if cell is not None and cell["pred"] is not None else np.nan
        seeds = int(cell["seeds"]) if cell is not None else 0
        rows.append({"table": table, "emotion or metric": what, "model": column, "our model": ours_model or "(not run)",
                     "unit": unit, "paper": paper, "ours": mean,
                     "interval": f"{mean - pred:.3g} to {mean + pred:.3g}" if math.isfinite(pred) else "--",
                     "seeds": seeds, "verdict": paper_verdict(paper, mean, pred, seeds, SPANS[unit]) if ours_model else "not run",
                     "note": note})

    def cell(long, emo, column):
        hit = long[(long["row"] == emo) & (long["column"] == column)] if column else long.iloc[:0]
        return hit.iloc[0] if len(hit) else None

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
                    c = {"mean": r[f"{label.lower()} {key}"], "pred": r[f"{label.lower()} {key} pred"], "seeds": r["seeds"]}
                add(f"Table 2 ({label})", metric, col, ours, unit, value, c)
    t3 = scheme.table3[scheme.table3["unit"] == "relative"] if not scheme.table3.empty else scheme.table3
    for emo in EMOTIONS:
        for col, value in TABLE3[emo].items():
            ours = ours_t2.get(col)
            add("Table 3", emo, col, ours, "% change", value, cell(t3, emo, ours) if ours else None)
    return pd.DataFrame(rows)


def comparison(maskfer: MaskFerResults, scheme: SchemeResults, figures_dir) -> pd.DataFrame:
    """The paper-vs-ours table, written as ``paper_vs_ours``."""
    table = comparison_table(maskfer, scheme)
    figures.save_table(table.set_index("table"), _tables(figures_dir), "paper_vs_ours", floatfmt=".3g")
    return table


# ------------------------------------------------------------------------------------------ findings
def findings(maskfer: MaskFerResults | None, scheme: SchemeResults | None, model: str = "vgg16") -> list[str]:
    """What the results say about the paper's claims, in sentences (each with its interval and seeds).

    Args:
        maskfer: notebook 01's results (None: leave its claims out).
        scheme: notebook 03's results (None: leave its claims out).
        model: the backbone the sentences are about.

    Returns:
        One sentence per claim: which emotions masking hurts most, whether sad rises, whether fear drops little,
        whether the Perturb Scheme helps, and the best number of clusters.
    """
    out = []
    t1 = maskfer.table1[maskfer.table1["column"] == model].set_index("row") if maskfer else pd.DataFrame()
    if len(t1):
        worst = t1["mean"].sort_values().index[:2]
        cells = "; ".join(f"{e} {stats_text(t1.loc[e])}" for e in worst)
        out.append(f"Masking hurts {worst[0].lower()} and {worst[1].lower()} most ({cells}; relative change of "
                   f"per-class accuracy, {model}); the paper's {model.upper()} column: happy -35 %, neutral -43 %.")
        out.append(f"Sad: {stats_text(t1.loc['Sad'])} ({t1.loc['Sad', 'verdict']}); the paper's text says sad "
                   "rises, its Table 1 says it falls (-8 % for VGG16).")
        out.append(f"Fear: {stats_text(t1.loc['Fear'])} ({t1.loc['Fear', 'verdict']}); the paper's text says about "
                   "-10 %, its Table 1 -17 % for VGG16.")
    if scheme is not None and not scheme.table2.empty:
        row = scheme.table2.set_index("model").loc[model] if model in set(scheme.table2["model"]) else scheme.table2.iloc[0]
        out.append(f"The Perturb Scheme changes test accuracy by {row['delta acc']:+.1f} pp "
                   f"({fmt_interval(row['delta acc ci'])}, {int(row['seeds'])} seeds: {row['verdict']}); the paper "
                   f"reports {row['paper delta acc']:+.1f} pp for its VGG16.")
    if scheme is not None and not scheme.sweep.empty and scheme.sweep["chosen"].any():
        n = int(scheme.sweep.loc[scheme.sweep["chosen"], "n_clusters"].iloc[0])
        out.append(f"The number of clusters chosen on validation is {n} (the paper's best: {FIGURE5_BEST_CLUSTERS}), "
                   f"from a sweep with {int(scheme.sweep['seeds'].max())} seed(s).")
    return out


def stats_text(cell) -> str:
    """``-35 % ± 12`` or ``-35 % (n = 1, no interval)`` for a long-table row."""
    return fmt_ci(cell["mean"], cell["ci"], 0, " %", mark=False)


def fmt_interval(half) -> str:
    return "n = 1, no interval" if half is None or not math.isfinite(half) else f"± {half:.1f} pp"
