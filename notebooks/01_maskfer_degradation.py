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
# Masks and removals are drawn from landmarks on the fly; nothing is copied to disk.

# %%
from IPython.display import Markdown, display

from perturb_lib import claims, paper, params, report
from perturb_lib.experiments import load_faces, maskfer_experiment
from perturb_lib.tables import largest_drop

# %% tags=["parameters"]
# --- this notebook's own parameters
models = ['vgg16']  # list[str]: models for Table 1; several add an ensemble (paper: five)
mask_style = 'n95'  # str: generated mask style: n95 | surgical | cloth
maskfer_path = None  # str | None: published MaskFer image folders (None: masks drawn from landmarks)
maskfer_all_clean = False  # bool: with maskfer_path: train clean runs on every face, not only those with a masked twin
maskfer_faces = 'detected'  # str: faces of MaskFer: detected (those the landmark detector finds, MaskTheFace's rule) | all
maskfer_list = None  # str | None: the published MaskFer file list (CSV), to report how our faces agree with it
removal_regions = ['eyes', 'brows', 'nose', 'mouth', 'upper_face', 'lower_face']  # list[str]: regions removed at test time from clean-trained models
removal_fill = 'mean'  # str: what replaces a removed region: mean | blur | noise
removal_model = 'vgg16'  # str: model trained with a region removed
removal_train_regions = ['mouth']  # list[str]: regions removed in training and test (paper: eyes, brows, nose, mouth, upper and lower face)
removal_train_seeds = [0]  # list[int]: seeds of the removal-trained runs
# --- Per-architecture changes to the recipe (each architecture's width, epochs... chosen on validation) and to the seeds (a slow architecture may have fewer).
model_recipes = {}  # dict: per-model changes to the recipe, e.g. {resnet50: {width: 0.25, epochs: 6}} (default: none)
model_seeds = {}  # dict: per-model seeds of Tables 1-3, e.g. {resnet50: [0, 1, 2]} (default: seeds, and perturb_seeds in Tables 2-3); an ensemble has the seeds all its models share
explain_seed = None  # int | None: the seed whose models the figures load (saliency, clusters; their models are published with the records): None: each model's first
# --- Which FER2013 splits validate and test.
val_split = 'PublicTest'  # str: split that selects checkpoints and settings
test_split = 'PrivateTest'  # str: split that is only ever tested on
# --- The training recipe (defaults: the CPU recipe; the paper's is profiles/paper.yaml).
width = 0.125  # float: channel-width multiplier of every model (paper: 1.0)
dropout = 0.0  # float | None: dropout of VGG16/ResMasking (None: 0.4, the paper's; narrow CPU models need 0)
epochs = 10  # int: training epochs (paper: 200)
batch_size = 64  # int: training batch size (paper: not given; the authors' code: 16)
lr = 0.02  # float: initial SGD learning rate (paper: 0.01; 10 CPU epochs need more)
momentum = 0.9  # float: SGD Nesterov momentum (paper: 0.9)
nesterov = True  # bool: Nesterov momentum (paper: yes)
weight_decay = 0.0001  # float: SGD weight decay (paper: 1e-4)
lr_schedule = 'plateau'  # str: plateau (the paper's ReduceLROnPlateau) | onecycle | cosine (per step, from warm-up to 0 at the last step)
plateau_factor = 0.75  # float: ReduceLROnPlateau factor on the validation metric (paper: 0.75)
plateau_patience = 5  # int: ReduceLROnPlateau patience in epochs (paper: 5)
warmup_epochs = 1.0  # float: linear LR warm-up epochs (paper: none; narrow nets need it)
label_smoothing = 0.1  # float: cross-entropy label smoothing (paper: none)
input_size = 48  # int: network input: 48, or 40 for crops as in the authors' ten-crop setup
crop = 'pad'  # str: training crop: pad (padded random crop) | resized (zoom, shift, rotation) | none
pad = 4  # int: padding of the pad crop, and the shift of ten-crop views at 48 px
flip = True  # bool: random horizontal flips
erasing = 0.0  # float: probability of random erasing (Zhong et al.; paper: used, probability not given)
ema = 0.0  # float: decay per step of an exponential moving average of the weights, which is then what is validated, kept and tested (0: off)
tta = 'flip'  # str: test-time augmentation: none | flip (mean of the face and its mirror) | tencrop (paper: ten-crop)
select_metric = 'accuracy'  # str: validation metric that keeps the checkpoint and drives the LR schedule
# --- How a run executes: device, precision, memory format, compilation, threads, progress.
device = 'auto'  # str: auto | cpu | cuda
precision = 'auto'  # str: auto (bf16 where the hardware has fast bf16: CUDA, CPUs with AMX or AVX512-BF16; else fp32) | fp32 | bf16 (autocast)
channels_last = 'auto'  # str: channels-last memory format: auto (where measured faster for the model and width) | on | off
compile = 'auto'  # str: torch.compile the training step: auto (off: measured not to pay back within a run on CPU; not measured on CUDA) | on | off
threads = 0  # int: CPU threads of torch while a run trains (0: torch's default)
eval_batch_size = 1024  # int: faces per evaluation batch
progress = 'auto'  # str: auto (a bar on a terminal, a line per epoch elsewhere) | bar | lines | summary (a line per run) | off
# --- How many runs and where they run.
seeds = [0, 1, 2]  # list[int]: training seeds; tables report intervals over them
backend = 'sequential'  # str: grid backend: sequential | ray
ray_address = None  # str | None: Ray cluster address (backend ray); None starts Ray locally
ray_cpus_per_run = 1  # int: backend ray: CPUs of each run's task
ray_gpus_per_run = None  # float | None: backend ray: GPUs of each run's task (None: 1 when the cluster has GPUs, else 0; 0.25 packs four small runs on one GPU)
ray_shared_storage = None  # bool | None: backend ray: runs/ is on storage every node sees (None: yes for a local Ray, no for a remote address)
# --- Which faces, and where their landmarks come from.
dataset = 'synthetic'  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only: fraction of FER2013's size (0.1 gives 3,589 faces)
data_seed = 0  # int: synthetic only: generator seed
landmark_source = 'auto'  # str: auto (ground truth, else dlib, else the template) | ground_truth | dlib | mediapipe | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id (landmark_source file)
cache_dir = 'runs/cache'  # str: parsed datasets and landmarks, cached (keyed by their inputs and code)
# --- Where a study writes.
study_dir = 'runs/cpu'  # str: run records, results and executed notebooks of this study
figures_dir = 'figures/cpu'  # str: where figures and tables are written
ledger_dir = None  # str | None: published run records, read in place before anything is trained (None: <figures_dir>/records, the study's committed ledger)

# %%
P = params.from_notebook(params.MaskFerNotebook, globals())
faces, lm = load_faces(P)
experiment = maskfer_experiment(P, faces, lm)  # with the published MaskFer images when maskfer_path names them
experiment.context.faces

# %% [markdown]
# ## Which faces MaskFer holds
# The published MaskFer holds only the faces on which MaskTheFace's dlib detector found a face (24,955 of FER2013's
# 35,887). With `maskfer_faces="detected"` this study keeps the same rule, clean and masked runs alike, so Table 1
# compares the same faces; given the published list (`maskfer_list`), the agreement with it is shown.

# %%
experiment.membership

# %% [markdown]
# ## The masks
# A mask outline runs from the nose bridge over the cheeks and along the jaw line to below the chin, as
# the MaskTheFace tool builds it.

# %%
report.maskfer_examples(faces, lm, [{"kind": "mask", "style": s} for s in params.MASK_STYLES]
                        + [{"kind": "remove", "region": r, "fill": P.removal_fill} for r in P.removal_regions],
                        P.figures_dir)

# %% [markdown]
# ## Training
# Each model is trained on clean and on masked faces for every seed (finished runs are reused).

# %%
experiment.train()
results = experiment.results()
results.save(P.study_dir)

# %% [markdown]
# ## Table 1: percent change of per-class accuracy, MaskFer vs FER2013
# Each cell: the change over seeds and its 95 % interval (seeds and test faces; a relative change's on the log-ratio
# scale); "not estimable" where a class has too few correct test faces for a ratio.

# %%
report.table1(results, P.figures_dir)

# %% [markdown]
# ## Cross conditions
# Clean-trained models tested on masked faces, and masked-trained models tested on clean faces.

# %%
report.cross_conditions(results, P.figures_dir).round(1)

# %% [markdown]
# ## Removing single facial features
# Trained on clean faces, tested with one region replaced by its fill: percent change of per-class accuracy.
# Then trained *and* tested with the region removed: does a model that never sees the region recover?

# %%
display(report.removal(results, P.figures_dir, P.removal_model))
drop = largest_drop(results.removal_trained)
if drop and drop["mean"] < 0:
    display(Markdown(f"**Largest drop when trained and tested without a feature:** removing the **{drop['column']}** "
                     f"changes **{drop['row']}** by **{drop['mean']:.0f} %** [{drop['lo']:.0f}, {drop['hi']:.0f}] "
                     f"({drop['verdict']}; the paper: up to {paper.TEXT_REMOVAL_CHANGE:.0f} % for "
                     f"{' and '.join(e.lower() for e in paper.TEXT_REMOVAL_EMOTIONS)})."))

# %% [markdown]
# ## Does the mask hide what it covers?
# A probe (logistic regression) that sees only the pixels every mask covers tries to read the emotion from them.
# At chance (1/7 balanced accuracy) the mask hides the face; above it, the masked model still sees through it.

# %%
results.mask_probe

# %% [markdown]
# ## Check against the known truth (synthetic faces only)
# Which regions define each synthetic emotion is *measured* on the renderer: each face is drawn again as the
# same person's neutral face, and the difference is shared out over the regions. Removing a defining region
# should hurt an emotion more than removing the others; a random ranking of the four features sets the chance
# level.

# %%
if not results.truth_check.empty:
    display(results.truth_check)
    display(Markdown(report.truth(results, P.figures_dir)))

# %% [markdown]
# ## What this says
# Each claim about masking and removal, tested by one rule (`perturb_lib.claims`): confirmed when our 95 % interval
# holds the paper's value and excludes no effect, refuted when it excludes the paper's value, not decided when it
# holds both (and then what would decide it). On synthetic faces they describe the generator, not people.

# %%
Markdown(report.says(claims.claims(results, None, P.models[0]), f"MaskFer and removal on {results.dataset}"))
