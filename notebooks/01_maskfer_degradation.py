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
# # 01 · MaskFer: what masking the lower face does to each emotion
#
# The paper's first result (**Table 1**): models trained and tested on *MaskFer* — FER2013 with a
# synthetic physical mask over the lower face — lose accuracy unevenly across emotions (happy −35…−63 %,
# neutral −43…−60 %, sad only −4…−24 %), and removing single facial features drops some emotions by up to 85 %.
#
# This notebook trains (or reuses from the run records) each model on clean and on masked faces, tests each
# on the matching test set and on the other one, then removes single regions (eyes, brows, nose, mouth,
# upper or lower half) — at test time from clean-trained models, and in training and test for a few regions.
# Masks and removals are drawn from 68-point landmarks on the fly; nothing is copied to disk.

# %%
from IPython.display import Markdown, display

from perturb_lib import data, degradation, figures, landmarks, paper, params, perturb, runs

# %% tags=["parameters"]
dataset = "synthetic"  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only, fraction of FER2013's size
data_seed = 0  # int: synthetic only, generator seed
study_dir = "runs/cpu"  # str: run records and executed notebooks of this study
figures_dir = "figures/cpu"  # str: where figures and tables are written
landmark_source = "auto"  # str: auto | ground_truth | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id, for landmark_source file
models = ["vgg16"]  # list[str]: models for Table 1; several add an ensemble (paper: five)
width = 0.125  # float: channel-width multiplier of every model (paper: 1.0)
dropout = 0.0  # float | None: dropout of VGG16/ResMasking (paper: 0.4; narrow CPU models need 0)
epochs = 10  # int: training epochs (paper: 200)
batch_size = 64  # int: training batch size
lr = 0.02  # float: initial SGD learning rate (paper: 0.01; 10 CPU epochs need more)
warmup_epochs = 1.0  # float: linear LR warm-up epochs (paper: none; narrow nets need it)
seeds = [0, 1, 2]  # list[int]: training seeds; tables report mean and 95% interval over them
val_split = "PublicTest"  # str: split that selects checkpoints
test_split = "PrivateTest"  # str: split that is only ever tested on
tta = "none"  # str: test-time augmentation, none | tencrop
device = "auto"  # str: auto | cpu | cuda
backend = "sequential"  # str: grid backend, sequential | ray
ray_address = None  # str | None: Ray cluster address; None starts Ray locally
mask_style = "n95"  # str: generated mask style, n95 | surgical | cloth
maskfer_path = None  # str | None: published MaskFer image folders; None draws masks from landmarks
removal_regions = ["eyes", "brows", "nose", "mouth", "upper_face", "lower_face"]  # list[str]: removed at test time
removal_fill = "mean"  # str: what replaces a removed region, mean | blur | noise
removal_model = "vgg16"  # str: model trained with a region removed
removal_train_regions = ["eyes", "mouth"]  # list[str]: regions removed in training and test
removal_train_seeds = [0]  # list[int]: seeds of the removal-trained runs

# %%
P = params.check_parameters("01_maskfer_degradation", globals())
faces = data.load_dataset(P.dataset, P.data_path, size=P.size, seed=P.data_seed)
lm = landmarks.landmarks_for(faces, P.landmark_source, P.landmark_file)
masked_faces = None
if P.maskfer_path:
    pairs = perturb.load_maskfer_folders(P.maskfer_path, faces)
    print(pairs.report())
    masked_faces = pairs.masked
study = degradation.MaskFerStudy(P, faces, lm, masked_faces)
faces

# %% [markdown]
# ## The masks
# A mask outline runs from the nose bridge over the cheeks and along the jaw line to below the chin, as
# the MaskTheFace tool builds it; its shading follows the face's own brightness.

# %%
fig = figures.plot_perturbation_examples(faces, lm, [{"kind": "mask", "style": s, "seed": 0} for s in perturb.MASK_STYLES]
                                         + [{"kind": "remove", "region": r, "fill": P.removal_fill, "seed": 0}
                                            for r in P.removal_regions])
figures.save_figure(fig, P.figures_dir, "maskfer_examples")

# %% [markdown]
# ## Training
# Each model is trained on clean and on masked faces for every seed (finished runs are reused).

# %%
trained = study.train()

# %% [markdown]
# ## Table 1: percent change of per-class accuracy, MaskFer vs FER2013
# Mean over seeds ± the 95 % interval; `~` marks a change within seed noise (the interval includes 0).

# %%
table1 = study.table1()
display(degradation.formatted(table1))
figures.save_table(degradation.formatted(table1), f"{P.figures_dir}/tables", "table1_ours")
beside = degradation.paper_beside(degradation.pivot(table1), paper.table1_frame())
figures.save_table(beside, f"{P.figures_dir}/tables", "table1_vs_paper", floatfmt=".0f")
fig = figures.plot_change_heatmaps(
    {f"ours ({faces.name})": degradation.pivot(table1), "paper (FER2013)": paper.table1_frame()},
    "Table 1: % change of per-class accuracy when trained and tested masked",
    noise={f"ours ({faces.name})": degradation.pivot(table1, "noise")})
figures.save_figure(fig, P.figures_dir, "table1_heatmap")

# %% [markdown]
# ## Cross conditions
# Clean-trained models tested on masked faces, and masked-trained models tested on clean faces.

# %%
cross = study.cross_conditions()
display(cross.round(1))
figures.save_table(cross.set_index(["model", "condition"]), f"{P.figures_dir}/tables", "cross_conditions")
fig = figures.plot_cross_conditions(cross)
figures.save_figure(fig, P.figures_dir, "cross_conditions")

# %% [markdown]
# ## Removing single facial features
# Trained on clean faces, tested with one region replaced by its fill: percent change of per-class accuracy.

# %%
removal = study.removal_tested()
main = removal[removal["model"] == P.removal_model]
display(degradation.formatted(main).T)
figures.save_table(degradation.formatted(main).T, f"{P.figures_dir}/tables", "removal_tested")
fig = figures.plot_change_heatmaps({f"{P.removal_model}, trained clean": degradation.pivot(main).T},
                                   "% change of per-class accuracy when a region is removed at test time",
                                   noise={f"{P.removal_model}, trained clean": degradation.pivot(main, "noise").T})
figures.save_figure(fig, P.figures_dir, "removal_heatmap")
drop = degradation.largest_drop(main)
if drop and drop["mean"] < 0:
    display(Markdown(f"**Largest drop:** removing the **{drop['column']}** changes **{drop['row']}** by "
                     f"**{drop['mean']:.0f} %** (paper: up to −85 %, for happy and surprise)."))
else:
    display(Markdown("No removal lowered any emotion's accuracy here."))

# %% [markdown]
# Trained *and* tested with the region removed: does a model that never sees the region recover?

# %%
removal_trained = study.removal_trained()
if not removal_trained.empty:
    display(degradation.formatted(removal_trained).T)
    figures.save_table(degradation.formatted(removal_trained).T, f"{P.figures_dir}/tables", "removal_trained")

# %% [markdown]
# ## Check against the known truth (synthetic faces only)
# Each synthetic emotion is made of action units in known regions; removing a defining region must hurt that
# emotion more than removing the others.

# %%
truth = None
if P.dataset == "synthetic":
    truth = degradation.truth_check(main, data.DEFINING_REGIONS)
    display(truth)
    agree = int(truth["agrees"].sum())
    display(Markdown(f"For **{agree} of {len(truth)}** emotions the most harmful single-feature removal is one of "
                     f"the emotion's defining regions" + (" — as constructed." if agree == len(truth) else
                     ". Where it is not, the model relies on other cues than the generator's definition.")))

# %%
runs.save_notebook_results(P.study_dir, "01_maskfer_degradation", {
    "dataset": faces.name, "models": P.models, "seeds": P.seeds, "columns": study.columns(),
    "table1": table1.to_dict("records"), "cross_conditions": cross.to_dict("records"),
    "removal_tested": removal.to_dict("records"), "removal_trained": removal_trained.to_dict("records"),
    "largest_drop": drop, "truth_check": None if truth is None else truth.to_dict("records"),
    "runs": {"/".join(map(str, k)): r.name for k, r in trained.items()},
})
