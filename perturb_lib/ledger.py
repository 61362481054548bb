"""The ledger: a study's published run records (``figures/<study>/records``), append-only.

A study reads its ledger in place (:class:`~perturb_lib.runs.Study`) and trains only what it lacks. Everything that
enters a ledger enters through :meth:`Ledger.add`, the one copy path, used by a study's publication
(:func:`perturb_lib.pipeline.publish`) and by the ledger grower (:mod:`perturb_lib.grow`) alike:

* a run the ledger does not hold is copied in whole (its record files, then ``metrics.json`` last, so that an
  interrupted copy never looks finished);
* a record the ledger holds gains only what it lacks: evaluations computed from its own model (the published one,
  or one trained again that reproduces its metrics and test logits byte for byte);
* a run that differs from the ledger's record of the same name (trained again on another CPU kind, say) changes
  nothing: it stays in the study, and :meth:`Ledger.add` says so.

No file of a published record is ever rewritten. The only models a ledger holds are the few that notebooks load
(:meth:`Ledger.publish_model`), in safetensors, each checked first to reproduce its record's logits exactly.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import atomic_path
from .runs import (EVALS_DIR, LEDGER_MARK, LOGITS_FILE, MODEL_FILE, Run, Study, StudyContext, same_results,
                   save_model_file)

#: what :meth:`Ledger.add` did with a run
OUTCOMES = ("new", "evaluations", "unchanged", "differs")


#: what a study keeps beside a record but never publishes: checkpoints, locks, caches of cheap computations
NOT_PUBLISHED = ("*.pt", ".*", "clusters-*")


def record_files(folder: Path) -> list[Path]:
    """The files of a record in a folder, in the order they are copied: every file but those of
    :data:`NOT_PUBLISHED` (a training run's :data:`~perturb_lib.runs.RECORD_FILES`, its evaluations, its policy's
    record and a published model; a landmark seed's results), with ``metrics.json`` last (its presence means
    "finished")."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()
             and not any(p.match(pattern) for pattern in NOT_PUBLISHED) and p != folder / "metrics.json"]
    return files + ([folder / "metrics.json"] if (folder / "metrics.json").is_file() else [])


@dataclass
class Publication:
    """What a publication did, run by run (names by :data:`OUTCOMES`)."""

    outcomes: dict[str, str] = field(default_factory=dict)

    def names(self, outcome: str) -> list[str]:
        return sorted(n for n, o in self.outcomes.items() if o == outcome)

    def summary(self) -> str:
        counts = {o: len(self.names(o)) for o in OUTCOMES}
        text = (f"{counts['new']} new record(s), {counts['evaluations']} with new evaluations, "
                f"{counts['unchanged']} unchanged")
        if counts["differs"]:
            text += (f"; {counts['differs']} differ from the ledger's record of the same name and stay in the study "
                     f"(trained again elsewhere; `make compare` judges them): {', '.join(self.names('differs'))}")
        return text


class Ledger:
    """A folder of published run records.

    Args:
        path: the folder (``figures/<study>/records``).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __contains__(self, name: str) -> bool:
        return (self.path / name / "metrics.json").is_file()

    def names(self) -> list[str]:
        """The finished records it holds."""
        return sorted(p.parent.name for p in self.path.glob("*/metrics.json"))

    def add(self, run: Run) -> str:
        """Publish one finished run (see the module's text); returns one of :data:`OUTCOMES`."""
        target = self.path / run.name
        outcome = "unchanged"
        if run.name not in self:  # a run the ledger does not hold: its whole record
            self.mark()
            # a copy cut short left files but no metrics.json: that record was never published, and what it holds
            # is replaced where it differs, so that it cannot mix two trainings of one name
            self._copy(record_files(run.dir), run.dir, target, replace_differing=True)
            outcome = "new"
        added = 0
        for source in dict.fromkeys([run.dir, run.work]):  # what the study computed about the record's model
            if source.resolve() == target.resolve() or not source.is_dir():
                continue
            if (source / "metrics.json").is_file() and not same_results(source, target):
                outcome = "differs"  # trained again as another model: none of it joins the record
                continue
            added += self._copy(record_files(source), source, target, only=EVALS_DIR)
        return "evaluations" if outcome == "unchanged" and added else outcome

    def publish(self, study: Study, names) -> Publication:
        """:meth:`add` every finished run of ``names`` that the study finds."""
        pub = Publication()
        for name in sorted(set(names)):
            run = study.find(name)
            if run is not None:
                pub.outcomes[name] = self.add(run)
        return pub

    def publish_model(self, run: Run, context: StudyContext) -> Path:
        """Publish a run's model beside its record in this ledger, after checking that it reproduces the record's
        validation and test logits exactly (evaluated here, in the record's precision, on ``context``'s faces: those
        it was trained on).

        Raises:
            ValueError: the model gives other logits than its record (another model under the same name, e.g.
                trained again on another CPU kind): it is not published.
        """
        from dataclasses import replace

        import torch

        from .evaluate import predict, run_recipe
        from .policies import split_tensors
        from .runs import policy_for
        target = self.path / run.name
        if target.name not in self:
            raise ValueError(f"{run.name}: not in the ledger {self.path}; publish its record first")
        if (target / MODEL_FILE).exists():
            raise ValueError(f"{target / MODEL_FILE}: already published (a published file is never rewritten)")
        faces, landmarks = context.faces, context.landmarks
        settings = replace(run.recorded_settings(context.settings), progress="off")
        device = settings.resolved_device()
        model_state, policy_state = run.states(str(device))
        recipe = run_recipe(run)
        policy = policy_for(run.config["policy"], run.study, device)
        model = run.model(str(device), state=model_state)
        if settings.use_channels_last(device, run.config["model"], run.config["width"]):
            model = model.to(memory_format=torch.channels_last)
        with np.load(target / LOGITS_FILE, allow_pickle=False) as z:
            recorded = {k: z[k] for k in z.files}
        for key, split in (("val", recipe.val_split), ("test", recipe.test_split)):
            data = split_tensors(faces, split, device, landmarks)
            policy.prepare(data)
            policy.load_state_dict(policy_state)
            logits = predict(model, data, policy, recipe, settings, device).cpu().numpy().astype(np.float16)
            if not (np.array_equal(np.asarray(data.ids, str), recorded[f"{key}_ids"])
                    and logits.tobytes() == recorded[key].tobytes()):
                raise ValueError(f"{run.name}: its model gives other {key} logits than its record: not published")
        save_model_file(target / MODEL_FILE, model_state, policy_state,
                        {"record": run.name, "format": "model.<state dict> and policy.<state> tensors"})
        return target / MODEL_FILE

    def mark(self) -> None:
        """Mark the folder as a ledger (:data:`~perturb_lib.runs.LEDGER_MARK`): a record opened without a study of
        its own is then read only."""
        mark = self.path / LEDGER_MARK
        if not mark.is_file():
            with atomic_path(mark) as tmp:
                tmp.write_text("# A ledger of published run records\n\nEach folder here is one run's record, published "
                               "by `perturb_lib.ledger` and never rewritten: studies read it in place and write what "
                               "they compute about it in their own folder (`runs/<study>/records/`).\n")

    def _copy(self, files: list[Path], source: Path, target: Path, only: str | None = None,
              replace_differing: bool = False) -> int:
        """Copy ``files`` (under ``source``) that ``target`` lacks, atomically, in order; never overwrite a file,
        unless ``replace_differing`` (an unfinished record's). ``only``: a subfolder to restrict to. Returns how many
        were copied."""
        copied = 0
        for path in files:
            relative = path.relative_to(source)
            if only and relative.parts[0] != only:
                continue
            existing = target / relative
            if existing.exists() and not (replace_differing and existing.read_bytes() != path.read_bytes()):
                continue
            with atomic_path(target / relative) as tmp:
                shutil.copyfile(path, tmp)
            copied += 1
        return copied
