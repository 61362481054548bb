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
# # 02 · Saliency: where the models look, and whether the maps mean anything
#
# The paper reads saliency maps (**Figure 1**): the MaskFer-trained model uses the brows for anger, where the
# FER2013 model did not. Saliency maps are easy to over-read, so this notebook makes the reading quantitative
# — the share of attribution that falls on each facial region, per emotion — and checks the maps with two
# tests from the saliency literature: do they change when the model's weights are randomised, and does
# deleting the pixels they rank highest hurt the model more than deleting random pixels? On synthetic faces,
# where the regions that define each emotion are known, each method gets a ground-truth score.
# **Figure 6** (baseline vs Perturb Scheme) is drawn when notebook 03's runs exist, and by notebook 05.

# %%
import pandas as pd
from IPython.display import display

from perturb_lib import data, figures, landmarks, params, runs, saliency, train

# %% tags=["parameters"]
dataset = "synthetic"  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only, fraction of FER2013's size
data_seed = 0  # int: synthetic only, generator seed
study_dir = "runs/cpu"  # str: run records and executed notebooks of this study
figures_dir = "figures/cpu"  # str: where figures and tables are written
landmark_source = "auto"  # str: auto | ground_truth | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id, for landmark_source file
saliency_model = "vgg16"  # str: which of notebook 01's models to explain
saliency_methods = ["saliency", "integrated_gradients", "smoothgrad", "gradcam", "guided_gradcam", "occlusion"]  # list[str]
figure_method = "saliency"  # str: method drawn in Figures 1 and 6
per_emotion = 10  # int: test faces per emotion for mean maps and region tables
saliency_target = "true"  # str: explain the true or the predicted class
sanity_images = 32  # int: faces used by the randomisation and deletion checks
device = "auto"  # str: auto | cpu | cuda

# %%
P = params.check_parameters("02_saliency", globals())
faces = data.load_dataset(P.dataset, P.data_path, size=P.size, seed=P.data_seed)
lm = landmarks.landmarks_for(faces, P.landmark_source, P.landmark_file)
dev = train.resolve_device(P.device)
explained = runs.runs_for_saliency(P.study_dir, P.saliency_model)
test = faces.split(explained.test_split)
test_lm = lm[faces.splits == data.SPLITS.index(explained.test_split)]
pick = saliency.pick_per_emotion(test.labels, P.per_emotion)
examples = saliency.pick_per_emotion(test.labels, 1, seed=1)
print({name: run.name for name, run in explained.figure1.items()})

# %% [markdown]
# ## Figure 1: FER2013-trained vs MaskFer-trained model
# One test face per emotion; each model is explained on the input it sees (the MaskFer model on the masked face).

# %%
fig1 = saliency.comparison_maps(explained.figure1, test, test_lm, examples, P.figure_method, P.saliency_target, dev)
fig = figures.plot_saliency_comparison(fig1, test.labels[examples], f"Figure 1 ({P.figure_method}, {faces.name})")
figures.save_figure(fig, P.figures_dir, "fig1_saliency")

# %% [markdown]
# Mean maps per emotion over the selected test faces (each map normalised to sum 1 first).

# %%
compared = saliency.compare_runs(explained.figure1, test, test_lm, pick, P.figure_method, P.saliency_target, dev)
fig = figures.plot_mean_maps(compared["means"], test.images.mean(0), f"Figure 1, per-emotion mean maps ({P.figure_method})")
figures.save_figure(fig, P.figures_dir, "fig1_mean_maps")

# %% [markdown]
# ## Where the attribution goes: share per region
# `ratio` is the region's share of attribution divided by its share of the image: 1 means "no more than its
# size", above 1 means the model looks there more than at random.

# %%
shares = compared["shares"]
for name, df in shares.items():
    figures.save_table(df.pivot(index="emotion", columns="region", values="ratio"), f"{P.figures_dir}/tables",
                       f"region_ratio_{name.lower().replace(' ', '_')}", floatfmt=".2f")
fig = figures.plot_region_heatmaps(shares, "ratio", f"attribution share / area share ({P.figure_method})")
figures.save_figure(fig, P.figures_dir, "region_attribution")
display(next(iter(shares.values())).pivot(index="emotion", columns="region", values="ratio").round(2))

# %% [markdown]
# ## Sanity checks
# Cascading randomisation re-initialises the clean model's layers from the output down; maps that keep
# their rank correlation do not depend on what the model learned. Deletion removes the most-attributed pixels
# first: a faithful map makes accuracy fall faster than random deletion.

# %%
clean_run = explained.figure1["trained clean"]
model = clean_run.model(device=dev)
sanity_idx = saliency.pick_per_emotion(test.labels, max(1, P.sanity_images // 7), seed=2)
sanity_targets = test.labels[sanity_idx]
randomization = pd.concat(
    [saliency.randomization_check(model, test.images[sanity_idx], sanity_targets, m, device=dev).assign(method=m)
     for m in P.saliency_methods], ignore_index=True)
deletion = saliency.deletion_insertion(model, test.images[sanity_idx], sanity_targets,
                                       saliency.attribute(model, test.images[sanity_idx], sanity_targets,
                                                          P.figure_method, device=dev), device=dev)
fig = figures.plot_sanity(randomization, deletion, P.figure_method)
figures.save_figure(fig, P.figures_dir, "saliency_sanity")
display(randomization.pivot(index="step", columns="method", values="spearman").round(2))
display(deletion.round(3))

# %% [markdown]
# ## Ground truth (synthetic faces): which method points at the defining regions?
# For each emotion, the share of attribution inside the regions its action units move, against those
# regions' share of the image (ratio 1 = no better than uniform).

# %%
truth = None
if P.dataset == "synthetic":
    rows = []
    for m in P.saliency_methods:
        maps = saliency.attribute(model, test.images[pick], test.labels[pick], m, device=dev)
        rows.append(saliency.ground_truth_scores(maps, test_lm[pick], test.labels[pick], data.DEFINING_REGIONS).assign(method=m))
    truth = pd.concat(rows, ignore_index=True)
    summary = truth.groupby("method", sort=False)[["attribution", "area", "ratio"]].mean()
    display(summary.round(3))
    figures.save_table(summary, f"{P.figures_dir}/tables", "saliency_ground_truth", floatfmt=".3f")

# %% [markdown]
# ## Figure 6: baseline vs Perturb Scheme (when notebook 03 has run)

# %%
if explained.figure6:
    fig6 = saliency.comparison_maps(explained.figure6, test, test_lm, examples, P.figure_method, P.saliency_target, dev)
    fig = figures.plot_saliency_comparison(fig6, test.labels[examples], f"Figure 6 ({P.figure_method}, {faces.name})")
    figures.save_figure(fig, P.figures_dir, "fig6_saliency")
    compared6 = saliency.compare_runs(explained.figure6, test, test_lm, pick, P.figure_method, P.saliency_target, dev)
    fig = figures.plot_mean_maps(compared6["means"], test.images.mean(0), f"Figure 6, per-emotion mean maps ({P.figure_method})")
    figures.save_figure(fig, P.figures_dir, "fig6_mean_maps")
    fig = figures.plot_region_heatmaps(compared6["shares"], "ratio", f"attribution share / area share, Figure 6 ({P.figure_method})")
    figures.save_figure(fig, P.figures_dir, "region_attribution_fig6")
else:
    print("notebook 03 has not run in this study yet: Figure 6 is drawn by notebook 05 once it has")

# %%
runs.save_notebook_results(P.study_dir, "02_saliency", {
    "runs": {k: r.name for k, r in explained.figure1.items()},
    "region_shares": {k: v.to_dict("records") for k, v in shares.items()},
    "randomization": randomization.to_dict("records"), "deletion": deletion.to_dict("records"),
    "ground_truth": None if truth is None else truth.to_dict("records"),
})
