"""The grid runner: the same records from the sequential and the Ray backends; failures reported, others land."""
import json
import time

import pytest

from perturb_lib.execution import Settings
from perturb_lib.grid import GridError, run_grid
from perturb_lib.params import Execution, SchemeOptions
from perturb_lib.runs import StudyContext
from perturb_lib.train import TrainConfig

FAST = TrainConfig(model="vgg16", width=0.0625, dropout=0.0, epochs=1, lr=0.02)
ONE_THREAD = Settings(device="cpu", progress="off", threads=1, precision="fp32")  # Ray tasks get one CPU each: same arithmetic
RAY = Execution(backend="ray")


def configs():
    return [FAST.replace(seed=0), FAST.replace(seed=1), FAST.replace(model="resnet18", seed=0)]


def test_sequential_grid_reuses_and_reports_failures(tmp_path, tiny_faces):
    lines = []
    runs = run_grid(configs()[:2], StudyContext.of(tiny_faces, tmp_path, settings=ONE_THREAD), out=lines.append)
    assert [r.config["seed"] for r in runs] == [0, 1]
    assert "2 runs, 0 in the ledger, 0 already in the study, 2 to train" in lines[0]
    bad = FAST.replace(policy={"kind": "perturb", "phase1": "no-such-run"})
    with pytest.raises(GridError) as info:
        run_grid(configs()[:2] + [bad], StudyContext.of(tiny_faces, tmp_path, settings=ONE_THREAD), out=lines.append)
    assert "1 of 3 runs failed" in str(info.value) and "no-such-run" in str(info.value)
    assert [r is not None for r in info.value.runs] == [True, True, False]
    assert "2 already in the study" in [line for line in lines if "already in the study" in line][-1]


@pytest.mark.slow
def test_ray_grid_matches_sequential_records(tmp_path, tiny_faces):
    ray = pytest.importorskip("ray", reason="the Ray backend needs the cluster extra (part of the dev extra)")
    bad = FAST.replace(seed=7, policy={"kind": "perturb", "phase1": "no-such-run"})
    t0 = time.time()
    sequential = run_grid(configs(), StudyContext.of(tiny_faces, tmp_path / "seq", settings=ONE_THREAD), out=lambda *_: None)
    t_seq = time.time() - t0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        lines = []
        t0 = time.time()
        with pytest.raises(GridError) as info:
            run_grid(configs() + [bad], StudyContext.of(tiny_faces, tmp_path / "ray", settings=ONE_THREAD), grid=RAY, out=lines.append)
        t_ray = time.time() - t0
        # without shared storage (a remote cluster), records travel back and dependencies travel out
        from perturb_lib.experiments.scheme import perturb_config, phase1_config
        phase1 = run_grid([phase1_config(FAST, "vgg16")], StudyContext.of(tiny_faces, tmp_path / "remote", settings=ONE_THREAD),
                          out=lambda *_: None)[0]
        remote = StudyContext.of(tiny_faces, tmp_path / "remote", settings=ONE_THREAD)
        (shipped,) = run_grid([perturb_config(FAST, "vgg16", phase1, SchemeOptions(cluster_sample=32))], remote,
                              grid=Execution(backend="ray", ray_shared_storage=False),
                              out=lines.append)
    finally:
        ray.shutdown()
    assert shipped.finished and shipped.dir.parent == tmp_path / "remote" / "records"
    assert {p.name for p in shipped.dir.iterdir()} >= {"config.json", "metrics.json", "best.pt", "history.csv"}
    assert any("records sent back" in line for line in lines)
    assert "1 of 4 runs failed" in str(info.value) and "no-such-run" in str(info.value)
    landed = info.value.runs[:3]
    assert all(r is not None and r.finished for r in landed) and info.value.runs[3] is None
    for a, b in zip(sequential, landed):
        assert a.name == b.name  # the config hash names the folder, whatever the backend
        assert json.loads((a.dir / "metrics.json").read_text()) == json.loads((b.dir / "metrics.json").read_text())
    assert any("running or queued" in line for line in lines)
    print(f"tiny grid of 3 runs: sequential {t_seq:.1f}s, Ray (2 CPUs, start included) {t_ray:.1f}s")


def test_ray_backend_without_ray_says_how_to_install(monkeypatch, tiny_faces, tmp_path):
    import builtins
    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install -e '.\[cluster\]'"):
        run_grid(configs()[:1], StudyContext.of(tiny_faces, tmp_path, settings=ONE_THREAD), grid=RAY, out=lambda *_: None)
