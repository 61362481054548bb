"""The generated parts of the README and the docs: the findings, the package's layers, the parameter table, the
results, each between ``<!-- BEGIN generated: <name> -->`` and ``<!-- END generated: <name> -->``; and each
committed study's own page, ``figures/<study>/README.md`` (its time, its records, what a re-run does), generated
whole. Typed by hand they would drift from the code and the committed tables; a test fails when a document and this
module disagree. The top README holds nothing that growing a ledger changes: that goes to the study's own page.

    python -m perturb_lib.readme --write    # rewrite every generated part (make readme)
    python -m perturb_lib.readme --check    # exit 1 if one is stale
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

from .execution import CPU_TARGETS, SHARED_BELOW
from .io import atomic_write_text, named_runs, read_json
from .layers import LAYERS
from .params import NOTEBOOKS
from .paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
#: the documents with generated sections: the README and every page of docs/
DOCS = PROJECT_ROOT / "docs"
#: the committed studies, each with its own generated page (figures/<study>/README.md)
STUDIES = ("cpu", "fer2013-cpu")

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


def _with_seeds(text: str, n) -> str:
    """A number followed by its seed count, once (a verdict may already carry it)."""
    from .stats import seeds_text
    return text if "seed" in text else f"{text} ({seeds_text(n)})"


def results(study: str) -> str:
    """The key numbers of a committed study (``figures/<study>/``), beside the paper's, and the claims table.

    Read from the study's committed results objects and run records; every paper number comes from
    :mod:`perturb_lib.paper`. A study not committed yet says so.
    """
    from .experiments import DataResults, MaskFerResults, SchemeResults
    from .paper import FIGURE5_BEST_CLUSTERS, TABLE2_BASELINE, paper_column, perturb_gain
    from .experiments.results import run_key
    from .report import collapsed_runs
    from .stats import fmt_ci, seeds_text
    from .tables import estimate_from
    root = PROJECT_ROOT / "figures" / study
    if not (root / "results" / "scheme.json").is_file():
        return f"_No committed results for `{study}` yet: `make study PROFILE={study}` makes them._"
    data, maskfer, scheme = DataResults.load(root), MaskFerResults.load(root), SchemeResults.load(root)
    model = maskfer.models[0]
    # the recipe of the first model's first clean run (not any record: a ledger holds other architectures' too)
    seeds = maskfer.column_seeds.get(model, [])
    name = maskfer.runs.get(run_key("maskfer", model, seeds[0], "clean")) if seeds else None
    record = root / "records" / name / "config.json" if name else None
    config = read_json(record) if record and record.is_file() else {}
    column = paper_column(model)
    lines = [f"{data.dataset} ({data.faces:,} faces; landmarks: {data.landmark_source}). The recipe: {model} at width "
             f"{config.get('width')}, {config.get('epochs')} epochs, batch {config.get('batch_size')}, "
             f"{config.get('lr_schedule')} schedule at lr {config.get('lr')}, label smoothing "
             f"{config.get('label_smoothing')}, random erasing {config.get('erasing')}, test-time augmentation "
             f"{config.get('tta')}, {config.get('precision')}. Seeds: Table 1 {maskfer.seed_counts()}, the Perturb "
             f"Scheme {_perturb_seeds(scheme.table2)}, the cluster sweep "
             f"{int(scheme.sweep['seeds'].max()) if not scheme.sweep.empty else 0}. Intervals: 95 % over seeds and "
             f"test faces; a relative change's on the log-ratio scale.", ""]
    t2 = scheme.table2.set_index("model")
    cross = maskfer.cross_conditions.set_index(["model", "condition"])

    def acc(condition):
        r = cross.loc[(model, condition)]
        return fmt_ci(r["mean"], r["ci"], 1, " %", int(r["seeds"]), mark=False)
    lines += ["| quantity | paper (FER2013, full-width models, 200 epochs) | ours |", "|---|---|---|"]
    if model in t2.index:
        r = t2.loc[model]
        base = estimate_from(r, "baseline acc")
        lines.append(f"| {model} test accuracy, every test face (Table 2's baseline, {seeds_text(r['seeds'])}) | "
                     f"{TABLE2_BASELINE[column][0]} % | {fmt_ci(base.value, base.half, 1, ' %', mark=False)} |")
    lines.append(f"| trained and tested clean, on the faces dlib finds (Table 1's faces) | -- | {acc('clean -> clean')} |")
    lines.append(f"| trained and tested masked (Table 1's faces) | -- | {acc('masked -> masked')} |")
    lines.append(f"| trained clean, tested masked (Table 1's faces) | -- | {acc('clean -> masked')} |")
    if model in t2.index:
        delta = estimate_from(t2.loc[model], "delta acc")
        lines.append(f"| Perturb Scheme (n = {scheme.options.get('n_clusters')}): change of test accuracy, paired by "
                     f"seed | {perturb_gain(column):+.1f} pp | "
                     f"{_with_seeds(fmt_ci(delta.value, delta.half, 2, ' pp', delta.seeds), delta.seeds)} |")
    if not scheme.sweep.empty and (scheme.sweep["n_clusters"] > 0).sum() >= 2 and scheme.sweep["chosen"].any():
        chosen = int(scheme.sweep.loc[scheme.sweep["chosen"], "n_clusters"].iloc[0])
        lines.append(f"| best number of clusters (ours: chosen on validation, {seeds_text(scheme.sweep['seeds'].max())}) "
                     f"| {FIGURE5_BEST_CLUSTERS} | {chosen} |")
    if maskfer.truth_summary:
        t = maskfer.truth_summary
        lines.append(f"| synthetic truth: most harmful removal is a defining region | -- | {t['score']} of {t['emotions']} "
                     f"(chance {t['chance']:.2f}, p = {t['p_value']:.3f}) |")
    if maskfer.mask_probe:
        m = maskfer.mask_probe
        within = abs(m["balanced_accuracy"] - m["chance"]) <= m["chance_band"]
        lines.append(f"| a probe reads the emotion from the mask's pixels (balanced accuracy) | -- | "
                     f"{m['balanced_accuracy']:.3f}: {'within' if within else 'above'} chance "
                     f"({m['chance']:.3f} ± {m['chance_band']:.3f}) |")
    lines += embedded(root, f"table1_{model}", f"Table 1, {model}: change of per-class accuracy, trained and tested "
                      "masked against trained and tested clean. Its runs train and test on the faces the landmark "
                      "detector finds (MaskTheFace's rule: the published MaskFer's faces), so that both conditions see "
                      "the same faces; Table 2's baselines train and test on every face, as the paper's Table 2 does, "
                      "so they are other runs, on purpose. The relative change is the paper's unit; it divides by the "
                      "clean accuracy, so the change in points and the change of the one-vs-rest AUC (free of the "
                      "decision threshold) stand beside it.")
    lines += embedded(root, "table2_architectures", "Table 2, every architecture: test accuracy and macro F1 on every "
                      "test face, trained clean (the ensemble sums its models' logits, per seed), and the Perturb "
                      "Scheme's change where it ran; each model's width, epochs and median minutes a run on every "
                      "face, from its records (the paper: full width, 200 epochs).")
    lines += embedded(root, "table1_architectures", "Table 1, every architecture: relative change of per-class "
                      "accuracy, trained and tested masked against trained and tested clean, on Table 1's faces, beside "
                      "the paper's column (the seeds of each column: `table1_ours.md`; our Ensemble sums its models' "
                      "logits; the paper's Ensemble column repeats its ResMasking column).")
    lines += embedded(root, "table3_vs_paper", "Table 3: change of per-class test accuracy with the Perturb Scheme, "
                      "paired by seed, relative and in points, beside the paper's (its unit is not stated).")
    lines += embedded(root, "removal_trained", f"Removal trained and tested ({model}, on Table 1's faces): the "
                      "relative change of per-class accuracy against the clean runs of the same faces and seeds "
                      "(points and AUC: `removal_trained_points.md`, `removal_trained_auc.md`).")
    lines += embedded(root, "scheme_variants", "The Perturb Scheme's variants, each against the baseline of its own "
                      "seed and recipe, beside the study's own scheme on the same seeds, and where their shared "
                      "clusters fell (`cluster_locations.md`).")
    lines += embedded(root, "landmark_seeds", "The second seed paper: the reduced landmark set against the full one, "
                      "per emotion and model family, over seeds (each seed choosing its own set) and test faces.")
    lines += embedded(root, "claims", "**The paper's claims** (`perturb_lib.claims`; our verdict at laptop scale):")
    names = set(maskfer.runs.values()) | set(scheme.runs.values())
    collapsed = collapsed_runs(root, names) if (root / "records").is_dir() else []
    lines += ["", f"Runs that predict one class for more than half of their test faces: "
              f"{'; '.join(collapsed) if collapsed else 'none'} (of {len(names)})."]
    lines += ["", f"Every table: `figures/{study}/tables/`; every figure: `figures/{study}/`; the executed notebooks: "
              f"`figures/{study}/notebooks/`; the full paper-vs-ours comparison: "
              f"`figures/{study}/tables/paper_vs_ours.md`."]
    return "\n".join(lines)


def embedded(root: Path, table: str, caption: str) -> list[str]:
    """A committed study's table as its report wrote it (``figures/<study>/tables/<table>.md``), with a caption;
    nothing when the study has none."""
    path = root / "tables" / f"{table}.md"
    return ["", caption, "", path.read_text().rstrip()] if path.is_file() else []


def _perturb_seeds(table2) -> str:
    """How many seeds the Perturb pairs of Table 2 have (not its baseline-only rows): ``6``, or ``3-6``."""
    from .stats import count_span
    pairs = table2[table2["delta acc"].notna()] if "delta acc" in table2 else table2.iloc[:0]
    return count_span(pairs["seeds"])


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
    envs = {env.parent.name: read_json(env) for env in sorted(root.glob("records/*/env.json"))}
    per_notebook, used = [], set()
    for notebook, results in (("01", "maskfer"), ("03", "scheme")):  # the notebooks that train
        doc = root / "results" / f"{results}.json"
        names = named_runs(read_json(doc)) & set(envs) if doc.is_file() else set()
        used |= names
        per_notebook.append(f"{notebook} {sum(envs[n]['wall_seconds'] for n in names) / 60:.1f} ({len(names)} runs)")
    # a ledger also holds records this study's results do not name (grown for a later sitting, or side
    # measurements): counted apart, so the study's minutes are its own
    unused = len(envs) - len(used)
    envs = {n: envs[n] for n in sorted(used)}
    shared = [name for name, env in envs.items() if (env.get("cpu_share") or 1.0) < SHARED_BELOW]
    resumed = [name for name, env in envs.items() if env.get("resumed_at_epoch")]
    speeds = [env["images_per_s"] for env in envs.values() if env.get("images_per_s")]
    speed = f" at a median {statistics.median(speeds):,.0f} training images/s" if speeds else ""
    return (f"The committed `figures/{study}/`: its notebooks last ran in {t['total_seconds'] / 60:.1f} minutes on 2 "
            f"CPU cores (minutes per notebook: {parts}); its {len(envs)} training runs took "
            f"{sum(env['wall_seconds'] for env in envs.values()) / 60:.1f} minutes in all{speed} (minutes per notebook "
            f"that trains: {', '.join(per_notebook)}, a run both use counted in each; their recorded wall times, "
            f"whichever sitting trained them; a re-executed study reuses them)"
            + (f"; {len(shared)} of the runs trained while their cores were shared (CPU share below {SHARED_BELOW}), "
               f"so their minutes overstate what they take alone" if shared else "")
            + (f"; {len(resumed)} run(s) were resumed after an interruption and count the minutes of their last "
               f"sitting only" if resumed else "")
            + (f"; its records folder holds {unused} more run record(s) that these results do not use (a ledger "
               f"grown for a later sitting, or side measurements)." if unused else "."))


def recipe_frontier(path: Path | None = None) -> str:
    """The accuracy-against-minutes frontier of the CPU recipe on real FER2013 (``benchmarks/recipe_frontier.csv``,
    written by ``benchmarks/frontier.py``): validation accuracy chooses; the test column is read for finalists.
    Then each of :data:`CPU_TARGETS`: reached, reached in accuracy on shared cores only, or not reached."""
    import pandas as pd
    path = path or PROJECT_ROOT / "benchmarks" / "recipe_frontier.csv"
    if not path.is_file():
        return "_benchmarks/recipe_frontier.csv is missing._"
    t = pd.read_csv(path)
    lines = ["| recipe | precision | minutes per run (cores shared?) | validation accuracy (flip TTA) | test accuracy | "
             "test recall: disgust, fear |", "|---|---|---|---|---|---|"]
    for _, r in t.sort_values("minutes").iterrows():
        test = f"{100 * r['test_acc']:.1f} %" if pd.notna(r["test_acc"]) else "(not read: not a finalist)"
        recall = f"{r['test_disgust']:.2f}, {r['test_fear']:.2f}" if pd.notna(r["test_acc"]) else "--"
        shared = "" if pd.isna(r["cpu_share"]) or r["cpu_share"] >= SHARED_BELOW else f" (shared: {r['cpu_share']:.2f})"
        lines.append(f"| {r['recipe']} | {r['precision']} | {r['minutes']:.1f}{shared} | {100 * r['val_raw_flip']:.1f} % | "
                     f"{test} | {recall} |")
    lines += ["", "Against the targets (one run each; minutes count only from a run that had its cores to itself):", ""]
    read = t[t["test_acc"].notna()]
    alone = read["cpu_share"].isna() | (read["cpu_share"] >= SHARED_BELOW)
    for minutes, target in CPU_TARGETS:
        accurate = (100 * read["test_acc"] >= target)
        hit = read[accurate & (read["minutes"] <= minutes) & alone]
        shared = read[accurate & ~alone]  # only shared cores leave the time unknown
        if len(hit):
            r = hit.sort_values("minutes").iloc[0]
            text = f"**reached**: {r['recipe']}, {100 * r['test_acc']:.1f} % in {r['minutes']:.1f} minutes"
        elif len(shared):
            r = shared.sort_values("minutes").iloc[0]
            text = (f"**accuracy reached, time not measured**: {r['recipe']}, {100 * r['test_acc']:.1f} % in "
                    f"{r['minutes']:.1f} minutes on shared cores (CPU share {r['cpu_share']:.2f})")
        elif accurate.any():
            r = read[accurate].sort_values("minutes").iloc[0]
            text = f"**not reached in time**: {r['recipe']}, {100 * r['test_acc']:.1f} % in {r['minutes']:.1f} minutes"
        else:
            best = read.sort_values("test_acc").iloc[-1] if len(read) else None
            text = ("**not reached**" + (f": the best finalist, {best['recipe']}, has {100 * best['test_acc']:.1f} %, "
                                        f"{target - 100 * best['test_acc']:.1f} points short" if best is not None else ""))
        lines.append(f"- {target:.0f} % in at most {minutes} minutes: {text}.")
    return "\n".join(lines)


def rerun(study: str) -> str:
    """What re-executing a committed study on a fresh clone does, from the plan its last execution wrote
    (``figures/<study>/plan.json``, :mod:`perturb_lib.plan`)."""
    from .plan import Plan
    path = PROJECT_ROOT / "figures" / study / "plan.json"
    if not path.is_file():
        return f"_`make study PROFILE={study}` writes `figures/{study}/plan.json`, which this paragraph reads._"
    plan = Plan.from_json(read_json(path))

    def minutes(action):
        m = plan.minutes(action)
        return "" if not plan.count(action) else f" (about {m:.0f} minutes)" if m is not None else " (minutes unknown)"
    return (f"Re-executing `make study PROFILE={study} DATA=...` on a fresh clone, as `--plan` computes it from the "
            f"committed ledger: {plan.count('reused')} records reused (training runs, and notebook 04's landmark "
            f"seeds), {plan.count('loaded')} models loaded from their published checkpoints, "
            f"{plan.count('restored')} records restored{minutes('restored')} and {plan.count('trained')} trained"
            f"{minutes('trained')}. The profile pins the precision of its records ({plan.precision}), so a CPU without fast bf16 "
            "reuses them too (it evaluates the loaded models more slowly). `make study ... ARGS=--plan` prints the "
            "same list on any machine, run by run.")


#: the claims the README's findings show first, by the start of their text (the rest: docs/results-<study>.md)
HEADLINE = ("the Perturb Scheme adds about", "the clusters fall", "3 clusters are best", "masking hurts neutral and happy "
            "most (vgg16, auc)", "masking: happy", "removing a feature", "reducing the landmarks")


def findings(study: str = "fer2013-cpu") -> str:
    """The README's answer first: the committed real study's claims counted by verdict, whether the Perturb Scheme
    helps, the headline claims with our evidence, and one figure."""
    from .claims import claims
    from .experiments import DataResults, LandmarkResults, MaskFerResults, SchemeResults
    root = PROJECT_ROOT / "figures" / study
    if not (root / "results" / "scheme.json").is_file():
        return f"_No committed results for `{study}` yet: `make study PROFILE={study}` makes them._"
    data, maskfer, scheme = DataResults.load(root), MaskFerResults.load(root), SchemeResults.load(root)
    landmarks = LandmarkResults.load(root) if LandmarkResults.exists(root) else None
    table = claims(maskfer, scheme, maskfer.models[0], landmarks)
    counts = table["verdict"].value_counts()
    head = ", ".join(f"**{int(counts.get(v, 0))} {v}**" for v in ("confirmed", "refuted", "not decided"))
    lines = [f"On real FER2013 ({data.faces:,} faces), with narrow models trained on a laptop CPU, the {len(table)} "
             f"claims of the two papers that this study tests come out {head} "
             f"([every claim, its evidence and what would decide it](docs/results-{study}.md))."]
    perturb = table[table["claim"].str.startswith("the Perturb Scheme adds about") & table["claim"].str.endswith(
        f"({maskfer.models[0]})")]
    if len(perturb):
        r = perturb.iloc[0]
        answer = {"refuted": "No", "confirmed": "Yes", "not decided": "Not decided"}[r["verdict"]]
        lines += ["", f"**Does the Perturb Scheme help? {answer}** on {maskfer.models[0]}, by the paper's own measure "
                  f"({r['the paper']}): ours is {r['evidence']}; the claim is **{r['verdict']}**."]
    lines += ["", "| claim | the paper | ours | verdict |", "|---|---|---|---|"]
    shown = table[[any(c.startswith(h) for h in HEADLINE) for c in table["claim"]]]
    for _, r in shown.iterrows():
        lines.append(f"| {r['claim']} | {r['the paper']} | {r['evidence']} | **{r['verdict']}** |")
    lines += embedded(root, "scheme_variants", f"**Does the verdict hold where the paper leaves choices open?** The "
                      f"same paired comparison ({scheme.sweep_model}) for the variants that move the clusters, and for a "
                      "stronger model, each against the baseline of its own seeds and recipe:")
    if (root / "table1_heatmap.png").is_file():
        lines += ["", f"![Table 1: change of per-class accuracy, masked against clean](figures/{study}/table1_heatmap.png)",
                  "*Table 1: the change of each emotion's accuracy when the lower face is masked, ours beside the "
                  "paper's.*"]
    return "\n".join(lines)


def example_photo(study: str = "fer2013-cpu") -> str:
    """The explain command's picture of the example photo, when the committed study holds it."""
    path = PROJECT_ROOT / "figures" / study / "explained" / "astronaut-face1.png"
    if not path.is_file():
        return f"_`python -m perturb_lib.explain` writes the example picture into `figures/{study}/explained/`._"
    return (f"![The astronaut's face read by the study's models](figures/{study}/explained/astronaut-face1.png)\n"
            f"*scikit-image's astronaut (a NASA portrait): her face aligned to FER2013's frame, with the study's mask, "
            f"each model's saliency and both models' probabilities per emotion "
            f"(`python -m perturb_lib.explain astronaut.png --out figures/{study}/explained`).*")


def study_page(study: str) -> str:
    """A committed study's own page (``figures/<study>/README.md``), generated whole: what changes when its ledger
    grows or it is re-executed lives here, not in the top README."""
    lines = [f"# The committed study `{study}`", "",
             f"Generated by `make readme` from `figures/{study}/` (do not edit). Its results: "
             f"[docs/results-{study}.md](../../docs/results-{study}.md); its executed notebooks: `notebooks/`; its "
             "tables: `tables/`; its run records, the ledger: `records/`.", "",
             "## Time", "", study_time(study), "",
             "Minutes need their speed beside them: a run whose CPU share fell below "
             f"{SHARED_BELOW} shared its cores, and its minutes overstate what it takes alone.", "",
             "## Re-running it", "", rerun(study)]
    return "\n".join(lines) + "\n"


def figures_gallery(study: str) -> str:
    """The key figures of a committed study as images."""
    root = PROJECT_ROOT / "figures" / study
    shown = [("table1_heatmap", "Table 1: change of per-class accuracy, masked vs clean (ours beside the paper's)"),
             ("fig1_saliency", "Figure 1: saliency of the clean- and the mask-trained model"),
             ("fig4_clusters", "Figure 4: phase-1 attention and its clusters" + _where_clusters_fell(root)),
             ("fig5_cluster_sweep", "Figure 5: accuracy against the number of clusters")]
    lines = [f"![{caption}](figures/{study}/{name}.png)\n*{caption}*\n" for name, caption in shown
             if (root / f"{name}.png").is_file()]
    return "\n".join(lines) if lines else f"_No committed figures for `{study}` yet._"


def _where_clusters_fell(root: Path) -> str:
    """Figure 4's caption: where the study's own shared clusters fell, per seed, beside the paper's description."""
    from .experiments import SchemeResults
    from .experiments.scheme import configurations
    if not (root / "results" / "scheme.json").is_file():
        return ""
    fell = "; ".join(f"seed {s}: {c}" for s, c in configurations(SchemeResults.load(root).locations, "paper").items())
    if not fell:
        return ""
    return (f". Ours fell (each cluster's dominant region, `tables/cluster_locations.md`): {fell}; the paper's text "
            "describes two on the eyes and one on the mouth and nose")


GENERATORS = {"findings": findings, "example-photo": example_photo,
              "architecture": architecture, "parameters": parameters_table,
              "results-cpu": lambda: results("cpu"), "results-fer2013-cpu": lambda: results("fer2013-cpu"),
              "figures-fer2013-cpu": lambda: figures_gallery("fer2013-cpu"),
              "rerun-fer2013-cpu": lambda: rerun("fer2013-cpu"),
              "landmarks-fer2013-cpu": lambda: landmark_numbers("fer2013-cpu"),
              "recipe-frontier": recipe_frontier}
_BLOCK = re.compile(r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)", re.S)


def render(text: str, up: str = "") -> str:
    """A document's text with every generated section rewritten; ``up`` prefixes the links into ``figures/`` of a
    document one folder down (``../`` for docs/)."""
    def section(m):
        body = GENERATORS[m.group("name")]()
        return m.group(1) + (body.replace("](figures/", f"]({up}figures/") if up else body) + "\n" + m.group(4)
    return _BLOCK.sub(section, text)


def documents() -> dict[Path, str]:
    """Every generated document and what it should hold: the README and docs/ with their sections rewritten, and
    each committed study's page."""
    out = {README: render(README.read_text())}
    out.update({path: render(path.read_text(), "../") for path in sorted(DOCS.glob("*.md"))})
    for study in STUDIES:
        if (PROJECT_ROOT / "figures" / study / "timings.json").is_file():
            out[PROJECT_ROOT / "figures" / study / "README.md"] = study_page(study)
    return out


def stale() -> list[str]:
    """The generated documents that differ from what the code and tables give (empty: in sync)."""
    return [str(path.relative_to(PROJECT_ROOT)) for path, text in documents().items()
            if not path.is_file() or path.read_text() != text]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the generated sections")
    ap.add_argument("--check", action="store_true", help="exit 1 when a generated section is stale")
    a = ap.parse_args(argv)
    if a.write:
        for path, text in documents().items():
            if not path.is_file() or path.read_text() != text:
                atomic_write_text(path, text)
    found = stale()
    for name in found:
        print(f"{name}: its generated parts are stale (run `make readme`)")
    return 1 if (a.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
