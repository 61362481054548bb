"""Notebooks: generated parameters cells; source notebooks carry no outputs. (Executed notebooks: the smoke study
of ``conftest.smoke_study``, checked in test_pipeline.)"""
import papermill as pm

from perturb_lib import notebook_sync
from perturb_lib.paths import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def test_sources_in_sync_and_without_outputs():
    assert notebook_sync.problems() == []


def test_parameters_cells_are_generated_from_the_library(tmp_path):
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / "03_perturb_scheme.ipynb"))
    from perturb_lib.params import SchemeNotebook
    assert sorted(found) == sorted(SchemeNotebook.defaults())
    assert all(eval(found[k]["default"]) == v for k, v in SchemeNotebook.defaults().items())  # noqa: S307
    # the notebook's own parameters come first, the shared groups after them, each under its title
    groups = notebook_sync.parameter_groups(SchemeNotebook)
    assert groups[0][1][:2] == ["perturb_models", "perturb_seeds"] and groups[0][0] == "this notebook's own parameters"
    assert [name for _, names in groups for name in names] == list(found)
    stale = tmp_path / "03_perturb_scheme.py"
    stale.write_text((NOTEBOOK_DIR / "03_perturb_scheme.py").read_text().replace("n_clusters = 3", "n_clusters = 4"))
    assert any("parameters cell differs" in p for p in notebook_sync.problems(tmp_path))
