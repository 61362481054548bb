"""The Ray backend of :func:`perturb_lib.grid.run_grid`: each training run is a Ray task with its CPU/GPU share.

Local by default (``ray.init()`` on this machine); give ``address`` (``ray://host:10001`` or ``host:6379``) to use
a cluster started with Ray's own CLI (``ray start --head`` / ``ray start --address=...``). With shared storage
(always the case locally) tasks write their records straight into ``<study>/records``; without it
(``ray_shared_storage=False``, the default for a remote address) each task trains in a scratch folder and
sends its record back, and the runs a task depends on (a Perturb run's phase-1 run) are sent to it.
"""
from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

from .data.faces import FaceSet
from .execution import Settings
from .io import atomic_write_bytes
from .params import Execution
from .runs import Run, Study, StudyContext
from .train import TrainConfig, train, with_checkpoint

INSTALL_HINT = "Ray is not installed: `pip install -e '.[cluster]'` (the dev extra used by `make test` includes it)"


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


def _pack(run_dir: Path) -> dict[str, bytes]:
    """A run folder's files as bytes, to travel between a Ray task and the driver (not a copy of a record into a
    ledger: that is :mod:`perturb_lib.ledger`'s)."""
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and not p.name.startswith(".")}


def _unpack(files: dict[str, bytes], run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == "metrics.json"):  # metrics.json last: it marks "finished"
        atomic_write_bytes(run_dir / name, files[name])


def _train_task(config: dict, faces: FaceSet, study: Study | None, settings: dict, landmarks,
                dependencies: dict[str, dict[str, bytes]]):
    """Body of one Ray task: train (or reuse) a run; return its folder, or its files when storage is not shared."""
    shipped = study is None
    study = Study(Path(tempfile.mkdtemp(prefix="perturb-ray-"))) if shipped else study
    for name, files in dependencies.items():
        if not (study.records / name / "metrics.json").is_file():
            _unpack(files, study.records / name)
    run = train(TrainConfig(**config), StudyContext(faces, study, landmarks, Settings(**settings)))
    return _pack(run.dir) if shipped else str(run.dir)


def run_on_ray(configs: list[TrainConfig], context: StudyContext, grid: Execution, out) -> list:
    """Run every config as a Ray task; returns a :class:`Run` or a traceback text per config.

    Each task's share comes from ``grid.ray_cpus_per_run`` and ``grid.ray_gpus_per_run``; records travel back to
    the driver unless ``grid.ray_shared_storage`` says storage is shared (the default for a local Ray).
    """
    ray = _import_ray()
    faces, study, landmarks, settings = context.faces, context.study, context.landmarks, context.settings
    address = grid.ray_address
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 configure_logging=False)
    resources = ray.cluster_resources()
    has_gpu = resources.get("GPU", 0) > 0
    gpus = grid.ray_gpus_per_run if grid.ray_gpus_per_run is not None else (1.0 if has_gpu else 0.0)
    cpus = grid.ray_cpus_per_run
    shared_storage = (grid.ray_shared_storage if grid.ray_shared_storage is not None
                      else address in (None, "", "local"))
    # every task computes in the driver's precision, so its record lands under the name the driver expects
    settings_dict = asdict(replace(settings, device="cuda" if gpus > 0 else "cpu", progress="off", threads=cpus,
                                   precision=settings.resolved_precision()))
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=1)(_train_task)
    faces_ref, lm_ref = ray.put(faces), ray.put(landmarks)
    out(f"grid on Ray: {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs; each run gets "
        f"{cpus} CPU(s) and {gpus:g} GPU; records {'written in place' if shared_storage else 'sent back'}")
    pending, results = {}, [None] * len(configs)
    for i, config in enumerate(configs):
        deps = {}
        policy = config.policy or {}
        if not shared_storage and policy.get("kind") == "perturb":  # its phase-1 run travels with it
            phase1 = study.run(policy["phase1"])
            if not phase1.has_checkpoint:  # its model must travel: a record alone, or a restore cut short, will not do
                phase1 = with_checkpoint(phase1, context)
            deps[phase1.name] = {**_pack(phase1.dir), **({"best.pt": (phase1.work / "best.pt").read_bytes()}
                                                          if (phase1.work / "best.pt").is_file() else {})}
        ref = task.remote(asdict(config), faces_ref, study if shared_storage else None, settings_dict, lm_ref, deps)
        pending[ref] = i
    t0, done, failed, last = time.time(), 0, 0, 0.0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
        for ref in ready:
            i = pending.pop(ref)
            target = context.run_dir(configs[i])
            try:
                value = ray.get(ref)
                if isinstance(value, dict):
                    _unpack(value, target)
                results[i] = study.find(target.name) or Run(target, study)
                done += 1
            except Exception as exc:  # noqa: BLE001 - reported with its config; the other runs go on
                cause = getattr(exc, "cause", None)
                results[i] = "".join(traceback.format_exception(cause)) if cause is not None else str(exc)
                failed += 1
            out(f"grid: {done} done, {len(pending)} running or queued, {failed} failed, {time.time() - t0:.0f}s "
                f"- {target.name}")
            last = time.time()
        if not ready and time.time() - last > 60:
            out(f"grid: {done} done, {len(pending)} running or queued, {failed} failed, {time.time() - t0:.0f}s")
            last = time.time()
    return results
