"""Shared fixtures: tiny synthetic data, an isolated cache and runs folder for every test session."""
import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core (pytest-xdist): each computes on one thread, and so do the notebook
    # kernels it starts (they inherit this), so that workers never fight over the cores. Tiny models gain more from
    # two processes than from two threads.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)


# The files that take longest start first. `make test` hands out whole files to the workers in collection order
# (pytest-xdist's `--dist loadfile --no-loadscope-reorder`; its default order, most tests first, started the smoke
# study - a third of the suite's time - after 8 other files and left one worker idle at the end). Second in line is
# the file that trains the shared attention model, so that the files reading it later find it finished; third a
# quick one, so that the smoke study's worker takes little else before the queue is handed out on demand.
SLOW_FIRST = ("test_pipeline.py", "test_saliency.py", "test_structure.py", "test_grid.py", "test_scheme.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


@pytest.fixture(scope="session")
def tiny_faces():
    """About 360 synthetic faces (1% of FER2013's size), generated once per session."""
    from perturb_lib.data import make_synthetic_faces
    return make_synthetic_faces(size=0.01, seed=0)


@pytest.fixture(scope="session")
def small_faces():
    """About 1,400 synthetic faces, for tests that train a model briefly."""
    from perturb_lib.data import make_synthetic_faces
    return make_synthetic_faces(size=0.04, seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def trained_attention(tmp_path_factory):
    """A narrow VGG16 with spatial gates, trained briefly (6 epochs) on the 3,589 synthetic faces of the CPU
    default: about 55 % test accuracy, enough for its attention to find the expressive regions. In the machine's
    own precision (bf16 where it has fast bf16: 26 s instead of 40 s on 2 cores); the tests that use it assert
    what holds in either.

    Returns:
        ``(study_dir, run, faces)``.
    """
    import filelock

    from perturb_lib.data import make_synthetic_faces
    from perturb_lib.runs import StudyContext
    from perturb_lib.train import Settings, TrainConfig, train
    faces = make_synthetic_faces(size=0.1, seed=0)
    # one run for every pytest-xdist worker: the first trains it in a folder they share, the others wait for it
    # and reuse its finished record
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    study = shared / "attention-study"
    config = TrainConfig(model="vgg16", width=0.125, dropout=0.0, attention=True, epochs=6, lr=0.02,
                         warmup_epochs=1.0, seed=0)
    with filelock.FileLock(str(shared / "attention-study.lock")):
        run = train(config, StudyContext.of(faces, study, settings=Settings(device="cpu", progress="off")))
    return study, run, faces


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory):
    """The smoke profile through all six notebooks, once per test session, with one seed (as the paper profile
    runs): every test that needs executed notebooks or their results reads this one study (and copies it before
    changing anything).

    Returns:
        ``(root, report, lines)``: ``root/study`` and ``root/figures`` hold the study; ``report`` is what
        :func:`perturb_lib.pipeline.run_study` returned and ``lines`` what it printed.
    """
    from perturb_lib.pipeline import run_study
    root = tmp_path_factory.mktemp("smoke")
    lines = []
    report = run_study("smoke", overrides={"study_dir": str(root / "study"), "figures_dir": str(root / "figures"),
                                           "cache_dir": str(root / "cache"), "seeds": [0]},
                       log_output=False, out=lines.append)
    return root, report, lines
