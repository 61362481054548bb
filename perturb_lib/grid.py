"""Run a grid of training configs: in this process one after another (the default), or spread over Ray.

Whatever the backend, results land in the same run records (a run's folder is named by its config hash), a run
that already finished is not repeated, and a run that fails is reported with its config and error while the
others still land.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable

import numpy as np

from .data.faces import FaceSet
from .execution import Settings
from .params import Execution
from .runs import Run, adopt, run_dir_for
from .train import TrainConfig, train

BACKENDS = ("sequential", "ray")


class GridError(RuntimeError):
    """Some runs of a grid failed; ``failures`` holds (config, error text) pairs, ``runs`` the others."""

    def __init__(self, failures: list[tuple[TrainConfig, str]], runs: list[Run | None]):
        self.failures, self.runs = failures, runs
        lines = [f"{len(failures)} of {len(runs)} runs failed:"]
        for config, err in failures:
            lines.append(f"  - {config.model} seed {config.seed} policy {config.policy}: {err.strip().splitlines()[-1]}")
        super().__init__("\n".join(lines))


def run_grid(configs: list[TrainConfig], faces: FaceSet, study_dir, settings: Settings | None = None,
             landmarks: np.ndarray | None = None, grid: Execution | None = None, out=print,
             ledger: str | None = None, on_finished: Callable[[Run], None] | None = None) -> list[Run]:
    """Train every config of a grid, reusing finished runs.

    Args:
        configs: the runs a notebook needs (duplicates are trained once).
        faces: the dataset.
        study_dir: the study folder (records under ``records/``).
        settings: execution settings for every run.
        landmarks: landmarks for policies that need them.
        grid: where the runs go (:class:`~perturb_lib.params.Execution`: ``backend`` sequential or ray, and the
            Ray address and each task's share); default: sequential, in this process.
        out: where progress lines go.
        ledger: finished records to reuse before training (:func:`perturb_lib.train.train`).
        on_finished: called in this process with each run as soon as it has finished (trained, or reused), before
            the next one trains: a ledger grower publishes it there, so that a sitting cut short keeps every run it
            finished (with the Ray backend: once all have).

    Returns:
        The runs, in the order of ``configs``.

    Raises:
        GridError: after every other run has finished, if some failed.
    """
    grid = grid or Execution()
    backend = grid.backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    settings = settings or Settings()
    unique = list({run_dir_for(c, faces, study_dir, landmarks, settings): c for c in configs}.items())
    done = sum((d / "metrics.json").is_file() for d, _ in unique)
    # finished records of the ledger are copied in here, by the driver, whatever the backend
    kept = sum(not (d / "metrics.json").is_file() and not (d / "last.pt").is_file() and adopt(d, ledger)
               for d, _ in unique)
    out(f"grid: {len(unique)} runs, {done} already finished, {kept} reused from the ledger, "
        f"{len(unique) - done - kept} to train ({backend})")
    if backend == "ray":
        from .grid_ray import run_on_ray
        results = run_on_ray([c for _, c in unique], faces, study_dir, settings, landmarks, grid, out)
        for run in [r for r in results if isinstance(r, Run)] if on_finished else ():
            on_finished(run)
    else:
        results = []
        t0 = time.time()
        for k, (run_dir, config) in enumerate(unique, 1):
            try:
                run = train(config, faces, study_dir, settings, landmarks)
                if on_finished:  # a failure here fails the run's entry too: what it was for did not happen
                    on_finished(run)
            except Exception:  # noqa: BLE001 - reported with its config below; the other runs go on
                run = traceback.format_exc()
            results.append(run)
            failed = sum(isinstance(r, str) for r in results)
            out(f"grid: {k}/{len(unique)} done, {failed} failed, {time.time() - t0:.0f}s - {run_dir.name}")
    by_dir = {d: r for (d, _), r in zip(unique, results)}
    failures = [(c, by_dir[d]) for d, c in unique if isinstance(by_dir[d], str)]
    runs = [by_dir[run_dir_for(c, faces, study_dir, landmarks, settings)] for c in configs]
    if failures:
        raise GridError(failures, [r if isinstance(r, Run) else None for r in runs])
    return runs


