"""The pipeline: the smoke profile runs the whole chain, unchanged notebooks are skipped, failures name the
cell, and notebook 05 names the notebook whose results are missing."""
import json

import pytest

from perturb_lib.experiments import DataResults
from perturb_lib.pipeline import NOTEBOOKS, StudyError, load_profile, run_study



def tmp_study(tmp_path):
    return {"study_dir": str(tmp_path / "study"), "figures_dir": str(tmp_path / "figures"),
            "cache_dir": str(tmp_path / "cache")}


@pytest.mark.slow
def test_smoke_profile_runs_the_whole_chain_with_one_seed(smoke_study):
    """One seed, as the paper profile runs: no interval anywhere, and every notebook still runs to the end."""
    root, report, lines = smoke_study
    assert [report[nb]["status"] for nb in NOTEBOOKS] == ["ran"] * len(NOTEBOOKS)
    for nb in NOTEBOOKS:
        assert (root / "study" / "notebooks" / f"{nb}.ipynb").is_file()
    for name in ("data", "maskfer", "saliency", "scheme", "landmarks"):
        assert json.loads((root / "study" / "results" / f"{name}.json").read_text())
    figs = {p.stem for p in (root / "figures").glob("*.png")}
    assert {"fig1_saliency", "fig3_class_distribution", "fig4_clusters", "fig5_cluster_sweep", "fig6_saliency",
            "table1_heatmap", "landmark_reduction", "fig6_mean_maps"} <= figs
    tables = {p.name for p in (root / "figures" / "tables").iterdir()}
    assert {"table1_ours.md", "table2.tex", "table3_ours.csv", "paper_vs_ours.md", "class_counts.md"} <= tables
    assert any("[6/6] 05_figures: done in" in line for line in lines)
    table1 = (root / "figures" / "tables" / "table1_ours.md").read_text()
    assert "n = 1, no interval" in table1 and "inconclusive" not in table1
    assert (root / "figures" / "results" / "maskfer.json").is_file()  # published beside the figures
    assert (root / "figures" / "notebooks" / "05_figures.ipynb").is_file()
    # notebook 00 on the smoke profile's synthetic faces (size 0.02: 718 faces, 574 of them for training)
    data = DataResults.load(root / "study")
    assert data.dataset == "synthetic" and data.faces == 718
    assert data.counts.set_index("emotion").loc["All", "Training"] == 574
    for name in ("fig3_class_distribution", "data_samples", "data_region_maps"):
        assert (root / "figures" / f"{name}.png").stat().st_size > 1000
        assert (root / "figures" / f"{name}.pdf").is_file()
    assert (root / "figures" / "tables" / "class_counts.md").read_text().startswith("| emotion |")


@pytest.mark.slow
def test_every_table_reads_as_a_person_would_write_it(smoke_study):
    """No tuples as row labels, no True/False cells, no exponents in counts, no interval below -100 % anywhere."""
    import re
    root, _, _ = smoke_study
    written = sorted((root / "figures" / "tables").glob("*.md"))
    assert len(written) > 15
    for path in written:
        for line in path.read_text().splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert not cells[0].startswith("("), f"{path.name}: a tuple as a row label: {line}"
            assert not {"True", "False"} & set(cells), f"{path.name}: {line}"
            assert not re.search(r"\d[eE][+-]\d", line), f"{path.name}: an exponent: {line}"
            assert not re.search(r"± 0(\.0+)?( |$)", line), f"{path.name}: '± 0': {line}"
            for low, _ in re.findall(r"\[(-?[\d,.]+), (-?[\d,.]+)\]", line):  # a relative change's interval
                assert float(low.replace(",", "")) >= -100, f"{path.name}: a bound below -100 %: {line}"


def test_missing_records_are_listed_and_the_failed_notebook_kept(tmp_path):
    with pytest.raises(StudyError) as info:
        run_study("smoke", overrides=tmp_study(tmp_path), only=["05_figures"], log_output=False, out=lambda *_: None)
    msg = str(info.value)
    assert "05_figures failed in cell" in msg and "MissingResultsError" in msg
    assert "data.json is missing: run notebook 00_data in this study first" in msg
    kept = tmp_path / "study" / "notebooks" / "05_figures.ipynb"
    assert kept.is_file() and "MissingResultsError" in kept.read_text()
    assert not (tmp_path / "study" / "notebooks" / "05_figures.state.json").exists()


@pytest.mark.slow
def test_figures_of_a_committed_study_redraw_from_its_published_results(smoke_study, tmp_path):
    """A fresh clone has a study's results under figures/<study>/ only (runs/ is not committed): notebook 05 alone
    redraws from those, in place, and publishes nothing back over the records or the other notebooks."""
    import shutil
    root, _, _ = smoke_study
    figures = tmp_path / "figures"
    shutil.copytree(root / "figures", figures)
    (figures / "tables" / "table2.md").unlink()
    records = sorted(p.name for p in (figures / "records").iterdir())
    timings = (figures / "timings.json").read_bytes()
    lines = []
    report = run_study("smoke", overrides={**tmp_study(tmp_path), "seeds": [0]}, only=["05_figures"], force=True,
                       log_output=False, out=lines.append)
    assert report["05_figures"]["status"] == "ran"
    assert any("holds no results: notebook 05 redraws from those published in" in line for line in lines)
    assert (figures / "tables" / "table2.md").is_file()  # redrawn
    assert sorted(p.name for p in (figures / "records").iterdir()) == records
    assert len(list((figures / "notebooks").glob("*.ipynb"))) == len(NOTEBOOKS)  # 00-04 kept beside the new 05
    assert not (tmp_path / "study" / "results").exists()
    assert (figures / "timings.json").read_bytes() == timings  # the study's last full execution's
    cells = json.loads((figures / "notebooks" / "05_figures.ipynb").read_text())["cells"]
    injected = "".join(next(c["source"] for c in cells if "injected-parameters" in c["metadata"].get("tags", [])))
    assert f'study_dir = "{figures}"' in injected  # the path as given, not resolved


def test_profiles_hold_only_known_parameters():
    for name in ("cpu", "smoke", "paper"):
        assert isinstance(load_profile(name), dict)
    with pytest.raises(StudyError, match="no profile 'gpu'"):
        load_profile("gpu")


def test_command_line_rejects_unknown_parameters(capsys):
    from perturb_lib.pipeline import main
    assert main(["-p", "epoch", "3"]) == 1 and "unknown parameter 'epoch'" in capsys.readouterr().err
    assert main(["-p", "seeds", "a", "--only", "01_maskfer_degradation"]) == 1
    assert "01_maskfer_degradation: parameter 'seeds' must be a list of int" in capsys.readouterr().err
    assert main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "03_perturb_scheme" in listing and "n_clusters" in listing


@pytest.mark.slow
def test_unchanged_notebooks_are_skipped_changed_ones_rerun_and_timings_merge(smoke_study):
    """Last in this file: it re-runs notebook 00 of the shared smoke study (with another sample grid, which the other
    tests do not read)."""
    root, report, _ = smoke_study
    paths = {"study_dir": str(root / "study"), "figures_dir": str(root / "figures"), "cache_dir": str(root / "cache"),
             "seeds": [0]}
    quiet = dict(log_output=False, out=lambda *_: None)
    again = run_study("smoke", overrides=paths, **quiet)
    assert all(r["status"] == "skipped" for r in again.values())
    before = json.loads((root / "study" / "timings.json").read_text())["notebooks"]
    assert set(before) == set(NOTEBOOKS) and before["00_data"]["seconds"] == report["00_data"]["seconds"]
    changed = run_study("smoke", overrides={**paths, "samples_per_emotion": 3}, only=["00_data"], **quiet)
    assert changed["00_data"]["status"] == "ran"
    # one notebook ran: its own timing is updated, the other five are kept (the README's study time reads them)
    after = json.loads((root / "study" / "timings.json").read_text())["notebooks"]
    assert list(after) == list(NOTEBOOKS)
    assert {k: after[k] for k in after if k != "00_data"} == {k: before[k] for k in before if k != "00_data"}
    assert after["00_data"]["seconds"] == changed["00_data"]["seconds"]
    assert run_study("smoke", overrides={**paths, "samples_per_emotion": 3}, only=["00_data"],
                     **quiet)["00_data"]["status"] == "skipped"


def fake_record(folder, accuracy, wall=100.0, logits=b"logits"):
    """A finished record's files, with made-up contents (enough for the ledger, which copies and compares bytes)."""
    from perturb_lib.io import write_json
    write_json(folder / "config.json", {"model": "vgg16"})
    write_json(folder / "metrics.json", {"test": {"accuracy": accuracy}})
    (folder / "logits.npz").write_bytes(logits)
    write_json(folder / "env.json", {"wall_seconds": wall})
    (folder / "history.csv").write_text(f"epoch,train_seconds\n1,{wall}\n")


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publish_replaces_results_and_adds_new_records_to_the_ledger(tmp_path):
    """Publishing swaps in the study's results and notebooks; the runs they name join the ledger (without
    checkpoints), and the ledger's other records stay as they are."""
    from perturb_lib.io import write_json
    from perturb_lib.pipeline import publish

    study, figures = tmp_path / "study", tmp_path / "figures"
    write_json(study / "results" / "scheme.json", {"runs": {"clean s0": "run-new"}})
    fake_record(study / "records" / "run-new", 0.5)
    (study / "records" / "run-new" / "best.pt").write_bytes(b"checkpoint")  # never published
    write_json(figures / "results" / "old.json", {"runs": {}})
    fake_record(figures / "records" / "run-grown", 0.6)
    grown = tree(figures / "records" / "run-grown")

    publication = publish(study, figures)
    assert publication.outcomes == {"run-new": "new"}
    assert sorted(p.name for p in (figures / "records").iterdir()) == ["LEDGER.md", "run-grown", "run-new"]
    assert not (figures / "records" / "run-new" / "best.pt").exists()
    assert tree(figures / "records" / "run-grown") == grown
    assert sorted(p.name for p in (figures / "results").iterdir()) == ["scheme.json"]
    assert not any(p.name.startswith(".publish-") for p in figures.iterdir())


def test_publishing_a_run_that_differs_from_its_ledger_record_leaves_the_record_byte_for_byte(tmp_path):
    """A ledger's record trained again in a study (its model had to be loaded) is either the same model (its metrics
    and test logits equal the record's byte for byte: its new evaluations join the record, whose env.json and
    history keep the first training's timing) or another model (another CPU kind, say): then nothing of it joins the
    record, which stays byte for byte, and the publication says so."""
    from perturb_lib.io import write_json
    from perturb_lib.pipeline import publish

    study, figures = tmp_path / "study", tmp_path / "figures"
    ledger = figures / "records"
    write_json(study / "results" / "scheme.json", {"runs": {"a": "run-same", "b": "run-other"}})
    for name in ("run-same", "run-other"):
        fake_record(ledger / name, 0.5, logits=b"logits " + name.encode())
        (ledger / name / "evals").mkdir()
        (ledger / name / "evals" / "kept.npz").write_bytes(b"the ledger's")
    # the study's restores, beside the records: one reproduces its record, the other does not
    fake_record(study / "records" / "run-same", 0.5, wall=300.0, logits=b"logits run-same")
    fake_record(study / "records" / "run-other", 0.7, wall=300.0, logits=b"other logits")
    for name in ("run-same", "run-other"):
        (study / "records" / name / "evals").mkdir()
        (study / "records" / name / "evals" / "new.npz").write_bytes(b"the study's")
    other = tree(ledger / "run-other")

    publication = publish(study, figures)
    assert publication.outcomes == {"run-same": "evaluations", "run-other": "differs"}
    assert "1 differ from the ledger's record of the same name and stay in the study" in publication.summary()
    assert tree(ledger / "run-other") == other
    same = ledger / "run-same"
    assert json.loads((same / "env.json").read_text()) == {"wall_seconds": 100.0}
    assert sorted(p.name for p in (same / "evals").iterdir()) == ["kept.npz", "new.npz"]
    assert publish(study, figures).outcomes == {"run-same": "unchanged", "run-other": "differs"}


def test_named_runs_reads_the_runs_and_phase1_maps_only():
    from perturb_lib.io import named_runs
    doc = {"runs": {"clean s0": "vgg16-clean-s0-a", "mask s0": "vgg16-mask-s0-b", "count": 2},
           "phase1": {"0": "vgg16-att-clean-s0-c", "1": "vgg16-clean-s0-a"}, "other": {"x": "not-a-run"}}
    assert named_runs(doc) == {"vgg16-clean-s0-a", "vgg16-mask-s0-b", "vgg16-att-clean-s0-c"}
    assert named_runs({"runs": ["a list is not a map"]}) == set() and named_runs({}) == set()


def test_grown_records_carry_their_evaluations_so_another_machine_trains_nothing(tmp_path, capsys):
    """python -m perturb_lib.grow: a Table 1 step publishes its runs' records with the evaluations notebook 01 makes
    beyond their test logits (each clean run on masked faces, each region removed), and no checkpoint; growing the
    same step into a fresh study from that ledger then trains nothing and keeps no model."""
    from perturb_lib import grow
    ledger = tmp_path / "ledger"

    def step(study):
        return grow.main(["--profile", "smoke", "--only", "table1", "--seeds", "0", "-p", "models", "[vgg16]",
                          "-p", "removal_regions", "[mouth]", "-p", "study_dir", str(tmp_path / study),
                          "-p", "ledger_dir", str(ledger), "-p", "cache_dir", str(tmp_path / "cache")])

    assert step("here") == 0
    records = sorted(p.name for p in ledger.iterdir() if p.is_dir())
    assert [r.split("-s0-")[0] for r in records] == ["vgg16-clean-all-fp32", "vgg16-mask-n95-all-fp32"]
    clean, masked = (ledger / r for r in records)
    # each run tested on clean and on masked faces, the clean run also with the mouth removed
    assert len(list((clean / "evals").glob("*.npz"))) == 3 and len(list((masked / "evals").glob("*.npz"))) == 2
    assert "2 new record(s)" in capsys.readouterr().out
    # an evaluation the ledger's record lacks (a step that ran before this evaluation existed) reaches it later
    lost = sorted((clean / "evals").glob("*.npz"))[0]
    lost.unlink()
    assert step("here") == 0 and lost.is_file()
    assert f"{ledger}: 0 new record(s), 1 with new evaluations" in capsys.readouterr().out

    assert step("elsewhere") == 0
    assert "0 new record(s)" in capsys.readouterr().out
    assert not list((tmp_path / "elsewhere").rglob("*.pt"))  # nothing trained, no model loaded


def test_a_grow_step_cut_between_its_runs_keeps_the_first_evaluated(tmp_path, monkeypatch):
    """python -m perturb_lib.grow publishes each run, with its evaluations, as soon as it finishes: when a Table 1
    step's masked run fails (a sitting cut short), the clean run before it is already in the ledger, tested on
    clean and masked faces and without the mouth."""
    import perturb_lib.grid
    from perturb_lib.grid import GridError

    from perturb_lib import grow
    ledger = tmp_path / "ledger"
    real_train = perturb_lib.grid.train

    def train_but_not_masked(config, *args, **kwargs):
        if config.policy.get("kind") == "mask":
            raise RuntimeError("the sitting ended")
        return real_train(config, *args, **kwargs)
    monkeypatch.setattr(perturb_lib.grid, "train", train_but_not_masked)
    with pytest.raises(GridError, match="1 of 2 runs failed"):
        grow.main(["--profile", "smoke", "--only", "table1", "--seeds", "0", "-p", "models", "[vgg16]",
                   "-p", "removal_regions", "[mouth]", "-p", "study_dir", str(tmp_path / "here"),
                   "-p", "ledger_dir", str(ledger), "-p", "cache_dir", str(tmp_path / "cache")])
    records = sorted(p.name for p in ledger.iterdir() if p.is_dir())
    assert [r.split("-s0-")[0] for r in records] == ["vgg16-clean-all-fp32"]
    assert len(list((ledger / records[0] / "evals").glob("*.npz"))) == 3
    assert not list(ledger.rglob("*.pt"))


def test_a_model_with_fewer_seeds_keeps_them_and_the_ensemble_has_those_all_share(tiny_faces, tmp_path):
    """model_seeds: a slow architecture on fewer seeds than the others; each column of Table 1, the cross conditions
    and Table 2 uses its model's seeds, the ensemble (logits summed per seed) the seeds all its models share."""
    from perturb_lib.experiments import MaskFerExperiment, SchemeExperiment
    from perturb_lib.params import MaskFerNotebook, ParameterError, SchemeNotebook
    from perturb_lib.report import table2_label

    common = dict(epochs=1, width=0.0625, precision="fp32", progress="off", study_dir=str(tmp_path / "study"),
                  cache_dir=str(tmp_path / "cache"), model_seeds={"resnet18": [1]})
    P = MaskFerNotebook(models=["vgg16", "resnet18"], seeds=[0, 1], maskfer_faces="all", removal_regions=["mouth"],
                        removal_train_regions=[], **common)
    exp = MaskFerExperiment(P, tiny_faces, tiny_faces.landmarks)
    assert sorted(exp.configs()) == ["maskfer/resnet18/1/clean", "maskfer/resnet18/1/masked", "maskfer/vgg16/0/clean",
                                     "maskfer/vgg16/0/masked", "maskfer/vgg16/1/clean", "maskfer/vgg16/1/masked"]
    assert exp.column_seeds == {"vgg16": [0, 1], "resnet18": [1], "Ensemble": [1]}
    exp.train()
    seeds = exp.table1().groupby("column")["seeds"].max().to_dict()
    assert seeds == {"vgg16": 2, "resnet18": 1, "Ensemble": 1}
    assert exp.cross_conditions().groupby("model")["seeds"].max().to_dict() == seeds

    S = SchemeNotebook(perturb_models=["vgg16"], baseline_models=["resnet18"], perturb_seeds=[0, 1],
                       cluster_sweep=[], sweep_seeds=[], cluster_sample=32, **common)
    scheme = SchemeExperiment(S, tiny_faces, tiny_faces.landmarks)
    scheme.train()
    table2 = scheme.table2()
    assert dict(zip(table2["model"], table2["seeds"])) == {"vgg16": 2, "resnet18": 1, "Ensemble": 1}
    # the ensemble names its members (two here, not the paper's five)
    assert [table2_label(r) for _, r in table2.iterrows()] == ["vgg16", "resnet18", "Ensemble (vgg16 + resnet18)"]
    assert "baseline/resnet18/1/0" in scheme.runs and "baseline/resnet18/0/0" not in scheme.runs

    with pytest.raises(ParameterError, match="'model_seeds': resnet18: 1 is not a list of seeds"):
        MaskFerNotebook(model_seeds={"resnet18": 1})


def test_the_readme_sets_every_architecture_beside_the_papers_column(smoke_study, tmp_path, monkeypatch):
    """A study of several architectures (the smoke profile: VGG16 and ResNet18, their ensemble) gets Table 1 with
    every column beside the paper's; Table 2 of one backbone stays in the one-model table."""
    from perturb_lib import readme
    from perturb_lib.experiments import SchemeResults
    from perturb_lib.tables import cell_text
    root, _, _ = smoke_study
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "smoke").symlink_to(root / "figures")
    monkeypatch.setattr(readme, "PROJECT_ROOT", tmp_path)
    text = readme.results("smoke")
    assert "Table 1, every architecture" in text and "Table 2, every architecture" not in text
    assert "our Ensemble sums its models' logits; the paper's Ensemble column repeats its ResMasking" in text
    # the README embeds the tables the report wrote: the same text as figures/<study>/tables/
    table1 = (root / "figures" / "tables" / "table1_architectures.md").read_text().rstrip()
    assert table1 in text
    header = "| emotion | vgg16 | paper (VGG16) | resnet18 | paper (ResNet) | Ensemble | paper (Ensemble) |"
    rows = text.split(header)[1].strip().splitlines()[1:8]
    assert [r.split(" | ")[0] for r in rows] == [f"| {e}" for e in ("Angry", "Disgust", "Fear", "Happy", "Sad",
                                                                     "Surprise", "Neutral")]
    happy = [c.strip() for c in rows[3].strip("|").split("|")]
    assert happy[2::2] == ["-35 %", "-55 %", "-42 %"]  # the paper's VGG16, ResNet and Ensemble cells for happy
    # Table 3 of the Perturb backbone (VGG16 here), both units beside the paper's column
    header = "| emotion | vgg16: relative | vgg16: points | paper (VGG16) |"
    rows = text.split(header)[1].strip().splitlines()[1:8]
    angry, fear = ([c.strip() for c in rows[k].strip("|").split("|")] for k in (0, 2))
    t3 = SchemeResults.load(root / "study").table3
    cell = {m: t3[(t3["row"] == "Angry") & (t3["measure"] == m)].iloc[0] for m in ("relative", "points")}
    assert angry == [f"Angry ({int(cell['relative']['test_faces'])} test faces, few)",  # the smoke split is tiny
                     cell_text(cell["relative"], "relative"), cell_text(cell["points"], "points"), "+12"]
    assert fear[0].startswith("Fear") and fear[3] == "+18"  # the paper's Table 3


def test_table2_of_every_architecture_names_each_models_recipe_and_minutes(tmp_path):
    """Each model's width and epochs come from its baseline records, its minutes from their median wall time; a
    phase-1 or Perturb run does not count, nor a resumed run's wall time (its last sitting only)."""
    from perturb_lib.io import write_json
    from perturb_lib.report import baseline_recipes
    runs = {"baseline/resnet50/0/0": "r0", "baseline/resnet50/1/0": "r1", "baseline/resnet50/2/0": "r2",
            "perturb/resnet50/0/3": "p0", "phase1/resnet50/0/0": "q0", "baseline/vgg16/0/0": "v0",
            "baseline/vgg16/1/0": "v1", "baseline/dpn26/0/0": "d0", "baseline/tiny/0/0": "t0",
            "baseline/resnet50/3/0": "r3"}
    for name, width, epochs, wall in (("r0", 0.125, 16, 600), ("r1", 0.125, 16, 1200), ("r2", 0.125, 16, 3000),
                                      ("p0", 0.125, 16, 9000), ("q0", 0.25, 8, 9000), ("v0", 0.25, 8, 312),
                                      ("v1", 0.5, 8, 312), ("d0", 0.125, 16, None), ("t0", 0.125, 1, 20)):
        write_json(tmp_path / "records" / name / "config.json", {"width": width, "epochs": epochs})
        if wall is not None:
            write_json(tmp_path / "records" / name / "env.json", {"wall_seconds": wall})
    write_json(tmp_path / "records" / "r3" / "config.json", {"width": 0.125, "epochs": 16})
    write_json(tmp_path / "records" / "r3" / "env.json", {"wall_seconds": 60, "resumed_at_epoch": 15})  # 900 s if counted
    assert baseline_recipes(tmp_path, runs) == {"resnet50": "x0.125, 16 epochs, 20 min a run",  # median 1200 s
                                                "vgg16": "x0.25, 8 epochs or x0.5, 8 epochs, 5 min a run",  # 5.2
                                                "dpn26": "x0.125, 16 epochs",  # no env.json: no minutes
                                                "tiny": "x0.125, 1 epochs, under a minute a run"}


def test_the_plan_says_what_a_fresh_clone_would_reuse_load_restore_or_train(tmp_path):
    """--plan: a ledger's record whose model a notebook loads is restored until its model is published (checked
    first to reproduce its record's logits), then loaded; a record the tables only read is reused; a run the ledger
    lacks is trained. A model that gives other logits than its record is not published."""
    import torch

    from perturb_lib.experiments import MaskFerExperiment, load_faces
    from perturb_lib.ledger import Ledger
    from perturb_lib.pipeline import main, notebook_parameters, study_values
    from perturb_lib.plan import plan_study
    from perturb_lib.params import NOTEBOOKS
    from perturb_lib import grow
    ledger = tmp_path / "ledger"
    paths = ["-p", "study_dir", str(tmp_path / "here"), "-p", "ledger_dir", str(ledger),
             "-p", "cache_dir", str(tmp_path / "cache")]
    design = ["-p", "models", "[vgg16]", "-p", "seeds", "[0]", "-p", "removal_regions", "[mouth]",
              "-p", "removal_train_regions", "[]"]
    assert grow.main(["--profile", "smoke", "--only", "table1", *design, *paths]) == 0
    overrides = {"models": ["vgg16"], "seeds": [0], "removal_regions": ["mouth"], "removal_train_regions": [],
                 "cluster_sweep": [], "study_dir": str(tmp_path / "here"), "ledger_dir": str(ledger),
                 "cache_dir": str(tmp_path / "cache")}
    values = study_values("smoke", None, overrides)
    plan = plan_study(values, "smoke", fresh_clone=True)
    assert [(r.notebook[:2], r.action) for r in plan.runs if r.notebook.startswith("01")] == [("01", "restored")] * 2
    assert plan.count("trained", "03_perturb_scheme") == 2  # phase 1 and the Perturb run; the baseline is Table 1's
    assert "the ledger lacks" not in "\n".join(plan.lines()) and "to train" in "\n".join(plan.lines())

    P = NOTEBOOKS["01_maskfer_degradation"].from_values(notebook_parameters("01_maskfer_degradation", values))
    faces, landmarks = load_faces(P)
    exp = MaskFerExperiment(P, faces, landmarks)
    exp.train()
    clean, masked = exp.loaded_runs()
    best = torch.load(clean.work / "best.pt", weights_only=True)  # the clean run's model, one weight changed
    state = dict(best["model"])
    first = next(k for k, v in state.items() if v.dtype.is_floating_point)
    state[first] = state[first] + 1.0
    torch.save({**best, "model": state}, masked.work / "best.pt")
    with pytest.raises(ValueError, match="its model gives other val logits than its record: not published"):
        Ledger(ledger).publish_model(masked, exp.context)
    path = Ledger(ledger).publish_model(clean, exp.context)
    assert path == ledger / clean.name / "model.safetensors"
    plan = plan_study(values, "smoke", fresh_clone=True)
    assert {r.name: r.action for r in plan.runs if r.notebook.startswith("01")} == {clean.name: "loaded",
                                                                                    masked.name: "restored"}
    assert main(["--profile", "smoke", "--plan", *[a for kv in overrides.items() for a in
                                                   ("-p", kv[0], str(kv[1]).replace("'", ""))]]) == 0


def test_the_grower_trains_masked_runs_on_the_published_maskfer_images_as_the_notebook_does(tiny_faces, tmp_path):
    """With the published MaskFer images, notebook 01 trains its masked runs on them and its clean runs on their
    originals (MaskFerExperiment.context_for); a grown step does the same, so what it publishes is what the
    notebook reuses."""
    from dataclasses import replace

    from perturb_lib import grow
    from perturb_lib.data.faces import FaceSet
    from perturb_lib.experiments import MaskFerExperiment
    from perturb_lib.ledger import Ledger
    from perturb_lib.params import MaskFerNotebook

    # stands for the published images: the same faces (ids, labels, splits), other pixels
    masked = FaceSet(255 - tiny_faces.images, tiny_faces.labels, tiny_faces.splits, tiny_faces.ids, name="maskfer")
    P = MaskFerNotebook(models=["vgg16"], seeds=[0], maskfer_faces="all", removal_regions=[], removal_train_regions=[],
                        epochs=1, width=0.0625, precision="fp32", progress="off", study_dir=str(tmp_path / "study"),
                        cache_dir=str(tmp_path / "cache"), ledger_dir=str(tmp_path / "ledger"))
    exp = MaskFerExperiment(P, tiny_faces, tiny_faces.landmarks, masked)
    assert exp.context_for("maskfer/vgg16/0/masked").faces is masked
    assert exp.context_for("maskfer/vgg16/0/clean") is exp.context
    outcomes = grow.grow_step(grow.Step("table1", 0, list(exp.all_configs()), exp), Ledger(tmp_path / "ledger"),
                              out=lambda *_: None)
    assert outcomes == ["new", "new"]
    assert exp.runs["maskfer/vgg16/0/masked"].config["data"]["fingerprint"] == masked.fingerprint()
    assert exp.runs["maskfer/vgg16/0/clean"].config["data"]["fingerprint"] == exp.context.faces.fingerprint()
    # a fresh study of the notebook names the same two runs, both found in the ledger
    fresh = MaskFerExperiment(replace(P, study_dir=str(tmp_path / "fresh")), tiny_faces, tiny_faces.landmarks, masked)
    assert all(fresh.context.study.find(fresh.context_for(k).name(c)) is not None
               for k, c in fresh.all_configs().items())
