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
from IPython.display import display

from perturb_lib import data, figures, params, report
from perturb_lib.experiments import DataResults, load_faces

# %% tags=["parameters"]
study_dir = 'runs/cpu'  # str: run records, results and executed notebooks of this study
figures_dir = 'figures/cpu'  # str: where figures and tables are written
dataset = 'synthetic'  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only: fraction of FER2013's size (0.1 gives 3,589 faces)
data_seed = 0  # int: synthetic only: generator seed
landmark_source = 'auto'  # str: auto | ground_truth | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id (landmark_source file)
samples_per_emotion = 6  # int: faces shown per emotion in the sample grid

# %%
P = params.from_notebook(params.DataNotebook, globals())
faces, lm = load_faces(P)
record = DataResults.of(faces, P.landmark_source)
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
# Synthetic faces carry exact landmarks. For FER2013 a mean-face template is fitted to the registered
# crops and refined per image (no detector is downloaded), or a landmark file can be given.

# %%
figures.save_figure(figures.plot_samples(faces, per_emotion=P.samples_per_emotion, landmarks=lm), P.figures_dir,
                    "data_samples")

# %%
figures.save_figure(figures.plot_region_maps(faces, lm), P.figures_dir, "data_region_maps")

# %% [markdown]
# ## What defines each synthetic emotion
# The generator builds each expression from action units (AUs); each AU moves one region. This is the
# ground truth the saliency, masking and landmark notebooks are checked against.

# %%
if P.dataset == "synthetic":
    display(data.synthetic.defining_region_table())
