"""Grow a study's ledger of run records in the order that decides the paper's claims first.

    python benchmarks/grow_ledger.py --profile fer2013-cpu --data fer2013.csv \\
        --plan perturb:0-14 table1:0-4 removal:0-2 sweep:0-2

A study on real faces is more training than one sitting on 2 cores. Each step of the plan trains (or reuses) the
runs of one seed of one experiment exactly as its notebook would - the same experiment classes with the notebook's
parameters from the profile, so the same run records - and, as each run finishes, copies its record into the
ledger (``ledger_dir`` of the profile, e.g. ``figures/<study>/records``: config, metrics, history, environment,
logits and the evaluations its notebook makes on other faces or splits, computed while the checkpoint is here;
never checkpoints). A sitting that ends at any point keeps every run it finished; the next one, on any machine,
skips them; and ``make study`` then trains nothing the ledger holds (only the few models a notebook must load, from
their records' configs).

A step trains seed S of every model the parameters name, whatever their ``model_seeds``. Steps: ``perturb:S`` (phase
1, the clean baseline and the Perturb run of seed S: Tables 2-3), ``table1:S`` (the clean and masked runs of seed S
for every model: Table 1 and the cross conditions), ``removal:S`` (the runs trained without each region of
``removal_train_regions``, seed S, and ``removal_model``'s clean and masked runs of seed S: the clean one is what
they are compared with), ``sweep:S`` (every cluster count of the sweep, seed S, with its phase 1 and baseline).
``A-B`` is a range of seeds.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml

from perturb_lib.experiments import MaskFerExperiment, SchemeExperiment, load_faces
from perturb_lib.io import atomic_path
from perturb_lib.params import NOTEBOOKS
from perturb_lib.paths import resolve
from perturb_lib.pipeline import load_profile, notebook_parameters
from perturb_lib.runs import RECORD_FILES, records_dir, same_results


def parse_plan(steps: list[str]) -> list[tuple[str, int]]:
    out = []
    for step in steps:
        kind, _, seeds = step.partition(":")
        if kind not in ("perturb", "table1", "removal", "sweep") or not seeds:
            raise SystemExit(f"bad step {step!r}: write perturb:S, table1:S, removal:S or sweep:S (S a seed or A-B)")
        lo, _, hi = seeds.partition("-")
        out += [(kind, s) for s in range(int(lo), int(hi or lo) + 1)]
    return out


def publish_records(study_dir, ledger: Path) -> tuple[int, int]:
    """Copy every finished record of the study into the ledger (metrics last), and the cached evaluations a record
    already there lacks (a later step evaluated it on other faces); returns how many records were new and how many
    gained evaluations."""
    new = updated = 0
    for run in sorted(records_dir(study_dir).glob("*/metrics.json")):
        run = run.parent
        target = ledger / run.name
        evals = [p for p in sorted(run.glob("evals/*.npz")) if not (target / p.relative_to(run)).is_file()]
        if (target / "metrics.json").is_file():
            if not same_results(run, target):
                continue  # trained again here (no checkpoint came with the record): its evaluations are another model's
            files, updated = evals, updated + bool(evals)
        else:
            files = [run / f for f in RECORD_FILES if f != "metrics.json"] + evals + [run / "metrics.json"]
            new += 1
        for path in [p for p in files if p.is_file()]:
            with atomic_path(target / path.relative_to(run)) as tmp:
                shutil.copyfile(path, tmp)
    return new, updated


def grow_step(kind: str, seed: int, maskfer_p, scheme_p, faces, landmarks, publish=lambda: None) -> None:
    """Train (or reuse) one step's runs. Each run, as soon as it finishes, gets the evaluations notebook 01 makes
    beyond its own validation and test logits (clean runs on masked faces and back, regions removed), cached in its
    folder while the checkpoint is here, and then ``publish`` is called: a sitting cut between two runs of a step
    keeps the first, evaluated, and a study elsewhere need not train it again. Notebook 03 reads only the records'
    own logits."""
    if kind in ("perturb", "sweep"):
        if kind == "perturb":
            params = replace(scheme_p, perturb_seeds=[seed], model_seeds={}, sweep_seeds=[])
        else:  # the sweep model's phase 1, baseline and Perturb runs only, not every backbone's pair
            params = replace(scheme_p, perturb_models=[scheme_p.sweep_model], baseline_models=[],
                             perturb_seeds=[seed], model_seeds={}, sweep_seeds=[seed])
        SchemeExperiment(params, faces, landmarks).train(checkpoints=False, on_finished=lambda run: publish())
        return
    if kind == "table1":
        params = replace(maskfer_p, seeds=[seed], model_seeds={}, removal_train_regions=[])
    else:  # removal: the runs trained without each region, and their clean twin
        params = replace(maskfer_p, models=[maskfer_p.removal_model], seeds=[seed], model_seeds={},
                         removal_train_seeds=[seed])
    exp = MaskFerExperiment(params, faces, landmarks)

    def finished(run):
        exp.evaluate(run)
        publish()
    exp.train(checkpoints=False, on_finished=finished)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="fer2013-cpu")
    ap.add_argument("--data", help="FER2013 (CSV, image folders or .npz); none for a synthetic profile")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameter of the profile (value parsed as YAML)")
    ap.add_argument("--plan", nargs="+", required=True, help="steps, in order (see above)")
    a = ap.parse_args(argv)
    values = {**load_profile(a.profile), "progress": "summary"}
    values.update({k: yaml.safe_load(v) for k, v in a.param})
    if a.data:
        values["data_path"] = str(Path(a.data).expanduser().resolve())
    values.setdefault("study_dir", f"runs/{a.profile}")
    values.setdefault("figures_dir", f"figures/{a.profile}")
    ledger = resolve(values.get("ledger_dir") or f"{values['figures_dir']}/records")
    maskfer_p = NOTEBOOKS["01_maskfer_degradation"].from_values(notebook_parameters("01_maskfer_degradation", values))
    scheme_p = NOTEBOOKS["03_perturb_scheme"].from_values(notebook_parameters("03_perturb_scheme", values))
    faces, landmarks = load_faces(scheme_p)
    t0 = time.time()
    for kind, seed in parse_plan(a.plan):
        print(f"== {kind} seed {seed} ({(time.time() - t0) / 60:.0f} min in)", flush=True)
        counts = [0, 0]

        def publish():
            new, updated = publish_records(scheme_p.study_dir, ledger)
            counts[0] += new
            counts[1] += updated
        grow_step(kind, seed, maskfer_p, scheme_p, faces, landmarks, publish)
        publish()
        print(f"   {counts[0]} new record(s) in {ledger}, {counts[1]} with new evaluations", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
