"""Notebooks: executed with papermill on smoke parameters; source notebooks carry no outputs."""
import json

import papermill as pm
import pytest

from perturb_lib import notebook_sync, params
from perturb_lib.paths import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def run_notebook(name, tmp_path, **parameters):
    study = tmp_path / "study"
    figs = tmp_path / "figures"
    out = study / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(out), kernel_name="python3",
                        parameters={"study_dir": str(study), "figures_dir": str(figs), **parameters},
                        cwd=str(PROJECT_ROOT), progress_bar=False)
    return study, figs, json.loads((study / "notebooks" / f"{name}.json").read_text())


def test_sources_in_sync_and_without_outputs():
    assert notebook_sync.problems() == []


@pytest.mark.parametrize("name", sorted(params.NOTEBOOK_PARAMS))
def test_parameter_cells_match_the_library_defaults(name):
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"))
    declared = params.defaults(name)
    assert list(found) == list(declared), "parameters cell and library spec list different names"
    for key, value in declared.items():
        assert eval(found[key]["default"]) == value, key  # noqa: S307 - our own notebook's literals


@pytest.mark.slow
def test_notebook_00_runs_on_tiny_synthetic_set(tmp_path):
    study, figs, results = run_notebook("00_data", tmp_path, size=0.01, samples_per_emotion=2)
    assert results["dataset"] == "synthetic" and results["faces"] == 359
    assert sum(results["counts"]["Training"].values()) == 287
    for name in ("fig3_class_distribution", "data_samples", "data_region_maps"):
        assert (figs / f"{name}.png").stat().st_size > 1000
        assert (figs / f"{name}.pdf").is_file()
    assert (figs / "tables" / "class_counts.md").read_text().startswith("| emotion |")
