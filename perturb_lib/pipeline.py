"""The pipeline: run a study - notebooks 00 -> 05 in order with papermill, on a profile.

    python -m perturb_lib.pipeline                       # the cpu profile: synthetic faces, minutes on 2 cores
    python -m perturb_lib.pipeline --profile paper --data /data/fer2013.csv
    python -m perturb_lib.pipeline -p epochs 3 -p seeds '[0]' --only 01_maskfer_degradation

A *study* is one named execution of the notebooks on a profile: its run records, results and executed
notebooks live in ``runs/<study>/``, its figures and tables in ``figures/<study>/``. Executed notebooks land in
``runs/<study>/notebooks/``. A notebook whose source, parameters, library code and upstream notebooks are
unchanged since its last successful run is skipped; a failed notebook is kept (with the error in it) and the
runner says which cell failed. While a notebook runs, its output (training progress lines) is streamed here.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from traitlets.config import Config

from .io import atomic_path, named_runs, read_json, write_json
from .params import NOTEBOOKS, ParameterError, notebook_parameters, parameter_names
from .ledger import Ledger, Publication
from .runs import Study
from .paths import PROJECT_ROOT, resolve

PROFILES_DIR = PROJECT_ROOT / "profiles"
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


class StudyError(RuntimeError):
    """A notebook of the study failed or could not start."""


def load_profile(profile: str) -> dict:
    """Parameters of a profile: a name from ``profiles/`` (cpu, paper, smoke) or a path to a YAML file."""
    path = Path(profile) if profile.endswith((".yaml", ".yml")) else PROFILES_DIR / f"{profile}.yaml"
    path = resolve(path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise StudyError(f"no profile {profile!r} ({path} not found); known profiles: {known}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise StudyError(f"{path}: a profile is a mapping of parameter names to values")
    unknown = sorted(set(values) - parameter_names())
    if unknown:
        raise StudyError(f"{path}: unknown parameter(s) {', '.join(unknown)}")
    return values


def _library_hash() -> str:
    h = hashlib.sha256()
    for p in sorted((PROJECT_ROOT / "perturb_lib").rglob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _input_hash(notebook: str, parameters: dict, upstream: list[str]) -> str:
    h = hashlib.sha256()
    h.update((NOTEBOOK_DIR / f"{notebook}.ipynb").read_bytes())
    h.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    h.update(_library_hash().encode())
    for u in upstream:
        h.update(u.encode())
    return h.hexdigest()[:16]


def _ensure_python3_kernel() -> None:
    """Make the kernel named ``python3`` this interpreter, even if a user-wide kernelspec points elsewhere."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        exe = spec.argv[0]
        same = exe in ("python", "python3", "{python}") or Path(exe).resolve() == Path(sys.executable).resolve()
    except NoSuchKernel:
        same = False
    if same:
        return
    kdir = resolve("runs/.jupyter/kernels/python3")
    kdir.mkdir(parents=True, exist_ok=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (perturb_lib)", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(kdir.parent.parent),
                                                                os.environ.get("JUPYTER_PATH")]))


def study_values(profile: str, study: str | None = None, overrides: dict | None = None, out=print) -> dict:
    """A study's parameters: the profile's, its folders, then ``overrides``.

    A profile that sets ``precision`` pins it for a study whose ledger holds records: they were trained in it, and a
    study reuses them on any machine (bf16 autocast runs on every CPU, only more slowly without AMX or AVX512-BF16).
    An override of the precision there is not applied, and a line says so: a study in another precision is another
    study (``--study <name>``), with runs of its own.
    """
    pinned = load_profile(profile)
    values = dict(pinned)
    study = study or Path(profile).stem
    values.setdefault("study_dir", f"runs/{study}")
    values.setdefault("figures_dir", f"figures/{study}")
    if (overrides or {}).get("data_path") and values.get("dataset", "synthetic") == "synthetic":
        values["dataset"] = "fer2013"
    for k, v in (overrides or {}).items():
        if k not in parameter_names():
            raise StudyError(f"unknown parameter {k!r}; the study's parameters are: {', '.join(sorted(parameter_names()))}")
        values[k] = v
    ledger = resolve(values.get("ledger_dir") or f"{values['figures_dir']}/records")
    if "precision" in pinned and values["precision"] != pinned["precision"] and any(ledger.glob("*/metrics.json")):
        out(f"note: profile {profile} pins precision {pinned['precision']}, the precision of the records in its ledger "
            f"{ledger}; -p precision {values['precision']} is not applied (a study in {values['precision']} is another "
            f"study: name it with --study, and it trains its own runs)")
        values["precision"] = pinned["precision"]
    values.setdefault("progress", "summary")  # one line per training run inside notebooks, unless asked otherwise
    return values


def _fmt(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s" if seconds >= 60 else f"{seconds:.1f}s"


def run_study(profile: str = "cpu", study: str | None = None, overrides: dict | None = None,
              only: list[str] | None = None, force: bool = False, timeout: int | None = None,
              log_output: bool = True, out=print) -> dict:
    """Execute the study's notebooks in order.

    Args:
        profile: profile name (``cpu``, ``fer2013-cpu``, ``paper``, ``smoke``) or a YAML path.
        study: study name; results go to ``runs/<study>/`` and figures to ``figures/<study>/``
            (default: the profile's name).
        overrides: parameter values that replace the profile's (a ``data_path`` with a synthetic profile also
            sets ``dataset='fer2013'``).
        only: run only these notebooks (by name); the others are neither run nor checked.
        force: run even when nothing changed.
        timeout: per-cell execution timeout in seconds (None: no limit).
        log_output: stream the notebooks' output to this terminal while they run.
        out: where progress lines go.

    Returns:
        ``{notebook: {"status": "ran"|"skipped", "seconds": float}}``.
    """
    import papermill as pm

    values = study_values(profile, study, overrides, out)
    study = study or Path(profile).stem
    for name, cls in NOTEBOOKS.items():  # every notebook's parameters are checked before the first one runs
        if not only or name in only:
            try:
                cls.from_values(notebook_parameters(name, values))
            except ParameterError as exc:
                raise StudyError(f"{name}: {exc}") from None
    unknown = [n for n in (only or []) if n not in NOTEBOOKS]
    if unknown:
        raise StudyError(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    study_dir, figures_dir = resolve(values["study_dir"]), resolve(values["figures_dir"])
    selected = selected_names(only)
    redraw = selected == [list(NOTEBOOKS)[-1]] and not _has_results(study_dir) and _has_results(figures_dir)
    if redraw:
        # a fresh clone holds a study's results where they were published, beside its figures, not under runs/:
        # notebook 05 redraws from those (`make figures` on a committed study); nothing is published back, and
        # the timings stay those of the study's last full execution
        out(f"{study_dir} holds no results: notebook 05 redraws from those published in {figures_dir}")
        values["study_dir"], study_dir = values["figures_dir"], figures_dir  # as written: a path the notebook shows
    nb_out = study_dir / "notebooks"
    nb_out.mkdir(parents=True, exist_ok=True)
    _ensure_python3_kernel()
    report, upstream, t_all = {}, [], time.time()
    for k, name in enumerate(selected, 1):
        source = NOTEBOOK_DIR / f"{name}.ipynb"
        if not source.is_file():
            raise StudyError(f"{source} is missing")
        parameters = notebook_parameters(name, values)
        digest = _input_hash(name, parameters, upstream)
        state_path = nb_out / f"{name}.state.json"
        state = read_json(state_path) if state_path.is_file() else {}
        prefix = f"[{k}/{len(selected)}] {name}"
        if not force and state.get("input_hash") == digest and (nb_out / f"{name}.ipynb").is_file():
            out(f"{prefix}: unchanged since {state.get('finished', '?')}, skipped")
            report[name] = {"status": "skipped", "seconds": 0.0}
            upstream.append(digest)
            continue
        out(f"{prefix}: running ... (started {time.strftime('%H:%M:%S')})")
        state_path.unlink(missing_ok=True)  # a notebook that fails now must not look finished
        t0 = time.time()
        target = nb_out / f"{name}.ipynb"
        try:
            pm.execute_notebook(str(source), str(target), parameters=parameters, kernel_name="python3",
                                cwd=str(PROJECT_ROOT), progress_bar=False, execution_timeout=timeout,
                                # what a notebook prints (one line per training run and per grid step) is shown
                                # here as it happens; tables and figures stay in the executed notebook
                                stdout_file=_Indented(sys.stdout) if log_output else None,
                                stderr_file=_Indented(sys.stderr) if log_output else None, config=_KERNEL_CONFIG)
        except pm.PapermillExecutionError as exc:
            raise StudyError(f"{prefix} failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
                             f"{exc.ename}: {exc.evalue}\n  the executed notebook with the error: {target}") from None
        seconds = time.time() - t0
        write_json(state_path, {"input_hash": digest, "parameters": parameters, "seconds": round(seconds, 1),
                                "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
        out(f"{prefix}: done in {_fmt(seconds)}")
        report[name] = {"status": "ran", "seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        upstream.append(digest)
    total = time.time() - t_all
    out(f"study {study!r}: {len(selected)} notebook(s) in {_fmt(total)}; executed notebooks in {nb_out}")
    if redraw:
        return report
    merge_timings(study_dir / "timings.json", report)
    if selected[-1] == list(NOTEBOOKS)[-1]:
        publication = publish(study_dir, values["figures_dir"], values.get("ledger_dir"))
        out(f"study {study!r}: results and executed notebooks published to {resolve(values['figures_dir'])}; its "
            f"ledger: {publication.summary()}")
        from .plan import plan_study  # what a fresh clone's re-execution would do, for the README
        write_json(figures_dir / "plan.json", plan_study(values, study, fresh_clone=True).to_json())
    return report


def _has_results(study_dir: Path) -> bool:
    return any((study_dir / "results").glob("*.json"))


def selected_names(only: list[str] | None) -> list[str]:
    """The notebooks a run of the study executes, in order."""
    return [n for n in NOTEBOOKS if not only or n in only]


def merge_timings(path: Path, report: dict) -> dict:
    """Record how long each notebook took when it last ran: the notebooks that ran now replace their own entries,
    the others (skipped now, or not selected) keep theirs, so running one notebook never loses the others' times.

    Returns:
        ``{"total_seconds": the sum over the notebooks, "notebooks": {name: {"seconds", "finished"}}}``.
    """
    old = read_json(path).get("notebooks", {}) if path.is_file() else {}
    merged = {name: old[name] for name in NOTEBOOKS if name in old}
    for name, entry in report.items():
        if entry["status"] == "ran":
            merged[name] = {"seconds": entry["seconds"], "finished": entry["finished"]}
    merged = {name: merged[name] for name in NOTEBOOKS if name in merged}
    doc = {"total_seconds": round(sum(v["seconds"] for v in merged.values()), 1), "notebooks": merged}
    write_json(path, doc)
    return doc




def publish(study_dir, figures_dir, ledger_dir=None) -> Publication:
    """Publish a study beside its figures, so that ``figures/<study>/`` holds everything a reader needs without the
    run folders: the results objects, the executed notebooks and the timings are replaced by this execution's, and
    the run records the results name join the ledger ``figures/<study>/records`` (:meth:`perturb_lib.ledger.Ledger.add`:
    new records, and new evaluations of records it holds; nothing it holds is rewritten).

    Results and notebooks are assembled in a staging folder beside the target and each part is then swapped into
    place with a rename, so an interruption leaves either the old part or the new one, never a half-deleted mix.

    Args:
        study_dir: the study folder (``runs/<study>``).
        figures_dir: its figures folder.
        ledger_dir: the ledger the study read (default: ``<figures_dir>/records``).

    Returns:
        What happened to each run record the results name.
    """
    src, dst = resolve(study_dir), resolve(figures_dir)
    dst.mkdir(parents=True, exist_ok=True)
    study = Study(src, resolve(ledger_dir) if ledger_dir else dst / "records")
    staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=dst))
    names = set()
    try:
        for path in sorted((src / "results").glob("*")):
            shutil.copyfile(path, _parent(staging / "results" / path.name))
            if path.suffix == ".json":
                names |= named_runs(read_json(path))
        for path in sorted((src / "notebooks").glob("*.ipynb")):
            shutil.copyfile(path, _parent(staging / "notebooks" / path.name))
        publication = Ledger(dst / "records").publish(study, names)
        for part in ("results", "notebooks"):
            (staging / part).mkdir(exist_ok=True)
            old, aside = dst / part, staging / f"old-{part}"
            if old.exists():
                old.rename(aside)  # moved aside, deleted once the new part is in place
            try:
                (staging / part).rename(old)
            except OSError:
                if aside.exists():  # the published part goes back where it was
                    aside.rename(old)
                raise
        if (src / "timings.json").is_file():
            _copy(src / "timings.json", dst / "timings.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return publication


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


# The kernel talks to the runner over local IPC sockets: over TCP, ipykernel warns on every start that the traffic
# is unencrypted (and the warning's own advice is IPC transport).
_KERNEL_CONFIG = Config()
_KERNEL_CONFIG.KernelManager.transport = "ipc"


class _Indented:
    """A text stream that indents every line it passes on: a notebook's printed progress under the runner's own."""

    def __init__(self, stream):
        self.stream, self.fresh = stream, True

    def write(self, text: str) -> int:
        for part in text.splitlines(keepends=True):
            self.stream.write(("    " if self.fresh else "") + part)
            self.fresh = part.endswith("\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _parse_value(text: str):
    """A command-line value as YAML (numbers, lists, null), like papermill's -y."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perturb_lib.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", help="cpu | paper | smoke | path/to/profile.yaml")
    ap.add_argument("--study", help="study name (default: the profile's name)")
    ap.add_argument("--data", help="path to FER2013 (CSV, image folders or .npz)")
    ap.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                    help="override a parameter (value parsed as YAML)")
    ap.add_argument("--only", action="append", help="run only this notebook (repeatable)")
    ap.add_argument("--force", action="store_true", help="run notebooks even when unchanged")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--quiet", action="store_true", help="do not stream notebook output")
    ap.add_argument("--list", action="store_true", help="list notebooks and their parameters, then exit")
    ap.add_argument("--plan", action="store_true", help="list what the study would reuse, load, restore or train "
                    "(with minutes from the records), then exit")
    a = ap.parse_args(argv)
    if a.list:
        for nb, cls in NOTEBOOKS.items():
            print(nb)
            docs = cls.docs()
            for name, default in cls.defaults().items():
                print(f"    {name:<22} {default!r:<24} {docs[name]}")
        return 0
    try:
        overrides = {k: _parse_value(v) for k, v in a.param}
        if a.data:
            overrides["data_path"] = str(Path(a.data).expanduser().resolve())
        if a.plan:
            from .plan import plan_study
            values = study_values(a.profile, a.study, overrides)
            print("\n".join(plan_study(values, a.study or Path(a.profile).stem).lines()))
            return 0
        run_study(a.profile, a.study, overrides, a.only, a.force,
                  a.timeout, log_output=not a.quiet)
    except (StudyError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
