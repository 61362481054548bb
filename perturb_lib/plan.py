"""A study's plan: what executing it would do with each training run, before anything runs.

    python -m perturb_lib.pipeline --profile fer2013-cpu --data fer2013.csv --plan

For each notebook that trains (01, 03 and 04; 02 loads 01's models), every record the notebook needs is one of:

* **reused**: its record is in the ledger (or the study), with every evaluation the tables read;
* **loaded**: its model must be loaded (a figure explains it, a Perturb run to train needs its attention, or an
  evaluation is missing) and is published with its record (``model.safetensors``) or kept in the study;
* **restored**: its model must be loaded and only its record is here: trained again as recorded;
* **trained**: no record: trained.

Minutes come from the records: a restore takes what its record took; a run to train, the median of the ledger's
records of the same model, width, epochs, faces and precision (unknown where there is none). Notebook 04's seeds are
records too (each seed's landmark classifiers, rankings and reductions): reused, or computed in the median time of
the ledger's.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from .evaluate import evaluation_file, evaluation_key
from .experiments import SchemeExperiment, load_faces, maskfer_experiment
from .experiments.landmarks import landmark_faces, seed_identity, seed_record_name
from .execution import Settings
from .io import read_json
from .params import notebook_params
from .runs import Run, Study, run_name

ACTIONS = ("reused", "loaded", "restored", "trained")


@dataclass
class Planned:
    """One run of the plan."""

    notebook: str
    name: str
    action: str
    minutes: float | None = None
    why: str = ""


@dataclass
class Plan:
    """Every run a study's execution needs, and what it would do with each."""

    study: str
    ledger: str
    precision: str
    runs: list[Planned] = field(default_factory=list)

    def count(self, action: str, notebook: str | None = None) -> int:
        return sum(r.action == action and (notebook is None or r.notebook == notebook) for r in self.runs)

    def minutes(self, action: str) -> float | None:
        known = [r.minutes for r in self.runs if r.action == action and r.minutes is not None]
        return sum(known) if known else (0.0 if not self.count(action) else None)

    def add(self, planned: Planned) -> None:
        """Add a run, once per notebook (a run two keys name, e.g. a baseline shared by a variant, counts once:
        the entry that needs its model wins)."""
        for i, r in enumerate(self.runs):
            if r.notebook == planned.notebook and r.name == planned.name:
                if ACTIONS.index(planned.action) > ACTIONS.index(r.action):
                    self.runs[i] = planned
                return
        self.runs.append(planned)

    def lines(self) -> list[str]:
        """The plan in words: a line per notebook, the totals, then each run to restore or train."""
        out = [f"plan of study {self.study!r} (ledger {self.ledger}, precision {self.precision}):"]
        for notebook in dict.fromkeys(r.notebook for r in self.runs):
            counts = ", ".join(f"{self.count(a, notebook)} {a}" for a in ACTIONS)
            out.append(f"  {notebook}: {sum(r.notebook == notebook for r in self.runs)} runs: {counts}")
        out.append(f"  total: {self.count('trained')} to train ({_minutes(self.minutes('trained'))}), "
                   f"{self.count('restored')} to restore ({_minutes(self.minutes('restored'))}), "
                   f"{self.count('loaded')} models loaded, {self.count('reused')} records reused")
        for r in self.runs:
            if r.action in ("restored", "trained"):
                out.append(f"    {r.action}: {r.name} ({_minutes(r.minutes)}; {r.why})")
        return out

    def to_json(self) -> dict:
        return {"study": self.study, "ledger": self.ledger, "precision": self.precision,
                "runs": [asdict(r) for r in self.runs]}

    @classmethod
    def from_json(cls, doc: dict) -> "Plan":
        return cls(doc["study"], doc["ledger"], doc["precision"], [Planned(**r) for r in doc["runs"]])


def _minutes(m: float | None) -> str:
    return "minutes unknown" if m is None else f"about {m:.1f} min" if m < 10 else f"about {m:.0f} min"


def plan_study(values: dict, study: str, fresh_clone: bool = False) -> Plan:
    """The plan of a study's execution with these parameters (see the module's text).

    Args:
        values: the study's parameters (:func:`perturb_lib.pipeline.study_values`).
        study: its name.
        fresh_clone: plan for a fresh clone: only the ledger counts, not what this machine's study folder holds.
    """
    mp = notebook_params("01_maskfer_degradation", values)
    sp = notebook_params("03_perturb_scheme", values)
    settings = Settings.of(sp)
    where = Study.of_params(sp)
    if fresh_clone:
        where = Study(where.dir / ".no-such-study", where.ledger)
    plan = Plan(study, str(where.ledger), settings.resolved_precision())
    faces, landmarks = load_faces(sp)
    estimate = _estimator(where)

    maskfer = maskfer_experiment(mp, faces, landmarks, out=lambda *_: None)
    loaded = set(maskfer.loaded_keys())
    for key, config in maskfer.all_configs().items():
        identity = maskfer.context_for(key).identity(config)
        found = where.find(run_name(identity))
        missing = []
        if found is not None:
            for tested, policy in maskfer.evaluations(config.policy):
                f, spec, lm = maskfer.tested(tested, policy)
                key_ = evaluation_key(spec, config.test_split, f, lm, config.tta, found.config["precision"])
                if found.evaluation(evaluation_file(key_)) is None:
                    missing.append(f"{tested}{'' if policy is None else ' ' + policy.get('region', '')}")
        why = "notebook 02 explains it" if key in loaded else (f"evaluations missing: {', '.join(missing)}"
                                                                if missing else "")
        plan.add(_classify("01_maskfer_degradation", identity, found, bool(why), why, estimate))

    scheme = SchemeExperiment(sp, faces, landmarks)
    identities = {k: scheme.context.identity(c) for k, c in scheme.all_configs().items()}
    shown = set(scheme.loaded_keys())
    needed_attention = {i["policy"]["phase1"] for i in identities.values()
                        if i["policy"]["kind"] == "perturb" and where.find(run_name(i)) is None}
    for key, identity in identities.items():
        name = run_name(identity)
        why = ("Figures 4 and 6 load it" if key in shown else
               "a Perturb run to train needs its attention" if name in needed_attention else "")
        plan.add(_classify("03_perturb_scheme", identity, where.find(name), bool(why), why, estimate))
    lp = notebook_params("04_landmark_explainability", values)
    lm_faces, lm_landmarks = landmark_faces(lp)
    recorded = [read_json(p).get("wall_seconds") for p in (where.ledger or where.records).glob("landmarks-*/env.json")]
    recorded = [w for w in recorded if w]
    for seed in lp.lm_seeds:
        name = seed_record_name(seed_identity(lm_faces, lm_landmarks, lp, seed))
        if where.find(name) is not None:
            plan.add(Planned("04_landmark_explainability", name, "reused"))
        else:
            plan.add(Planned("04_landmark_explainability", name, "trained",
                             statistics.median(recorded) / 60 if recorded else None,
                             "not in the ledger (the seed's landmark classifiers, rankings and reductions)"))
    return plan


def _classify(notebook: str, identity: dict, found: Run | None, model_needed: bool, why: str, estimate) -> Planned:
    name = run_name(identity)
    if found is None:
        return Planned(notebook, name, "trained", estimate(identity), "not in the ledger")
    if not model_needed:
        return Planned(notebook, name, "reused")
    if found.has_checkpoint:
        return Planned(notebook, name, "loaded", None,
                       why + ("; its model is published" if found.published_model else "; its model is in the study"))
    wall = found.env.get("wall_seconds")
    return Planned(notebook, name, "restored", wall / 60 if wall else None,
                   why + "; only its record is here (no published model)")


def _estimator(study: Study):
    """Minutes of a run to train, from the ledger's records of the same model, width, epochs, faces and precision."""
    records: dict[tuple, list[float]] = {}
    if study.ledger is not None:
        for config_path in study.ledger.glob("*/config.json"):
            c = read_json(config_path)
            env_path = config_path.parent / "env.json"
            env = read_json(env_path) if env_path.is_file() else {}
            if env.get("wall_seconds") and not env.get("resumed_at_epoch"):
                records.setdefault(_shape(c, c.get("data", {}).get("faces")), []).append(env["wall_seconds"])

    def estimate(identity: dict) -> float | None:
        walls = records.get(_shape(identity, identity["data"]["faces"]))
        return statistics.median(walls) / 60 if walls else None
    return estimate


def _shape(config: dict, faces) -> tuple:
    """What a run's minutes depend on most."""
    kind = (config.get("policy") or {}).get("kind", "clean")
    return (config.get("model"), bool(config.get("attention")), config.get("width"), config.get("epochs"), faces,
            config.get("precision"), kind == "perturb")
