"""Run a grid of training configs: in this process one after another (the default), or spread over Ray.

Whatever the backend, results land in the same run records (a run's folder is named by its config hash), a run
that already finished is not repeated, and a run that fails is reported with its config and error while the
others still land.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from .params import Execution
from .runs import Run, StudyContext
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


def run_grid(configs: list[TrainConfig], context: StudyContext, *, grid: Execution | None = None, out=print,
             on_finished: Callable[[Run], None] | None = None) -> list[Run]:
    """Train every config of a grid, reusing finished runs (the study's ledger's, or its own).

    Args:
        configs: the runs a notebook needs (duplicates are trained once).
        context: the faces, the study, the landmarks and the settings every run shares.
        grid: where the runs go (:class:`~perturb_lib.params.Execution`: ``backend`` sequential or ray, and the
            Ray address and each task's share); default: sequential, in this process.
        out: where progress lines go.
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
    study, name_of = context.study, context.name
    unique = list({name_of(c): c for c in configs}.items())
    found = {name: study.find(name) for name, _ in unique}
    in_ledger = sum(r is not None and r.in_ledger for r in found.values())
    own = sum(r is not None and not r.in_ledger for r in found.values())
    out(f"grid: {len(unique)} runs, {in_ledger} in the ledger, {own} already in the study, "
        f"{len(unique) - in_ledger - own} to train ({backend})")
    if backend == "ray":  # only what neither the ledger nor the study holds goes to Ray
        from .grid_ray import run_on_ray
        todo = [(n, c) for n, c in unique if found[n] is None]
        trained = dict(zip([n for n, _ in todo], run_on_ray([c for _, c in todo], context, grid, out) if todo else []))
        results = [found[n] if found[n] is not None else trained[n] for n, _ in unique]
        for run in [r for r in results if isinstance(r, Run)] if on_finished else ():
            on_finished(run)
    else:
        results = []
        t0 = time.time()
        for k, (name, config) in enumerate(unique, 1):
            try:
                run = train(config, context)
                if on_finished:  # a failure here fails the run's entry too: what it was for did not happen
                    on_finished(run)
            except Exception:  # noqa: BLE001 - reported with its config below; the other runs go on
                run = traceback.format_exc()
            results.append(run)
            failed = sum(isinstance(r, str) for r in results)
            out(f"grid: {k}/{len(unique)} done, {failed} failed, {time.time() - t0:.0f}s - {name}")
    by_name = {n: r for (n, _), r in zip(unique, results)}
    failures = [(c, by_name[n]) for n, c in unique if isinstance(by_name[n], str)]
    runs = [by_name[name_of(c)] for c in configs]
    if failures:
        raise GridError(failures, [r if isinstance(r, Run) else None for r in runs])
    return runs


