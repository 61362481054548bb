"""The README's generated sections: the package's layers, the parameter table, and the results, each between
``<!-- BEGIN generated: <name> -->`` and ``<!-- END generated: <name> -->``. Typed by hand they would drift
from the code and the committed tables; a test fails when the README and this module disagree.

    python -m perturb_lib.readme --write    # rewrite the generated sections (make readme)
    python -m perturb_lib.readme --check    # exit 1 if the README is stale
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .io import read_json
from .params import NOTEBOOKS
from .paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"

#: the package's layers, lowest first: a module may import only from its own layer or lower ones (a test checks
#: every import). Entries are module names relative to ``perturb_lib``; a package name covers its modules.
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("foundations", ("paths", "io", "params", "paper", "stats"),
     "paths, atomic writes, every parameter and default, the paper's numbers, intervals"),
    ("geometry and images", ("images", "geometry", "augment"),
     "pixel grids and shapes, blur and hash noise, batched augmentation"),
    ("data and landmarks", ("data", "landmarks"),
     "FaceSet and loaders, synthetic faces, published MaskFer; landmark layouts, providers and regions"),
    ("perturbation policies", ("policies",),
     "the InputPolicy interface; MaskFer masks, feature removal, the Perturb Scheme's clusters"),
    ("models", ("models",), "the model zoo and the CBAM spatial gate with its attention maps"),
    ("training and evaluation", ("metrics", "execution", "runs", "evaluate", "train", "grid", "grid_ray", "tables",
                                 "saliency", "landmark_models"),
     "run records, the training loop, evaluation, grids; saliency methods and landmark classifiers; table helpers"),
    ("experiments", ("experiments",), "one module per notebook's experiment, each returning a results object"),
    ("figures and report", ("figures", "report", "readme"),
     "figures by concept, one report function per artefact, the README's generated sections"),
    ("the pipeline", ("pipeline", "notebook_sync"), "running a study's notebooks; keeping notebooks in sync"),
]


def layer_of(module: str) -> int:
    """The layer index of a module (``perturb_lib.x.y`` or ``x.y``)."""
    name = module.removeprefix("perturb_lib.")
    for i, (_, members, _) in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in members):
            return i
    raise KeyError(f"module {module!r} is in no layer of perturb_lib.readme.LAYERS")


def architecture() -> str:
    """The layer diagram (lowest at the bottom; imports point down) with what each layer owns."""
    width = max(len(name) for name, _, _ in LAYERS)
    lines = ["```text"]
    for i, (name, members, what) in enumerate(reversed(LAYERS)):
        if i:
            lines.append(f"{'':<4}│")
            lines.append(f"{'':<4}▼")
        lines.append(f"{name:<{width}}   {', '.join(members)}")
        lines.append(f"{'':<{width}}   ({what})")
    lines.append("```")
    return "\n".join(lines)


def parameters_table() -> str:
    """Every parameter: the notebooks that take it, its type, its default and its one-line doc."""
    rows: dict[str, list] = {}
    for notebook, cls in NOTEBOOKS.items():
        docs, types = cls.docs(), cls.type_names()
        for name, default in cls.defaults().items():
            row = rows.setdefault(name, [[], types[name], default, docs[name]])
            row[0].append(notebook[:2])
    out = ["| parameter | notebooks | type | default | what it sets |", "|---|---|---|---|---|"]
    for name, (nbs, tp, default, doc) in rows.items():
        out.append(f"| `{name}` | {', '.join(nbs)} | {tp.replace('|', '&#124;')} | `{default!r}` | "
                   f"{doc.replace('|', '&#124;')} |")
    return "\n".join(out)


def results(study: str) -> str:
    """The key numbers of a committed study (``figures/<study>/``), beside the paper's, and what they say.

    Read from the study's committed results objects; a study not committed yet says so.
    """
    from .experiments import DataResults, MaskFerResults, SchemeResults
    from .report import findings
    from .stats import fmt_ci
    root = PROJECT_ROOT / "figures" / study
    if not (root / "results" / "scheme.json").is_file():
        return f"_No committed results for `{study}` yet: `make study PROFILE={study}` makes them._"
    data, maskfer, scheme = DataResults.load(root), MaskFerResults.load(root), SchemeResults.load(root)
    record = next(iter(sorted((root / "records").glob("*/config.json"))), None)
    config = read_json(record) if record else {}
    timings = read_json(root / "timings.json") if (root / "timings.json").is_file() else {}
    model = maskfer.models[0]
    lines = [f"{data.dataset} ({data.faces:,} faces; landmarks: {data.landmark_source}), {model} at width "
             f"{config.get('width')}, {config.get('epochs')} epochs ({config.get('lr_schedule')} schedule, lr "
             f"{config.get('lr')}), {len(maskfer.seeds)} seeds; intervals: 95 % over seeds and test faces"
             + (f"; how long it took: see [Two commands](#two-commands)." if timings.get("total_seconds") else "."),
             "",
             "| quantity | paper (FER2013, full-width models, 200 epochs) | ours |", "|---|---|---|"]
    cross = maskfer.cross_conditions.set_index(["model", "condition"])

    def acc(condition):
        r = cross.loc[(model, condition)]
        return fmt_ci(r["mean"], r["ci"], 1, " %", int(r["seeds"]))
    lines.append(f"| {model} test accuracy, trained and tested clean | 66.5 % | {acc('clean -> clean')} |")
    lines.append(f"| trained and tested masked | -- | {acc('masked -> masked')} |")
    lines.append(f"| trained clean, tested masked | -- | {acc('clean -> masked')} |")
    t1 = maskfer.table1[maskfer.table1["column"] == model].set_index("row")
    from .paper import PAPER_COLUMNS, TABLE1, TABLE2_BASELINE, TABLE2_PERTURB, paper_column
    k = PAPER_COLUMNS.index(paper_column(model))
    for emo in t1.index:
        cell = fmt_ci(t1.loc[emo, "mean"], t1.loc[emo, "ci"], 0, " %", int(t1.loc[emo, "seeds"]))
        few = f" ({int(t1.loc[emo, 'test_faces'])} test faces)" if t1.loc[emo, "few"] else ""
        lines.append(f"| Table 1, {emo}{few}: change of accuracy, masked vs clean | {TABLE1[emo][k]} % | {cell} |")
    t2 = scheme.table2.set_index("model")
    if model in t2.index:
        r = t2.loc[model]
        column = paper_column(model)
        lines.append(f"| Perturb Scheme (n = {scheme.options.get('n_clusters')}): accuracy change | "
                     f"{TABLE2_PERTURB[column][0] - TABLE2_BASELINE[column][0]:+.1f} pp | "
                     f"{fmt_ci(r['delta acc'], r['delta acc ci'], 1, ' pp', int(r['seeds']))} |")
    if scheme.sweep["chosen"].any():
        chosen = int(scheme.sweep.loc[scheme.sweep["chosen"], "n_clusters"].iloc[0])
        lines.append(f"| best number of clusters (ours: chosen on validation) | 3 | {chosen} |")
    if maskfer.truth_summary:
        t = maskfer.truth_summary
        lines.append(f"| synthetic truth: most harmful removal is a defining region | -- | {t['score']} of {t['emotions']} "
                     f"(chance {t['chance']:.2f}, p = {t['p_value']:.3f}) |")
    if maskfer.mask_probe:
        m = maskfer.mask_probe
        lines.append(f"| a probe reads the emotion from the mask's pixels (balanced accuracy) | -- | "
                     f"{m['balanced_accuracy']:.3f} (chance {m['chance']:.3f} ± {m['chance_band']:.3f}) |")
    drop = maskfer.removal_trained.sort_values("mean").iloc[0] if not maskfer.removal_trained.empty else None
    if drop is not None:
        lines.append(f"| largest drop, trained and tested without one feature | up to -85 % (happy, surprise) | "
                     f"{drop['row']} without the {drop['column']}: "
                     f"{fmt_ci(drop['mean'], drop['ci'], 0, ' %', int(drop['seeds']))} |")
    lines += ["", "What this says about the paper's claims (from `report.findings`):", ""]
    lines += [f"- {sentence}" for sentence in findings(maskfer, scheme, model)]
    lines += ["", f"Every table: `figures/{study}/tables/`; every figure: `figures/{study}/`; the executed notebooks: "
              f"`figures/{study}/notebooks/`; the full paper-vs-ours comparison: "
              f"`figures/{study}/tables/paper_vs_ours.md`."]
    return "\n".join(lines)


def landmark_numbers(study: str) -> str:
    """The landmark providers measured on a committed study's faces: detection per split, agreement with the
    published MaskFer, the template's error against dlib, and time per face."""
    from .experiments import DataResults, MaskFerResults
    root = PROJECT_ROOT / "figures" / study
    if not (root / "results" / "data.json").is_file():
        return f"_No committed results for `{study}` yet._"
    data, maskfer = DataResults.load(root), MaskFerResults.load(root)
    lines = []
    if not data.detection.empty:
        by_split = data.detection[data.detection["by"].isin(["split", "all"])]
        table = by_split.pivot_table(index="group", columns="provider", values="rate %", sort=False)
        lines += ["| faces found | " + " | ".join(table.columns) + " |", "|---" * (len(table.columns) + 1) + "|"]
        lines += [f"| {g} | " + " | ".join(f"{v:.1f} %" for v in row) + " |" for g, row in table.iterrows()]
        lines.append("")
    member = maskfer.membership.set_index("split") if not maskfer.membership.empty else None
    if member is not None and "agreement %" in member.columns:
        a = member.loc["all"]
        lines.append(f"- MaskFer membership (the faces dlib finds, MaskTheFace's rule) against the published list, "
                     f"over all {int(a['faces']):,} faces: {int(a['kept']):,} ours, {int(a['published']):,} "
                     f"published, {int(a['both']):,} in both, {int(a['only ours'])} only ours, "
                     f"{int(a['only published'])} only published: {a['agreement %']:.2f} % agreement.")
    errors = data.landmark_error
    if not errors.empty:
        for provider, rows in errors.groupby("provider", sort=False):
            parts = ", ".join(f"{r['part']} {r['mean px']:.1f}" for _, r in rows.iterrows() if r["part"] != "all 68")
            overall = rows[rows["part"] == "all 68"].iloc[0]
            lines.append(f"- {provider} against {overall['reference']} on {int(overall['faces']):,} faces both found: "
                         f"mean {overall['mean px']:.2f} px, 90th percentile {overall['p90 px']:.2f} px ({parts}).")
    if data.ms_per_face:
        lines.append("- time per face on this machine: " + ", ".join(f"{p} {ms:.1f} ms" for p, ms in data.ms_per_face.items())
                     + " (computed once per dataset, then cached).")
    return "\n".join(lines)


def study_time(study: str = "cpu") -> str:
    """How long the committed study took: its notebooks' last execution and its training runs, from the records.

    The two are reported apart because a re-executed study reuses its finished runs: the notebooks' time alone is
    then evaluation, saliency and figures, and the training time lives in each run's ``env.json``.
    """
    root = PROJECT_ROOT / "figures" / study
    path = root / "timings.json"
    if not path.is_file():
        return f"_`make study` has not been timed on the committed `{study}` results yet._"
    t = read_json(path)
    parts = ", ".join(f"{nb[:2]} {v['seconds'] / 60:.1f}" for nb, v in t["notebooks"].items())
    walls = [read_json(env)["wall_seconds"] for env in sorted(root.glob("records/*/env.json"))]
    return (f"The committed `figures/{study}/`: its notebooks last ran in {t['total_seconds'] / 60:.1f} minutes on 2 "
            f"CPU cores (minutes per notebook: {parts}); its {len(walls)} training runs took "
            f"{sum(walls) / 60:.1f} minutes in all (their recorded wall times; a re-executed study reuses them).")


def recipe_frontier() -> str:
    """The accuracy-against-minutes frontier of the CPU recipe on real FER2013 (``benchmarks/recipe_frontier.csv``)."""
    import pandas as pd
    path = PROJECT_ROOT / "benchmarks" / "recipe_frontier.csv"
    if not path.is_file():
        return "_benchmarks/recipe_frontier.csv is missing._"
    t = pd.read_csv(path)
    lines = ["| recipe | epochs | minutes per run | validation accuracy | test accuracy |", "|---|---|---|---|---|"]
    for _, r in t.iterrows():
        test = f"{100 * r['test_acc']:.1f} %" if pd.notna(r["test_acc"]) else "(not read: not a finalist)"
        lines.append(f"| {r['recipe']} | {r['epochs']} | {r['minutes']:.1f} | {100 * r['val_acc']:.1f} % | {test} |")
    return "\n".join(lines)


def figures_gallery(study: str) -> str:
    """The key figures of a committed study as images."""
    root = PROJECT_ROOT / "figures" / study
    shown = [("table1_heatmap", "Table 1: change of per-class accuracy, masked vs clean (ours beside the paper's)"),
             ("fig1_saliency", "Figure 1: saliency of the clean- and the mask-trained model"),
             ("fig4_clusters", "Figure 4: phase-1 attention and its clusters"),
             ("fig5_cluster_sweep", "Figure 5: accuracy against the number of clusters")]
    lines = [f"![{caption}](figures/{study}/{name}.png)\n*{caption}*\n" for name, caption in shown
             if (root / f"{name}.png").is_file()]
    return "\n".join(lines) if lines else f"_No committed figures for `{study}` yet._"


GENERATORS = {"architecture": architecture, "parameters": parameters_table,
              "results-cpu": lambda: results("cpu"), "results-fer2013-cpu": lambda: results("fer2013-cpu"),
              "figures-fer2013-cpu": lambda: figures_gallery("fer2013-cpu"),
              "landmarks-fer2013-cpu": lambda: landmark_numbers("fer2013-cpu"),
              "study-time": lambda: study_time("cpu") + "\n\n" + study_time("fer2013-cpu"),
              "recipe-frontier": recipe_frontier}
_BLOCK = re.compile(r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)", re.S)


def render(text: str) -> str:
    """The README text with every generated section rewritten."""
    return _BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group("name")]() + "\n" + m.group(4), text)


def stale(path: Path = README) -> list[str]:
    """Names of the generated sections that differ from what the code and tables give (empty: in sync)."""
    text = path.read_text()
    fresh = render(text)
    return [m.group("name") for m, n in zip(_BLOCK.finditer(text), _BLOCK.finditer(fresh)) if m.group(0) != n.group(0)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the generated sections")
    ap.add_argument("--check", action="store_true", help="exit 1 when a generated section is stale")
    a = ap.parse_args(argv)
    if a.write:
        README.write_text(render(README.read_text()))
    found = stale()
    for name in found:
        print(f"README.md: generated section {name!r} is stale (run `make readme`)")
    return 1 if (a.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
