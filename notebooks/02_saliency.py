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
# **Figure 6** (baseline vs Perturb Scheme) belongs to the Perturb Scheme and is drawn by notebook 03.

# %%
from IPython.display import Markdown, display

from perturb_lib import explain, params, report
from perturb_lib.data import load_maskfer_folders
from perturb_lib.experiments import MaskFerResults, load_faces, saliency_experiment
from perturb_lib.runs import Study

# %% tags=["parameters"]
# --- this notebook's own parameters
saliency_model = 'vgg16'  # str: which of notebook 01's models to explain
saliency_methods = ['saliency', 'integrated_gradients', 'smoothgrad', 'gradcam', 'guided_gradcam', 'occlusion']  # list[str]: Captum methods compared
per_emotion = 10  # int: test faces per emotion for mean maps and region tables
saliency_target = 'true'  # str: explain the true or the predicted class
sanity_images = 16  # int: faces used by the randomisation and deletion checks (the real study: 32)
photos = []  # list[str]: photos whose faces the two explained models read (empty: scikit-image's astronaut, when installed)
# --- Which attribution method the saliency figures draw.
figure_method = 'saliency'  # str: method drawn in Figures 1 and 6
# --- How a run executes: device, precision, memory format, compilation, threads, progress.
device = 'auto'  # str: auto | cpu | cuda
precision = 'auto'  # str: auto (bf16 where the hardware has fast bf16: CUDA, CPUs with AMX or AVX512-BF16; else fp32) | fp32 | bf16 (autocast)
channels_last = 'auto'  # str: channels-last memory format: auto (where measured faster for the model and width) | on | off
compile = 'auto'  # str: torch.compile the training step: auto (off: measured not to pay back within a run on CPU; not measured on CUDA) | on | off
threads = 0  # int: CPU threads of torch while a run trains (0: torch's default)
eval_batch_size = 1024  # int: faces per evaluation batch
progress = 'auto'  # str: auto (a bar on a terminal, a line per epoch elsewhere) | bar | lines | summary (a line per run) | off
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
P = params.from_notebook(params.SaliencyNotebook, globals())
faces, lm = load_faces(P)
maskfer = MaskFerResults.load(P.study_dir)  # which runs to explain: notebook 01's
masked_faces = load_maskfer_folders(maskfer.maskfer_path, faces).masked if maskfer.maskfer_path else None
results = saliency_experiment(P, faces, lm, maskfer, masked_faces)
results.save(P.study_dir)
results.runs

# %% [markdown]
# ## Figure 1: FER2013-trained vs MaskFer-trained model
# One test face per emotion; each model is explained on the input it sees (the MaskFer model on the masked face).

# %%
report.figure1(results, P.figures_dir)

# %% [markdown]
# ## Where the attribution goes
# Mean maps per emotion (each map normalised to sum 1 first), and the share of attribution per region:
# `ratio` is the region's share of attribution divided by its share of the image — 1 means "no more than its
# size", above 1 means the model looks there more than at random.

# %%
report.saliency_maps(results, P.figures_dir)
display(next(iter(results.shares.values())).pivot(index="emotion", columns="region", values="ratio").round(2))

# %% [markdown]
# ## Sanity checks
# Cascading randomisation re-initialises the clean model's layers from the output down; maps that keep
# their rank correlation do not depend on what the model learned. Deletion removes the most-attributed pixels
# first: a faithful map makes accuracy fall faster than random deletion. On synthetic faces, each method's
# share of attribution inside the regions that define each emotion, against their share of the image.

# %%
summary = report.saliency_checks(results, P.figures_dir)
display(results.randomization.pivot(index="step", columns="method", values="spearman").round(2))
display(results.deletion.round(3))
summary.round(3)

# %% [markdown]
# ## Your own photo
# The two models above read the faces of a photo (by default scikit-image's astronaut; the parameter `photos` takes
# your own): each face that dlib finds is aligned to FER2013's frame, resampled to 48x48 and given the study's mask;
# the clean-trained model reads the face and the mask-trained model the masked face. From the command line:
# `python -m perturb_lib.explain PHOTO`.

# %%
photos = P.photos or [p for p in [explain.example_photo(P.study_dir)] if p]
models = {label: Study.of_params(P).run(name) for label, name in results.runs.items()}
for face in explain.explain_photos(photos, models, P.figure_method, missing="skip"):
    display(explain.plot_face(face))

# %% [markdown]
# ## What this says

# %%
Markdown(report.says_saliency(results))
