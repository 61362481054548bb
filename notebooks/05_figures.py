# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Every figure and table of the paper, from the run records
#
# Nothing here trains. Figures 1, 3, 4, 5 and 6 and Tables 1, 2 and 3 are redrawn from what notebooks 00–04
# recorded under `study_dir` (saliency maps are recomputed from the saved checkpoints), and every number the
# paper reports is set beside ours. If a record is missing, the first cell lists all that is missing and which
# notebook makes it. `make figures` runs only this notebook.

# %%
import pandas as pd
from IPython.display import Markdown, display

from perturb_lib import data, degradation, figures, landmarks, paper, params, report, runs, saliency, scheme, train

# %% tags=["parameters"]
dataset = "synthetic"  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only, fraction of FER2013's size
data_seed = 0  # int: synthetic only, generator seed
study_dir = "runs/cpu"  # str: run records and executed notebooks of this study
figures_dir = "figures/cpu"  # str: where figures and tables are written
landmark_source = "auto"  # str: auto | ground_truth | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id, for landmark_source file
saliency_model = "vgg16"  # str: which of notebook 01's models Figure 1 explains
figure_method = "saliency"  # str: method drawn in Figures 1 and 6
device = "auto"  # str: auto | cpu | cuda

# %%
P = params.check_parameters("05_figures", globals())
results = report.study_results(P.study_dir)  # lists every missing record, if any
faces = data.load_dataset(P.dataset, P.data_path, size=P.size, seed=P.data_seed)
lm = landmarks.landmarks_for(faces, P.landmark_source, P.landmark_file)
dev = train.resolve_device(P.device)
tables = f"{P.figures_dir}/tables"
written = []

# %% [markdown]
# ## Figure 3 and the data

# %%
r00 = results["00_data"]
fig = report.plot_class_distribution_from_counts(r00["counts"], r00["dataset"])
written += figures.save_figure(fig, P.figures_dir, "fig3_class_distribution")

# %% [markdown]
# ## Table 1

# %%
t1 = report.table1_from_results(results["01_maskfer_degradation"])
display(degradation.formatted(t1))
written += figures.save_table(degradation.formatted(t1), tables, "table1_ours")
written += figures.save_table(paper.table1_frame(), tables, "table1_paper", floatfmt=".0f")
fig = figures.plot_change_heatmaps({f"ours ({r00['dataset']})": degradation.pivot(t1), "paper (FER2013)": paper.table1_frame()},
                                   "Table 1: % change of per-class accuracy, trained and tested masked",
                                   noise={f"ours ({r00['dataset']})": degradation.pivot(t1, "noise")})
written += figures.save_figure(fig, P.figures_dir, "table1_heatmap")

# %% [markdown]
# ## Figures 1 and 6: saliency maps (recomputed from the checkpoints)

# %%
explained = runs.runs_for_saliency(P.study_dir, P.saliency_model)
test = faces.split(explained.test_split)
test_lm = lm[faces.splits == data.SPLITS.index(explained.test_split)]
examples = saliency.pick_per_emotion(test.labels, 1, seed=1)
for name, group in (("fig1_saliency", explained.figure1), ("fig6_saliency", explained.figure6)):
    if not group:
        print(f"{name}: notebook 03's runs are missing")
        continue
    maps = saliency.comparison_maps(group, test, test_lm, examples, P.figure_method, "true", dev)
    fig = figures.plot_saliency_comparison(maps, test.labels[examples], f"{'Figure 1' if '1' in name else 'Figure 6'} "
                                           f"({P.figure_method}, {r00['dataset']})")
    written += figures.save_figure(fig, P.figures_dir, name)

# %% [markdown]
# ## Figure 4, Figure 5, Tables 2 and 3 (the Perturb Scheme)

# %%
r03 = results["03_perturb_scheme"]
phase1 = runs.load_run(r03["phase1"], P.study_dir)
clusters = scheme.phase2_record(phase1, faces, P.study_dir, r03["scheme"], train.Settings(device=P.device),
                                seed=phase1.config["seed"])
ctest = faces.split(clusters["test_split"])
shown = [int(i) for i in clusters["example_index"]]
per_emotion = [next((i for i in shown if ctest.labels[i] == c), shown[0]) for c in range(len(data.EMOTIONS))]
fig = figures.plot_clusters(ctest.images[per_emotion], ctest.labels[per_emotion], clusters["attention"][per_emotion],
                            clusters["shared_map"], clusters["per_image_maps"][per_emotion])
written += figures.save_figure(fig, P.figures_dir, "fig4_clusters")
sweep = pd.DataFrame(r03["sweep"])
fig = figures.plot_cluster_sweep(sweep, r03["runs"] and next(iter(r03["runs"])).split("/")[1])
written += figures.save_figure(fig, P.figures_dir, "fig5_cluster_sweep")
table2 = pd.DataFrame(r03["table2"]).set_index("model")
display(table2.round(2))
written += figures.save_table(table2, tables, "table2")
t3 = pd.DataFrame(r03["table3"])
written += figures.save_table(degradation.formatted(t3, digits=1), tables, "table3_ours")

# %% [markdown]
# ## Our numbers beside the paper's
# Every cell the paper reports: the paper's value, ours (mean ± 95 % interval over seeds) and the difference.
# Cells for architectures this study did not run show `(not run)`. On the synthetic default the comparison
# only shows that the pipeline runs: synthetic faces are not FER2013.

# %%
comparison = report.comparison_table(results["01_maskfer_degradation"], r03)
display(comparison.round(2))
written += figures.save_table(comparison.set_index(["table", "row", "paper column"]), tables, "paper_vs_ours",
                              floatfmt=".3g")
run_cells = comparison[comparison["our model"] != "(not run)"]
display(Markdown(f"{len(comparison)} paper cells; {len(run_cells)} with a matching run here; "
                 f"{int((run_cells['within our interval'] == True).sum())} of them within our 95 % interval."))  # noqa: E712

# %%
runs.save_notebook_results(P.study_dir, "05_figures", {
    "written": [str(p) for p in written], "comparison": comparison.to_dict("records")})
print(f"{len(written)} files written under {P.figures_dir}")
