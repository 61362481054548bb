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
# the kept landmarks can be checked against the regions that define each emotion. On FER2013, give
# `landmark_source="file"` with landmarks from a detector: the offline template only places a similarity-
# transformed mean face, whose points carry almost no expression.

# %%
from IPython.display import Markdown, display

from perturb_lib import data, figures, landmark_models, landmarks, params, runs

# %% tags=["parameters"]
dataset = "synthetic"  # str: synthetic | fer2013 | ferplus
data_path = None  # str | None: FER2013 CSV, image-folder root or .npz (not for synthetic)
size = 0.1  # float: synthetic only, fraction of FER2013's size
data_seed = 0  # int: synthetic only, generator seed
study_dir = "runs/cpu"  # str: run records and executed notebooks of this study
figures_dir = "figures/cpu"  # str: where figures and tables are written
landmark_source = "auto"  # str: auto | ground_truth | template | file
landmark_file = None  # str | None: CSV/NPZ of landmarks keyed by image id, for landmark_source file
lm_features = "auto"  # str: coords | displacement | both; auto is both when neutral faces are known
lm_task = "rest"  # str: each emotion against the rest, or against neutral only
lm_families = ["mlp", "random"]  # list[str]: binary model families compared
lm_emotions = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]  # list[str]: emotions explained
lm_hidden = 64  # int: MLP hidden width
lm_epochs = 40  # int: MLP training epochs
random_hidden = [512, 512]  # list[int]: widths of the randomised network's fixed layers
ridge = 0.01  # float: ridge penalty of the randomised network's readout
ig_baselines = 5  # int: typical negative samples used as IG baselines (medoids)
ig_steps = 32  # int: Integrated Gradients steps
lm_step = 8  # int: landmarks dropped per reduction step
lm_tolerance = 0.01  # float: kept set is the smallest within this of the best validation score
lm_seed = 0  # int: seed of the landmark models
val_split = "PublicTest"  # str: split that selects the landmark set
test_split = "PrivateTest"  # str: split that is only ever tested on

# %%
P = params.check_parameters("04_landmark_explainability", globals())
faces = data.load_dataset(P.dataset, P.data_path, size=P.size, seed=P.data_seed)
lm = landmarks.landmarks_for(faces, P.landmark_source, P.landmark_file)
features = P.lm_features if P.lm_features != "auto" else ("both" if "neutral_landmarks" in faces.extras else "coords")
print(f"{faces.name}: {len(faces)} faces, features: {features}, task: emotion vs {P.lm_task}")

# %%
results = landmark_models.explain_emotions(
    faces, lm, features, P.lm_task, P.lm_families, P.lm_emotions, P.ig_baselines, P.ig_steps, P.lm_step,
    P.lm_tolerance, P.val_split, P.test_split, P.lm_seed, hidden=P.lm_hidden, epochs=P.lm_epochs,
    random_hidden=P.random_hidden, ridge=P.ridge)

# %% [markdown]
# ## Relevance of each landmark, per emotion
# Dataset-level IG with typical negative faces as baselines; rings mark the landmarks the reduction kept.

# %%
mean_face = faces.images.mean(0)
mean_lm = lm.mean(0)
for family in P.lm_families:
    fig = figures.plot_landmark_relevance(results.relevance, mean_face, mean_lm, results.kept, family)
    figures.save_figure(fig, P.figures_dir, f"landmark_relevance_{family}")

# %% [markdown]
# IG's completeness: attributions should add up to the change of the output from the baselines to the face.

# %%
display(results.completeness.round(4))

# %% [markdown]
# ## Accuracy and cost against the number of landmarks

# %%
fig = figures.plot_reduction(results.reduction)
figures.save_figure(fig, P.figures_dir, "landmark_reduction")
summary = results.summary.set_index(["emotion", "family"])
display(summary.round(3))
figures.save_table(summary, f"{P.figures_dir}/tables", "landmark_full_vs_reduced", floatfmt=".3g")

# %% [markdown]
# ## The two model families: accuracy and speed

# %%
families = results.summary.groupby("family")[["full test_balanced_accuracy", "reduced test_balanced_accuracy",
                                               "full train_seconds", "full inference_us", "reduced inference_us"]].mean()
display(families.round(4))

# %% [markdown]
# ## Do the kept landmarks sit where the emotion is made? (synthetic faces)
# The share of kept landmarks inside the regions whose action units define the emotion, against the share of
# all 68 landmarks in those regions (chance); a lift above 1 means the ranking found the defining regions.

# %%
agreement = None
if P.dataset == "synthetic":
    import pandas as pd
    agreement = pd.DataFrame([{"emotion": e, "family": f, "defining regions": ", ".join(data.DEFINING_REGIONS[e]),
                               **landmark_models.region_agreement(k, data.DEFINING_REGIONS[e])}
                              for (e, f), k in results.kept.items() if data.DEFINING_REGIONS.get(e)])
    display(agreement.round(3))
    lift = agreement["lift"].mean()
    display(Markdown(f"Mean lift over emotions and families: **{lift:.2f}** "
                     f"({(agreement['lift'] > 1).mean() * 100:.0f} % of emotion/family pairs above chance)."))

# %%
runs.save_notebook_results(P.study_dir, "04_landmark_explainability", {
    "dataset": faces.name, "features": features, "task": P.lm_task,
    "summary": results.summary.to_dict("records"), "reduction": results.reduction.to_dict("records"),
    "relevance": results.relevance.to_dict("records"), "completeness": results.completeness.to_dict("records"),
    "kept": {f"{e}/{f}": k.tolist() for (e, f), k in results.kept.items()},
    "agreement": None if agreement is None else agreement.to_dict("records"),
    "mean_landmarks": mean_lm.tolist(),
})
