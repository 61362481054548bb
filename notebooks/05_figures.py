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
# # 05 · Every figure and table of the paper, from the recorded results
#
# Nothing here trains or recomputes: Figures 1, 3, 4, 5 and 6 and Tables 1, 2 and 3 are redrawn from the results
# notebooks 00–04 saved under `study_dir/results/`, and every number the paper reports is set beside ours. If a
# result is missing, the error names the notebook that makes it. `make figures` runs only this notebook.

# %%
from IPython.display import Markdown

from perturb_lib import params, report
from perturb_lib.experiments import DataResults, LandmarkResults, MaskFerResults, SaliencyResults, SchemeResults
from perturb_lib.runs import Study

# %% tags=["parameters"]
# --- Where a study writes.
study_dir = 'runs/cpu'  # str: run records, results and executed notebooks of this study
figures_dir = 'figures/cpu'  # str: where figures and tables are written
ledger_dir = None  # str | None: published run records, read in place before anything is trained (None: <figures_dir>/records, the study's committed ledger)

# %%
P = params.from_notebook(params.FiguresNotebook, globals())
data = DataResults.load(P.study_dir)
maskfer = MaskFerResults.load(P.study_dir)
saliency = SaliencyResults.load(P.study_dir)
scheme = SchemeResults.load(P.study_dir)
landmarks = LandmarkResults.load(P.study_dir)

# %% [markdown]
# ## Figure 3: the data

# %%
report.figure3(data, P.figures_dir)

# %% [markdown]
# ## Table 1, the cross conditions and feature removal

# %%
report.table1(maskfer, P.figures_dir)

# %%
report.cross_conditions(maskfer, P.figures_dir)

# %%
report.removal(maskfer, P.figures_dir)

# %% [markdown]
# ## Figures 1 and 6: saliency maps

# %%
report.figure1(saliency, P.figures_dir)

# %%
report.saliency_maps(saliency, P.figures_dir)

# %%
report.saliency_checks(saliency, P.figures_dir)

# %%
report.figure6(scheme, P.figures_dir)

# %% [markdown]
# ## Figure 4, Figure 5, Tables 2 and 3: the Perturb Scheme

# %%
report.figure4(scheme.clusters, P.figures_dir)

# %%
report.figure5(scheme, P.figures_dir)

# %%
report.table2(scheme, P.figures_dir)

# %%
report.table3(scheme, P.figures_dir)

# %%
report.cluster_locations(scheme, P.figures_dir)

# %%
report.variants(scheme, P.figures_dir)

# %% [markdown]
# ## The second seed paper: landmark relevance and reduction

# %%
report.landmark_figures(landmarks, P.figures_dir)

# %% [markdown]
# ## Our numbers beside the paper's
# Every cell the paper reports: the paper's value, ours and its interval. Cells for architectures this study
# did not run show `(not run)`. On the synthetic default the comparison only shows that the pipeline runs:
# synthetic faces are not FER2013.

# %%
report.comparison(maskfer, scheme, P.figures_dir)

# %% [markdown]
# ## The paper's claims: our verdicts
# Each claim of the paper's text, tested by one rule (`perturb_lib.claims`): **confirmed** when our 95 % interval
# (seeds and test faces) holds the paper's value and excludes no effect, **refuted** when it excludes the paper's
# value, **not decided** when it holds both - and then how many seeds, or test faces, would decide it. At the
# laptop scale (narrow models, few epochs) "not decided" means the data cannot tell, not that the effect is absent;
# "consistent with the paper (not rejected)" in the comparison above is not "confirmed".

# %%
table = report.claims_table(maskfer, scheme, P.figures_dir, maskfer.models[0], landmarks)
table

# %%
collapsed = report.collapsed_runs(Study.of_params(P), set(maskfer.runs.values()) | set(scheme.runs.values()))
print("runs that predict one class for more than half of their test faces:", "; ".join(collapsed) or "none")

# %% [markdown]
# ## What this says

# %%
Markdown(report.says(table, f"The study on {maskfer.dataset}"))
