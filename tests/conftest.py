"""Shared fixtures: tiny synthetic data, an isolated cache and runs folder for every test session."""
import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PERTURB_PROGRESS", "off")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Parsed-data caches go to a temporary folder, never into the user's runs/."""
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("PERTURB_CACHE")
    os.environ["PERTURB_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PERTURB_CACHE", None)
    else:
        os.environ["PERTURB_CACHE"] = old


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
    """A narrow VGG16 with spatial gates, trained briefly (6 epochs, ~30 s) on the 3,589 synthetic faces of the
    CPU default: about 55% test accuracy, enough for its attention to find the expressive regions.

    Returns:
        ``(study_dir, run, faces)``.
    """
    from perturb_lib.data import make_synthetic_faces
    from perturb_lib.train import Settings, TrainConfig, train
    faces = make_synthetic_faces(size=0.1, seed=0)
    study = tmp_path_factory.mktemp("study")
    config = TrainConfig(model="vgg16", width=0.125, dropout=0.0, attention=True, epochs=6, lr=0.02,
                         warmup_epochs=1.0, seed=0)
    return study, train(config, faces, study, Settings(device="cpu", progress="off")), faces
