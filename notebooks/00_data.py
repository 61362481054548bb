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
# # 00 · The data
#
# Every experiment of *Leaving Some Facial Features Behind* starts from 48×48 grayscale faces labelled with
# one of seven emotions (FER2013). This notebook loads the study's dataset, shows its class distribution
# (the paper's **Figure 3**), a grid of faces per emotion with their landmarks, and a table of counts.
#
# The default is the **synthetic** dataset: procedural faces whose expressions are made of facial action
# units, so *which facial region carries each emotion is known by construction*. It exists to see the
# whole pipeline run and to check explanation methods against a known truth; it is not evidence about
# human faces. Set `dataset="fer2013"` and `data_path` to use the real data.

# %%
from IPython.display import Markdown, display

from perturb_lib import data, figures, landmarks, params, report
from perturb_lib.experiments import DataResults, load_faces

# %% tags=["parameters"]
# --- this notebook's own parameters
samples_per_emotion = 6  # int: faces shown per emotion in the sample grid
landmark_providers = ['template', 'dlib', 'mediapipe']  # list[str]: providers compared on the same faces (those installed)
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
P = params.from_notebook(params.DataNotebook, globals())
faces, lm = load_faces(P)
record = DataResults.of(faces, P)
record.save(P.study_dir)
faces

# %% [markdown]
# ## Class distribution (Figure 3)
# FER2013 is imbalanced: *Happy* has about 16 times as many faces as *Disgust*. The synthetic set copies
# FER2013's proportions and split sizes (scaled by `size`).

# %%
display(record.counts.set_index("emotion"))
report.figure3(record, P.figures_dir)

# %% [markdown]
# ## Faces and their landmarks
# Every mask and feature removal of the study is drawn from landmarks. Synthetic faces carry exact ones. On
# FER2013 they come from dlib's 68-point detector as MaskTheFace ran it (the tool that made the published
# MaskFer), or MediaPipe's 468-point face mesh (the second seed paper's), both offline; without them, from a
# mean-face template fitted to the crops, which is about 4 px off on a 48-px face.

# %%
print(f"the study's landmarks: {record.landmark_source}")
figures.save_figure(figures.plot_samples(faces, per_emotion=P.samples_per_emotion, landmarks=lm), P.figures_dir,
                    "data_samples")

# %% [markdown]
# ### The providers on the same faces
# How often each detector finds a face, per split and emotion (a face it misses still gets landmarks: dlib's
# predictor in the mean detected box, MediaPipe's mean mesh), how far the 68-point providers are from the
# reference (the ground truth on synthetic faces, dlib on real ones), and how long each takes per face.

# %%
compared = list(record.ms_per_face)
if compared:
    figures.save_figure(figures.plot_landmark_comparison(
        faces, {p: landmarks.landmarks_for(faces, p, cache_dir=P.cache_dir) for p in compared},
        {p: landmarks.detected(faces, p, cache_dir=P.cache_dir) for p in compared}), P.figures_dir, "landmark_providers")
    if not record.detection.empty:
        display(record.detection.pivot_table(index=["by", "group"], columns="provider", values="rate %", sort=False))
    display(record.landmark_error)
    display(record.ms_per_face)

# %%
figures.save_figure(figures.plot_region_maps(faces, lm), P.figures_dir, "data_region_maps")

# %% [markdown]
# ## What defines each synthetic emotion
# The generator builds each expression from action units (AUs); each AU moves one region. This is the
# ground truth the saliency, masking and landmark notebooks are checked against.

# %%
if P.dataset == "synthetic":
    display(data.synthetic.defining_region_table())

# %% [markdown]
# ## What this says

# %%
Markdown(report.says_data(record))
