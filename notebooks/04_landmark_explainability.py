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
# # 04 · Landmark explainability: which facial points can be left behind?
#
# The landmark-level counterpart of the pixel-level question (after Di Luzio, Rosato & Panella 2024, *An
# Explainable Fast Deep Neural Network for Emotion Recognition*): one binary classifier per emotion on facial
# landmark coordinates, landmarks ranked by Integrated Gradients computed **over the whole dataset** (baselines:
# a few typical negative faces, attributions summed per landmark), then removed step by step while the
# validation score holds. Two model families are compared: a small MLP trained by backpropagation, and a fast
# randomised network whose readout is solved in closed form.
#
# Synthetic faces carry exact landmarks and each identity's neutral face, so landmark *movement* is known and
# the kept landmarks can be checked against the regions that define each emotion. On FER2013 the landmarks are
# MediaPipe's 468-point face mesh (the seed paper's own landmark model, `lm_source="mediapipe"`) or dlib's 68,
# on the faces the detector finds; FER2013 has no neutral frame per person, so the features are the normalised
# coordinates alone.

# %%
from IPython.display import Markdown, display

from perturb_lib import claims, params, report
from perturb_lib.experiments import explain_seeds
from perturb_lib.experiments.landmarks import landmark_faces

# %% tags=["parameters"]
# --- this notebook's own parameters
lm_source = None  # str | None: landmarks of this notebook (None: landmark_source; mediapipe: the seed paper's 468 points)
lm_features = 'auto'  # str: coords | displacement | both (auto: both when neutral faces are known)
lm_task = 'rest'  # str: each emotion against the rest, or against neutral only
lm_families = ['mlp', 'random']  # list[str]: binary model families compared
lm_emotions = ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral']  # list[str]: emotions explained
lm_hidden = 64  # int: MLP hidden width
lm_epochs = 20  # int: MLP training epochs
random_hidden = [512, 512]  # list[int]: widths of the randomised network's fixed layers
ridge = 0.01  # float: ridge penalty of the randomised network's readout
ig_baselines = 5  # int: typical negative samples used as IG baselines (medoids)
ig_steps = 32  # int: Integrated Gradients steps
lm_step = 8  # int: landmarks dropped per reduction step
lm_tolerance = 0.01  # float: kept set: smallest within this of the best validation score
lm_seeds = [0]  # list[int]: seeds of the landmark models: each seed trains, ranks and reduces on its own (its own kept set), and is recorded; tables give intervals over them
# --- Which FER2013 splits validate and test.
val_split = 'PublicTest'  # str: split that selects checkpoints and settings
test_split = 'PrivateTest'  # str: split that is only ever tested on
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
P = params.from_notebook(params.LandmarkNotebook, globals())
faces, lm = landmark_faces(P)  # this notebook's own landmarks (lm_source), on the faces its detector finds
results = explain_seeds(faces, lm, P)
results.save(P.study_dir)
print(f"{faces.name}: {len(faces)} faces, features: {results.features}, task: emotion vs {results.task}")

# %% [markdown]
# ## Relevance of each landmark, per emotion, and accuracy against the number of landmarks
# Dataset-level IG with typical negative faces as baselines; rings mark the landmarks the reduction kept.

# %%
report.landmark_figures(results, P.figures_dir).round(3)

# %% [markdown]
# IG's completeness: attributions should add up to the change of the output from the baselines to the face.

# %%
results.completeness.round(4)

# %% [markdown]
# ## The reduced set against the full set, over seeds
# Each seed trains, ranks and reduces on its own, so its kept set is its own. Per emotion and family: the change of
# test balanced accuracy from the full set to the reduced one (95 % interval over seeds and test faces), the
# landmarks kept (mean, and the range over seeds), the change of inference time and of parameters, and how much
# two seeds' kept sets overlap (Jaccard: 1 is the same set).

# %%
report.landmark_comparison(results, P.figures_dir)

# %% [markdown]
# ## Do the kept landmarks sit where the emotion is made? (synthetic faces)
# The share of kept landmarks inside the regions whose action units define the emotion, against the share of
# all 68 landmarks in those regions (chance); a lift above 1 means the ranking found the defining regions.

# %%
if not results.agreement.empty:
    display(results.agreement.round(3))
    display(Markdown(f"Mean lift over emotions and families: **{results.agreement['lift'].mean():.2f}**."))

# %% [markdown]
# ## What this says

# %%
Markdown(report.says(claims.claims(None, None, landmarks=results), f"The second seed paper on {results.dataset}"))
