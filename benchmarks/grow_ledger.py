"""Grow a study's ledger toward its profile's design, a seed at a time, in the order that decides the paper's
claims first.

    python benchmarks/grow_ledger.py --profile fer2013-cpu --data fer2013.csv                 # everything missing
    python benchmarks/grow_ledger.py --profile fer2013-cpu --data fer2013.csv --only removal sweep --seeds 6-8

A study on real faces is more training than one sitting on 2 cores. The profile states the design (models, seeds,
regions, cluster counts); this script trains what the design names and the ledger lacks, exactly as the notebooks
would (the same experiment classes with the notebooks' parameters from the profile, so the same run records), one
step at a time: a step is the runs of one seed of one experiment (``table1``: the clean and masked runs of Table 1;
``perturb``: phase 1, the baseline and the Perturb run of Tables 2-3; ``removal``: the runs trained without each
region; ``sweep``: every cluster count of Figure 5; ``variants``: the Perturb Scheme's variants; ``landmarks``: one
seed of notebook 04's landmark classifiers, rankings and reductions). As each run
finishes it gets the evaluations its notebook reads (computed while its checkpoint is here) and joins the ledger
(:meth:`perturb_lib.ledger.Ledger.add`), so a sitting that ends at any point keeps every run it finished, and the
next one, on any machine, skips them. ``--publish-models`` also publishes the models the notebooks load (those of
``explain_seed``), each checked to reproduce its record.

No seed list is edited by hand: to grow more seeds, widen the design in the profile; ``--plan`` of the pipeline
then lists what this script would train.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml

from perturb_lib.experiments import MaskFerExperiment, SchemeExperiment, load_faces
from perturb_lib.experiments.landmarks import landmark_faces, landmark_seed, seed_identity, seed_record_name
from perturb_lib.ledger import Ledger
from perturb_lib.params import NOTEBOOKS
from perturb_lib.pipeline import notebook_parameters, study_values
from perturb_lib.runs import Study

KINDS = ("perturb", "table1", "removal", "sweep", "variants", "landmarks")


def parse_seeds(text: str | None) -> set[int] | None:
    """``3`` or ``0-5`` or ``0,2,4``: a set of seeds (None: every seed of the design)."""
    if not text:
        return None
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def steps(maskfer_p, scheme_p, kinds, seeds, landmark_p=None) -> list[tuple[str, int, object]]:
    """The design as ``(kind, seed, parameters of that step)``, claims first: each step's parameters are the
    notebook's, narrowed to one seed of one experiment."""
    out = []
    if "perturb" in kinds:
        models = list(scheme_p.perturb_models) + list(scheme_p.baseline_models)
        base = scheme_p.perturb_seeds if scheme_p.perturb_seeds is not None else scheme_p.seeds
        for s in sorted({s for m in models for s in scheme_p.seeds_of(m, base)}):
            out.append(("perturb", s, replace(
                scheme_p, perturb_models=[m for m in scheme_p.perturb_models if s in scheme_p.seeds_of(m, base)],
                baseline_models=[m for m in scheme_p.baseline_models if s in scheme_p.seeds_of(m, base)],
                perturb_seeds=[s], model_seeds={}, sweep_seeds=[], scheme_variants={})))
    if "removal" in kinds and maskfer_p.removal_train_regions:
        for s in maskfer_p.removal_train_seeds:
            out.append(("removal", s, replace(maskfer_p, models=[maskfer_p.removal_model], seeds=[s], model_seeds={},
                                              removal_train_seeds=[s])))
    if "sweep" in kinds:
        for s in scheme_p.sweep_seeds:
            out.append(("sweep", s, replace(scheme_p, perturb_models=[scheme_p.sweep_model], baseline_models=[],
                                            perturb_seeds=[s], model_seeds={}, sweep_seeds=[s], scheme_variants={})))
    if "variants" in kinds and scheme_p.scheme_variants:
        for s in scheme_p.variant_seeds:
            out.append(("variants", s, replace(scheme_p, perturb_models=[scheme_p.sweep_model], baseline_models=[],
                                               perturb_seeds=[s], model_seeds={}, sweep_seeds=[], variant_seeds=[s])))
    if "table1" in kinds:
        for s in sorted({s for m in maskfer_p.models for s in maskfer_p.seeds_of(m, maskfer_p.seeds)}):
            models = [m for m in maskfer_p.models if s in maskfer_p.seeds_of(m, maskfer_p.seeds)]
            out.append(("table1", s, replace(maskfer_p, models=models, seeds=[s], model_seeds={},
                                             removal_train_regions=[])))
    if "landmarks" in kinds and landmark_p is not None:
        out += [("landmarks", s, replace(landmark_p, lm_seeds=[s])) for s in landmark_p.lm_seeds]
    return [st for st in out if seeds is None or st[1] in seeds]


def grow_step(kind: str, params, faces, landmarks, publish) -> None:
    """Train (or reuse) one step's runs; ``publish(run)`` is called as each finishes (a MaskFer run first gets the
    evaluations notebook 01 reads beyond its own validation and test logits)."""
    if kind in ("perturb", "sweep", "variants"):
        SchemeExperiment(params, faces, landmarks).train(checkpoints=False, on_finished=publish)
        return
    if kind == "landmarks":
        lm_faces, lm = landmark_faces(params)
        study = Study.of_params(params)
        landmark_seed(lm_faces, lm, params, params.lm_seeds[0], study)
        publish(study.find(seed_record_name(seed_identity(lm_faces, lm, params, params.lm_seeds[0]))))
        return
    exp = MaskFerExperiment(params, faces, landmarks)

    def finished(run):
        exp.evaluate(run)
        publish(run)
    exp.train(checkpoints=False, on_finished=finished)


def publish_models(maskfer_p, scheme_p, faces, landmarks, ledger: Ledger) -> list[str]:
    """Publish the models the notebooks load (their runs' checkpoints must be in this study)."""
    done = []
    mf = MaskFerExperiment(maskfer_p, faces, landmarks)
    mf.train(checkpoints=False)
    sc = SchemeExperiment(scheme_p, faces, landmarks)
    sc.train(checkpoints=False)
    for exp, runs in ((mf, mf.loaded_runs()), (sc, sc.loaded_runs())):
        for run in runs:
            if not run.published_model:
                path = ledger.publish_model(run, exp.faces, exp.landmarks, exp.settings)
                done.append(f"{run.name} ({path.stat().st_size / 1e6:.1f} MB)")
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="fer2013-cpu")
    ap.add_argument("--data", help="FER2013 (CSV, image folders or .npz); none for a synthetic profile")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameter of the profile (value parsed as YAML)")
    ap.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="the experiments to grow")
    ap.add_argument("--seeds", help="only these seeds of the design (3, 0-5 or 0,2,4)")
    ap.add_argument("--list", action="store_true", help="list the steps, then exit")
    ap.add_argument("--publish-models", action="store_true", help="publish the models the notebooks load, once "
                    "their runs are in this study with their checkpoints")
    a = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in a.param}
    if a.data:
        overrides["data_path"] = str(Path(a.data).expanduser().resolve())
    values = study_values(a.profile, None, overrides)
    maskfer_p = NOTEBOOKS["01_maskfer_degradation"].from_values(notebook_parameters("01_maskfer_degradation", values))
    scheme_p = NOTEBOOKS["03_perturb_scheme"].from_values(notebook_parameters("03_perturb_scheme", values))
    landmark_p = NOTEBOOKS["04_landmark_explainability"].from_values(
        notebook_parameters("04_landmark_explainability", values))
    study = Study.of_params(scheme_p)
    ledger = Ledger(study.ledger)
    faces, landmarks = load_faces(scheme_p)
    t0 = time.time()
    if a.list:
        for kind, seed, _ in steps(maskfer_p, scheme_p, a.only, parse_seeds(a.seeds), landmark_p):
            print(kind, seed)
        return 0
    for kind, seed, params in steps(maskfer_p, scheme_p, a.only, parse_seeds(a.seeds), landmark_p):
        print(f"== {kind} seed {seed} ({(time.time() - t0) / 60:.0f} min in)", flush=True)
        outcomes = []

        def publish(run):
            outcomes.append(ledger.add(run))
        grow_step(kind, params, faces, landmarks, publish)
        print(f"   {ledger.path}: {outcomes.count('new')} new record(s), {outcomes.count('evaluations')} with new "
              f"evaluations" + (f", {outcomes.count('differs')} differ from the ledger's" if 'differs' in outcomes
                                else ""), flush=True)
    if a.publish_models:
        for line in publish_models(maskfer_p, scheme_p, faces, landmarks, ledger):
            print(f"   published the model of {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
