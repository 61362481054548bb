"""The pipeline: the smoke profile runs the whole chain, unchanged notebooks are skipped, failures name the
cell, and notebook 05 names the notebook whose results are missing."""
import json
import subprocess
import sys

import pytest

from perturb_lib.pipeline import NOTEBOOKS, StudyError, load_profile, run_study


def tmp_study(tmp_path):
    return {"study_dir": str(tmp_path / "study"), "figures_dir": str(tmp_path / "figures")}


@pytest.mark.slow
def test_smoke_profile_runs_the_whole_chain_with_one_seed_then_skips_it(tmp_path):
    """One seed, as the paper profile runs: no interval anywhere, and every notebook still runs to the end."""
    lines = []
    report = run_study("smoke", overrides={**tmp_study(tmp_path), "seeds": [0]}, log_output=False, out=lines.append)
    assert [report[nb]["status"] for nb in NOTEBOOKS] == ["ran"] * len(NOTEBOOKS)
    for nb in NOTEBOOKS:
        assert (tmp_path / "study" / "notebooks" / f"{nb}.ipynb").is_file()
    for name in ("data", "maskfer", "saliency", "scheme", "landmarks"):
        assert json.loads((tmp_path / "study" / "results" / f"{name}.json").read_text())
    figs = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert {"fig1_saliency", "fig3_class_distribution", "fig4_clusters", "fig5_cluster_sweep", "fig6_saliency",
            "table1_heatmap", "landmark_reduction"} <= figs
    tables = {p.name for p in (tmp_path / "figures" / "tables").iterdir()}
    assert {"table1_ours.md", "table2.tex", "table3_ours.csv", "paper_vs_ours.md"} <= tables
    assert any("[6/6] 05_figures: done in" in line for line in lines)
    assert (tmp_path / "figures" / "fig6_mean_maps.png").is_file()
    table1 = (tmp_path / "figures" / "tables" / "table1_ours.md").read_text()
    assert "n = 1, no interval" in table1 and "inconclusive" not in table1
    assert (tmp_path / "figures" / "results" / "maskfer.json").is_file()  # published beside the figures
    assert (tmp_path / "figures" / "notebooks" / "05_figures.ipynb").is_file()
    again = run_study("smoke", overrides={**tmp_study(tmp_path), "seeds": [0]}, log_output=False, out=lines.append)
    assert all(r["status"] == "skipped" for r in again.values())


def test_changed_parameters_rerun_only_what_changed(tmp_path):
    run = lambda **kw: run_study("smoke", overrides={**tmp_study(tmp_path), **kw}, only=["00_data"],  # noqa: E731
                                 log_output=False, out=lambda *_: None)
    assert run()["00_data"]["status"] == "ran"
    assert run()["00_data"]["status"] == "skipped"
    assert run(samples_per_emotion=3)["00_data"]["status"] == "ran"


def test_missing_records_are_listed_and_the_failed_notebook_kept(tmp_path):
    with pytest.raises(StudyError) as info:
        run_study("smoke", overrides=tmp_study(tmp_path), only=["05_figures"], log_output=False, out=lambda *_: None)
    msg = str(info.value)
    assert "05_figures failed in cell" in msg and "MissingResultsError" in msg
    assert "data.json is missing: run notebook 00_data in this study first" in msg
    kept = tmp_path / "study" / "notebooks" / "05_figures.ipynb"
    assert kept.is_file() and "MissingResultsError" in kept.read_text()
    assert not (tmp_path / "study" / "notebooks" / "05_figures.state.json").exists()


def test_profiles_hold_only_known_parameters():
    for name in ("cpu", "smoke", "paper"):
        assert isinstance(load_profile(name), dict)
    with pytest.raises(StudyError, match="no profile 'gpu'"):
        load_profile("gpu")


def test_command_line_rejects_unknown_parameters():
    out = subprocess.run([sys.executable, "-m", "perturb_lib.pipeline", "-p", "epoch", "3"], capture_output=True, text=True)
    assert out.returncode == 1 and "unknown parameter 'epoch'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "perturb_lib.pipeline", "-p", "seeds", "a", "--only",
                          "01_maskfer_degradation"], capture_output=True, text=True)
    assert out.returncode == 1 and "01_maskfer_degradation: parameter 'seeds' must be a list of int" in out.stderr
    listing = subprocess.run([sys.executable, "-m", "perturb_lib.pipeline", "--list"], capture_output=True, text=True)
    assert listing.returncode == 0 and "03_perturb_scheme" in listing.stdout and "n_clusters" in listing.stdout
