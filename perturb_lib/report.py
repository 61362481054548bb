"""The reproduction report: every figure and table of the paper regenerated from run records, and our numbers
set beside the paper's. Nothing here trains; missing records are listed with the notebook that makes them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .data.faces import EMOTIONS
from .paper import PAPER_COLUMNS, TABLE1, TABLE2_BASELINE, TABLE2_PERTURB, TABLE3, paper_column
from .runs import MissingRunsError, load_notebook_results, notebook_results_path, records_dir

REQUIRED = {
    "00_data": "notebook 00 (the data)",
    "01_maskfer_degradation": "notebook 01 (MaskFer degradation)",
    "02_saliency": "notebook 02 (saliency)",
    "03_perturb_scheme": "notebook 03 (Perturb Scheme)",
    "04_landmark_explainability": "notebook 04 (landmark explainability)",
}


def study_results(study_dir) -> dict[str, dict]:
    """The results every notebook recorded, and a check that the runs they name still exist.

    Raises:
        MissingRunsError: listing every missing result file and run folder, with the notebook that makes it.
    """
    missing, out = [], {}
    for nb, maker in REQUIRED.items():
        r = load_notebook_results(study_dir, nb)
        if r is None:
            missing.append(f"{notebook_results_path(study_dir, nb)} (run {maker})")
            continue
        out[nb] = r
        for key, name in (r.get("runs") or {}).items():
            if not (records_dir(study_dir) / name / "metrics.json").is_file():
                missing.append(f"run {name} ({key}, made by {maker})")
    if missing:
        raise MissingRunsError("cannot regenerate the figures; missing:\n  - " + "\n  - ".join(missing))
    return out


def _cells(long_records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(long_records)


def table1_from_results(r01: dict) -> pd.DataFrame:
    """Our Table 1 in long form (row = emotion, column = model or Ensemble, mean, ci, noise)."""
    return _cells(r01["table1"])


def comparison_table(r01: dict, r03: dict) -> pd.DataFrame:
    """Every cell the paper reports beside ours: the paper's number, our mean ± 95% half-width, the difference.

    Our models are matched to the paper's columns by family (vgg16 -> VGG16, resnet* -> ResNet, ...). Cells the
    paper reports for architectures this study did not run are listed with ours empty.
    """
    rows = []
    t1 = _cells(r01["table1"])
    ours_by_column = {}
    for column in t1["column"].unique():
        name = "Ensemble" if column == "Ensemble" else paper_column(column)
        ours_by_column.setdefault(name, column)
    for emo in EMOTIONS:
        for k, col in enumerate(PAPER_COLUMNS):
            ours = ours_by_column.get(col)
            cell = t1[(t1["row"] == emo) & (t1["column"] == ours)] if ours else pd.DataFrame()
            m, h = (cell["mean"].iloc[0], cell["ci"].iloc[0]) if len(cell) else (np.nan, np.nan)
            rows.append(_row("Table 1 (% change, masked vs clean)", emo, col, ours, TABLE1[emo][k], m, h))
    t2 = pd.DataFrame(r03["table2"]).set_index("model") if r03.get("table2") else pd.DataFrame()
    ours_t2 = {paper_column(m): m for m in t2.index}
    for col in PAPER_COLUMNS:
        for label, paper_values in (("baseline", TABLE2_BASELINE), ("perturb", TABLE2_PERTURB)):
            p = paper_values.get(col)
            if p is None:
                continue
            ours = ours_t2.get(col)
            for metric, scale, key in (("accuracy %", 1, "acc"), ("macro F1", 1, "F1")):
                m = t2.loc[ours, f"{label} {key}"] if ours else np.nan
                h = t2.loc[ours, f"{label} {key} ci"] if ours else np.nan
                rows.append(_row(f"Table 2 ({label}, {metric})", "-", col, ours,
                                 p[0] if key == "acc" else p[1], m, h))
    t3 = pd.DataFrame(r03.get("table3") or [])
    for emo in EMOTIONS:
        for col, value in TABLE3[emo].items():
            ours = ours_t2.get(col)
            cell = t3[(t3["row"] == emo) & (t3["column"] == ours)] if (ours and len(t3)) else pd.DataFrame()
            m, h = (cell["mean"].iloc[0], cell["ci"].iloc[0]) if len(cell) else (np.nan, np.nan)
            rows.append(_row("Table 3 (per-class change, pp ours / % paper)", emo, col, ours, value, m, h))
    return pd.DataFrame(rows)


def _row(table, row, column, ours_model, paper, mean, ci) -> dict:
    mean = float(mean) if mean is not None else np.nan
    ci = float(ci) if ci is not None and not (isinstance(ci, float) and math.isnan(ci)) else np.nan
    return {"table": table, "row": row, "paper column": column, "our model": ours_model or "(not run)",
            "paper": paper, "ours": mean, "ours ci": ci,
            "difference": mean - paper if not math.isnan(mean) else np.nan,
            "within our interval": (abs(mean - paper) <= ci) if not (math.isnan(mean) or math.isnan(ci)) else None}


def plot_class_distribution_from_counts(counts: dict, name: str):
    """Figure 3 from notebook 00's recorded counts (``{split: {emotion: n}}``)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    splits = list(counts)
    x = np.arange(len(EMOTIONS))
    width = 0.8 / len(splits)
    for k, split in enumerate(splits):
        ax.bar(x + (k - (len(splits) - 1) / 2) * width, [counts[split][e] for e in EMOTIONS], width, label=split)
    ax.set_xticks(x, EMOTIONS)
    ax.set_ylabel("faces")
    ax.set_title(f"Figure 3: class distribution of {name}")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
