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
# # 03 · The Perturb Scheme
#
# The paper's method, in three phases: (1) a classifier with CBAM spatial attention gates is trained;
# (2) its highest-attention pixels are grouped by k-means with Eq. 1,
# $\sqrt{(\lambda(i-k))^2 + (\lambda(j-l))^2 + (\alpha(I_{ij}-I_{kl}))^2}$ with λ = 1.5, α = 1.2, into n = 3 clusters
# (two eyes and the mouth), updated once per epoch; (3) a new classifier learns from faces with clusters masked
# out. The paper reports gains in test accuracy for ResNet, VGG16 and DPN (**Table 2**; its numbers are in
# `perturb_lib/paper.py`, shown beside ours below), per-class changes (**Table 3**), the best number of clusters
# (**Figure 5**), and saliency maps of the baseline and the Perturb model (**Figure 6**).
#
# Defaults follow the paper's text; the authors' code differs (attention instead of intensity in Eq. 1, every
# pixel clustered, k+1 copies per face, test logits summed over copies) and each of those is a parameter.
# The baselines train on every face. Where the landmark detector finds every face (the synthetic default) they are
# notebook 01's clean runs (the same run records); on real faces notebook 01 trains on the faces dlib finds, so the
# baselines here are runs of their own.

# %%
from IPython.display import Markdown, display

from perturb_lib import claims, figures, params, report
from perturb_lib.experiments import SchemeExperiment, load_faces

# %% tags=["parameters"]
# --- this notebook's own parameters
perturb_models = ['vgg16']  # list[str]: backbones for Tables 2-3 (paper: VGG16, ResNet, DPN)
perturb_seeds = None  # list[int] | None: seeds of the baseline and Perturb pairs of Tables 2-3 (None: seeds)
baseline_models = []  # list[str]: models trained clean on every face for Table 2 alone, without a Perturb run (paper: DenseNet, ResMasking); with others they make Table 2's ensemble
attention_model = None  # str | None: phase-1 model (None: the first backbone, with spatial gates; one phase 1 per seed serves every backbone)
cluster_sweep = [2, 3, 4]  # list[int]: cluster counts of Figure 5 (the paper's 3 and its neighbours; paper: 1-5)
sweep_model = 'vgg16'  # str: backbone of the Figure 5 sweep (paper: VGG16)
sweep_seeds = [0]  # list[int]: seeds of the Figure 5 sweep
scheme_variants = {}  # dict: variants of the scheme on sweep_model, each paired with the baseline of its seed and recipe: {name: {scheme option or recipe parameter: value}}, e.g. {code: {cluster_features: attention, cluster_selection: all}} (default: none)
variant_seeds = [0]  # list[int]: seeds of the scheme's variants
# --- The Perturb Scheme's phase 2 and 3 (defaults: the paper's text; the authors' code: :meth:`code`).
n_clusters = 3  # int: clusters k of the scheme (paper: 3)
lam = 1.5  # float: Eq. 1 weight of pixel distance (paper: 1.5)
alpha = 1.2  # float: Eq. 1 weight of intensity distance (paper: 1.2)
cluster_features = 'intensity'  # str: Eq. 1 third coordinate: intensity (paper) | attention (code)
cluster_selection = 'top'  # str: pixels clustered: top attention (paper) | all (code)
top_fraction = 0.2  # float: share of highest-attention pixels clustered (paper: not given)
attention_threshold = 0.5  # float: cluster_selection all: attention below this is zeroed (code: 0.5)
cluster_region = 'face'  # str: pixels that may be clustered: face (inside the face outline) | image (every pixel; the attention's zero-padding border wins)
cluster_scope = 'shared'  # str: one map per epoch (paper) | per_image
cluster_sample = 256  # int: training faces behind each shared map
masking = 'random'  # str: random cluster per face (default) | copies (code: k+1 copies)
fill_value = 0.5  # float: value of masked pixels in [0, 1] (0.5: the network's zero; 0: black)
test_policy = 'plain'  # str: plain (paper) | sum (code: logits summed over copies)
kmeans_iters = 20  # int: Lloyd iterations of k-means
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
# --- Which attribution method the saliency figures draw.
figure_method = 'saliency'  # str: method drawn in Figures 1 and 6
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
P = params.from_notebook(params.SchemeNotebook, globals())
faces, lm = load_faces(P)
experiment = SchemeExperiment(P, faces, lm)

# %% [markdown]
# ## Phase 1: the attention classifier
# The backbone with CBAM spatial gates between its stages, trained on clean faces, one per seed (a finished run is
# read from the records). Its gates say how much each pixel matters.

# %%
experiment.train_phase1()
clusters = experiment.clusters()
figures.plot_attention(clusters)

# %% [markdown]
# ## Phase 2: clusters of the highest-attention pixels (Eq. 1)
# Step by step on one test face: its attention, the pixels kept (the top share of the attention inside the face),
# each pixel's Eq. 1 coordinates (its position times λ, its intensity times α, so that the Euclidean distance between
# two pixels is Eq. 1), k-means on them, and the clusters.

# %%
figures.plot_cluster_steps(experiment.phase2_steps("Happy"))

# %% [markdown]
# The scheme clusters one map shared by every face (the paper's), from the mean attention and mean intensity of a
# sample of training faces, once per epoch. Figure 4: one test face per emotion, its attention, the shared map and
# the face's own map (the per-image extension); the title says where the shared clusters fall.

# %%
report.figure4(clusters, P.figures_dir)

# %% [markdown]
# ## Phase 3: a classifier trained with clusters masked out
# Each training face loses one cluster of the epoch's shared map at random (or none). The baseline is the same
# backbone trained on the same faces without the scheme; both are paired by seed.

# %%
experiment.train_predictors()
maps = experiment.epoch_maps()
if maps is not None:
    display(figures.plot_epoch_maps(maps, faces.images[faces.splits == 0].mean(0)))
    display(figures.plot_training_batch(experiment.training_batch()))
results = experiment.results()
results.save(P.study_dir)

# %% [markdown]
# ## Table 2: baseline against the Perturb Scheme, and Table 3: the change per class

# %%
display(report.table2(results, P.figures_dir))
report.table3(results, P.figures_dir)

# %% [markdown]
# ## Where the shared clusters fell
# Each Perturb run records its shared map of every epoch. For the map of the epoch whose model was kept: each
# cluster's share of pixels in the eyes, brows, nose, mouth and elsewhere (the regions drawn from the landmarks of
# the training faces the detector found), and the region it is on (where it holds at least twice that region's
# share of the image).

# %%
report.cluster_locations(results, P.figures_dir)

# %% [markdown]
# ## Variants of the scheme
# Each variant (`scheme_variants`) against the baseline of its own seed and recipe, beside the study's own scheme on
# the same seeds: the authors' code form of Eq. 1, per-image clusters, a share of top pixels that reaches the eyes,
# a stronger model.

# %%
report.variants(results, P.figures_dir)

# %% [markdown]
# ## Figure 5: accuracy against the number of clusters
# The number of clusters is chosen on the validation split (green) and reported on the test split.

# %%
report.figure5(results, P.figures_dir)
results.sweep.round(3)

# %% [markdown]
# ## Figure 6: baseline vs Perturb Scheme saliency

# %%
report.figure6(results, P.figures_dir)

# %% [markdown]
# ## What did clustering cost?

# %%
results.cost.round(4)

# %% [markdown]
# ## What this says

# %%
Markdown(report.says(claims.claims(None, results, P.perturb_models[0]), f"The Perturb Scheme on {results.dataset}"))
