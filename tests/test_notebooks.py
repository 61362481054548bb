"""Notebooks: executed with papermill; generated parameters cells; source notebooks carry no outputs."""
import papermill as pm
import pytest

from perturb_lib import notebook_sync
from perturb_lib.experiments import DataResults
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
    return study, figs


def test_sources_in_sync_and_without_outputs():
    assert notebook_sync.problems() == []


def test_parameters_cells_are_generated_from_the_library(tmp_path):
    found = pm.inspect_notebook(str(NOTEBOOK_DIR / "03_perturb_scheme.ipynb"))
    from perturb_lib.params import SchemeNotebook
    assert list(found) == list(SchemeNotebook.defaults())
    assert all(eval(found[k]["default"]) == v for k, v in SchemeNotebook.defaults().items())  # noqa: S307
    stale = tmp_path / "03_perturb_scheme.py"
    stale.write_text((NOTEBOOK_DIR / "03_perturb_scheme.py").read_text().replace("n_clusters = 3", "n_clusters = 4"))
    assert any("parameters cell differs" in p for p in notebook_sync.problems(tmp_path))


@pytest.mark.slow
def test_notebook_00_runs_on_tiny_synthetic_set(tmp_path):
    study, figs = run_notebook("00_data", tmp_path, size=0.01, samples_per_emotion=2)
    results = DataResults.load(study)
    assert results.dataset == "synthetic" and results.faces == 359
    assert results.counts.set_index("emotion").loc["All", "Training"] == 287
    for name in ("fig3_class_distribution", "data_samples", "data_region_maps"):
        assert (figs / f"{name}.png").stat().st_size > 1000
        assert (figs / f"{name}.pdf").is_file()
    assert (figs / "tables" / "class_counts.md").read_text().startswith("| emotion |")
