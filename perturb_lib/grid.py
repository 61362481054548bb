"""Run a grid of training configs: in this process one after another (the default), or spread over Ray.

Whatever the backend, results land in the same run records (a run's folder is named by its config hash), a run
that already finished is not repeated, and a run that fails is reported with its config and error while the
others still land.
"""
from __future__ import annotations

import time
import traceback

import numpy as np

from .data.faces import FaceSet
from .execution import Settings
from .runs import Run, run_dir_for
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
             landmarks: np.ndarray | None = None, backend: str = "sequential", address: str | None = None,
             out=print) -> list[Run]:
    """Train every config of a grid, reusing finished runs.

    Args:
        configs: the runs a notebook needs (duplicates are trained once).
        faces: the dataset.
        study_dir: the study folder (records under ``records/``).
        settings: execution settings for every run.
        landmarks: landmarks for policies that need them.
        backend: ``sequential`` (this process) or ``ray``.
        address: Ray cluster address (``None``: start Ray locally). Each Ray task's share of the cluster comes
            from ``PERTURB_RAY_GPUS_PER_RUN`` (e.g. 0.25 packs four small runs on a GPU; default 1 if the cluster
            has GPUs, else 0) and ``PERTURB_RAY_CPUS_PER_RUN`` (default 1).
        out: where progress lines go.

    Returns:
        The runs, in the order of ``configs``.

    Raises:
        GridError: after every other run has finished, if some failed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    settings = settings or Settings()
    unique = list({run_dir_for(c, faces, study_dir, landmarks): c for c in configs}.items())
    done = sum((d / "metrics.json").is_file() for d, _ in unique)
    out(f"grid: {len(unique)} runs, {done} already finished, {len(unique) - done} to train ({backend})")
    if backend == "ray":
        from .grid_ray import run_on_ray
        results = run_on_ray([c for _, c in unique], faces, study_dir, settings, landmarks, address, out)
    else:
        results = []
        t0 = time.time()
        for k, (run_dir, config) in enumerate(unique, 1):
            try:
                results.append(train(config, faces, study_dir, settings, landmarks))
            except Exception:  # noqa: BLE001 - reported with its config below; the other runs go on
                results.append(traceback.format_exc())
            failed = sum(isinstance(r, str) for r in results)
            out(f"grid: {k}/{len(unique)} done, {failed} failed, {time.time() - t0:.0f}s - {run_dir.name}")
    by_dir = {d: r for (d, _), r in zip(unique, results)}
    failures = [(c, by_dir[d]) for d, c in unique if isinstance(by_dir[d], str)]
    runs = [by_dir[run_dir_for(c, faces, study_dir, landmarks)] for c in configs]
    if failures:
        raise GridError(failures, [r if isinstance(r, Run) else None for r in runs])
    return runs


