"""Grow a study's ledger toward its profile's design, a seed at a time, in the order that decides the paper's claims
first.

    python -m perturb_lib.grow --profile fer2013-cpu --data fer2013.csv                  # everything missing
    python -m perturb_lib.grow --profile fer2013-cpu --data fer2013.csv --only removal sweep --seeds 6-8
    python -m perturb_lib.grow --profile fer2013-cpu --data fer2013.csv --list           # the steps, then exit

A study on real faces is more training than one sitting on 2 cores. The profile states the design (models, seeds,
regions, cluster counts); the notebooks' experiments turn it into the runs they need (their plan:
:meth:`~perturb_lib.experiments.MaskFerExperiment.configs`, :meth:`~perturb_lib.experiments.SchemeExperiment.configs`,
notebook 04's seeds). A step is a filter over that plan: the runs of one seed of one part (``perturb``: phase 1, the
baseline and the Perturb run of Tables 2-3; ``removal``: the runs trained without a region; ``sweep``: Figure 5's
other cluster counts; ``variants``: the scheme's variants; ``table1``: Table 1's clean and masked runs;
``landmarks``: one seed of notebook 04). Each run the ledger lacks is trained exactly as the notebook would train it;
as it finishes it gets the evaluations its notebook reads (computed while its checkpoint is here) and joins the
ledger (:meth:`perturb_lib.ledger.Ledger.add`), so a sitting that ends at any point keeps every run it finished, and
the next one, on any machine, skips them. ``--publish-models`` also publishes the models the notebooks load (those
of ``explain_seed``), each checked to reproduce its record.

No seed list is edited by hand: to grow more seeds, widen the design in the profile; ``--plan`` of the pipeline
lists what is missing.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from .experiments import MaskFerExperiment, SchemeExperiment, load_faces, maskfer_experiment
from .experiments.landmarks import landmark_faces, landmark_seed, seed_identity, seed_record_name
from .experiments.results import RunKey, group_by_context
from .grid import run_grid
from .ledger import Ledger
from .params import notebook_params
from .pipeline import study_values
from .runs import Study

#: the parts of the design, in the order that decides the paper's claims first
KINDS = ("perturb", "removal", "sweep", "variants", "table1", "landmarks")


def part_of(key: str, n_clusters: int) -> str:
    """Which part of the design a run of an experiment's plan belongs to (its key: :class:`RunKey`)."""
    k = RunKey.parse(key)
    if "@" in k.kind:
        return "variants"
    if k.kind == "maskfer":
        return "table1"
    if k.kind == "removal":
        return "removal"
    if k.kind == "perturb" and int(k.condition) != n_clusters:
        return "sweep"
    return "perturb"  # phase 1, the baselines and the Perturb runs of Tables 2-3


@dataclass
class Step:
    """The runs of one part of the design for one seed, and the experiment they belong to."""

    kind: str
    seed: int
    keys: list[str]
    experiment: object = None


def experiments(values: dict) -> tuple[MaskFerExperiment, SchemeExperiment]:
    """Notebook 01's and notebook 03's experiments of the design (on the published MaskFer images when the profile
    names them)."""
    mp = notebook_params("01_maskfer_degradation", values)
    sp = notebook_params("03_perturb_scheme", values)
    faces, landmarks = load_faces(sp)
    return maskfer_experiment(mp, faces, landmarks), SchemeExperiment(sp, faces, landmarks)


def steps(values: dict, kinds=KINDS, seeds: set[int] | None = None) -> list[Step]:
    """The design's steps, claims first: each experiment's plan, filtered by part and seed."""
    maskfer, scheme = experiments(values)
    grouped: dict[tuple[str, int], Step] = {}
    for experiment, n in ((scheme, scheme.params.n_clusters), (maskfer, 0)):
        for key in experiment.all_configs():
            kind, seed = part_of(key, n), RunKey.parse(key).seed
            grouped.setdefault((kind, seed), Step(kind, seed, [], experiment)).keys.append(key)
    lp = notebook_params("04_landmark_explainability", values)
    for seed in lp.lm_seeds:
        grouped[("landmarks", seed)] = Step("landmarks", seed, [], lp)
    # a variant whose recipe is the study's shares its phase 1 and baseline with the perturb step: counted there
    out = [grouped[k] for k in sorted(grouped, key=lambda k: (KINDS.index(k[0]), k[1]))]
    return [s for s in out if s.kind in kinds and (seeds is None or s.seed in seeds)]


def grow_step(step: Step, ledger: Ledger, out=print) -> list[str]:
    """Train (or reuse) one step's runs, each evaluated and published as it finishes; returns what
    :meth:`Ledger.add` did with each."""
    outcomes = []
    if step.kind == "landmarks":
        params = replace(step.experiment, lm_seeds=[step.seed])
        study = Study.of_params(params)
        faces, lm = landmark_faces(params)
        landmark_seed(faces, lm, params, step.seed, study, out)
        name = seed_record_name(seed_identity(faces, lm, params, step.seed))
        record = study.find(name)
        if record is None:
            raise RuntimeError(f"{study.records / name}: the landmark seed {step.seed} left no finished record")
        outcomes.append(ledger.add(record))
        return outcomes
    exp = step.experiment
    plan = exp.all_configs()

    def finished(run):
        if isinstance(exp, MaskFerExperiment):
            exp.evaluate(run)  # the evaluations notebook 01 reads, while the checkpoint is here
        outcomes.append(ledger.add(run))
    for context, keys in group_by_context(exp, step.keys).items():  # each run on the faces its notebook trains it on
        runs = run_grid([plan[k] for k in keys], context, grid=exp.params, out=out, on_finished=finished)
        exp.runs.update(zip(keys, runs))
    return outcomes


def publish_models(values: dict, ledger: Ledger, out=print) -> list[str]:
    """Publish the models the notebooks load (the explained seed's Table 1 pair, and its phase 1, baseline and
    Perturb run), each checked to reproduce its record's logits: their checkpoints must be in this study."""
    done = []
    for exp in experiments(values):
        # Only the runs found in the study: the rest of the design may not be grown yet.
        found = {k: exp.context.study.find(exp.context_for(k).name(c)) for k, c in exp.all_configs().items()}
        exp.runs = {k: run for k, run in found.items() if run is not None}
        try:
            loaded = {k: exp.runs[k] for k in exp.loaded_keys()}
        except KeyError as missing:
            raise SystemExit(f"publish-models: the run {missing} that the notebooks load is not trained yet; grow it "
                             "first (python -m perturb_lib.grow ... --seeds <explain_seed>)") from None
        for key, run in loaded.items():
            if not run.published_model:
                path = ledger.publish_model(run, exp.context_for(key))
                done.append(f"{run.name} ({path.stat().st_size / 1e6:.1f} MB)")
                out(f"published the model of {done[-1]}")
    return done


def parse_seeds(text: str | None) -> set[int] | None:
    """``3``, ``0-5`` or ``0,2,4``: a set of seeds (None: every seed of the design)."""
    if not text:
        return None
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perturb_lib.grow", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="fer2013-cpu")
    ap.add_argument("--data", help="FER2013 (CSV, image folders or .npz); none for a synthetic profile")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameter of the profile (value parsed as YAML)")
    ap.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="the parts of the design to grow")
    ap.add_argument("--seeds", help="only these seeds of the design (3, 0-5 or 0,2,4)")
    ap.add_argument("--list", action="store_true", help="list the steps, then exit")
    ap.add_argument("--publish-models", action="store_true", help="publish the models the notebooks load, once "
                    "their runs are in this study with their checkpoints")
    a = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in a.param}
    if a.data:
        overrides["data_path"] = str(Path(a.data).expanduser().resolve())
    values = {**study_values(a.profile, None, overrides), "progress": overrides.get("progress", "summary")}
    todo = steps(values, a.only, parse_seeds(a.seeds))
    if a.list:
        for s in todo:
            print(s.kind, s.seed, len(s.keys) or "")
        return 0
    ledger = Ledger(Study.of_params(notebook_params("03_perturb_scheme", values)).ledger)
    t0 = time.time()
    for step in todo:
        print(f"== {step.kind} seed {step.seed} ({(time.time() - t0) / 60:.0f} min in)", flush=True)
        outcomes = grow_step(step, ledger)
        print(f"   {ledger.path}: {outcomes.count('new')} new record(s), {outcomes.count('evaluations')} with new "
              f"evaluations" + (f", {outcomes.count('differs')} differ from the ledger's" if "differs" in outcomes
                                else ""), flush=True)
    if a.publish_models:
        publish_models(values, ledger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
