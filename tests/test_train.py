"""The training engine: metrics, augmentation, determinism, resume after a kill, reuse, atomic records."""
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, recall_score

from perturb_lib import augment
from perturb_lib.metrics import classification_metrics
from perturb_lib.evaluate import evaluate_run
from perturb_lib.execution import Settings
from perturb_lib.runs import RunBusyError, RunLock, find_runs, load_run, run_dir_for
from perturb_lib.train import TrainConfig, train

FAST = dict(model="vgg16", width=0.0625, dropout=0.0, epochs=3, batch_size=64, lr=0.05)
CPU = Settings(device="cpu", progress="off")


# ------------------------------------------------------------------------------------------ metrics
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 7, 300)
    y_true[y_true == 1] = 2  # class 1 absent from the truth ...
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 7, 300))  # ... but sometimes predicted
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    recall = recall_score(y_true, y_pred, labels=[0, 2, 3, 4, 5, 6], average=None)
    np.testing.assert_allclose(np.array(m["per_class_recall"])[[0, 2, 3, 4, 5, 6]], recall)
    assert np.isnan(m["per_class_recall"][1])
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(y_true, y_pred, labels=range(7)))


# ------------------------------------------------------------------------------------- augmentation
def test_batched_crop_equals_per_sample_slicing():
    x = torch.rand(16, 1, 48, 48)
    out = augment.random_crop(x, 48, 4, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    # find each sample's offset and check the crop is exactly that window of the padded image
    for i in range(16):
        hits = [(dy, dx) for dy in range(9) for dx in range(9) if torch.equal(padded[i, 0, dy:dy + 48, dx:dx + 48], out[i, 0])]
        assert hits, i
    assert out.shape == x.shape


def test_flip_erasing_and_ten_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 48, 48)
    flipped = augment.random_flip(x, g)
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and 0.3 < mirrored.float().mean() < 0.7
    erased = augment.random_erasing(x, 0.5, g)
    changed = (erased != x).flatten(1).float().mean(1)
    assert 0.3 < (changed > 0).float().mean() < 0.7
    assert changed.max() < 0.4  # at most a third of the image, as in Zhong et al.
    assert augment.ten_crop(x[:3], 40).shape == (30, 1, 40, 40)
    assert augment.ten_crop(x[:3], 48).shape == (30, 1, 48, 48)
    out = augment.train_augment(x[:8], g, input_size=40, crop="resized")
    assert out.shape == (8, 1, 40, 40) and out.min() >= 0 and out.max() <= 1


# ------------------------------------------------------------------------------------------ training
def test_training_is_deterministic_and_learns(tmp_path, tiny_faces):
    a = train(TrainConfig(**FAST), tiny_faces, tmp_path / "a", CPU)
    b = train(TrainConfig(**FAST), tiny_faces, tmp_path / "b", CPU)
    assert a.metrics == b.metrics
    for (ka, va), (kb, vb) in zip(a.model().state_dict().items(), b.model().state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    hist = a.history
    assert list(hist.epoch) == [1, 2, 3]
    assert hist.train_loss.iloc[-1] < hist.train_loss.iloc[0]
    assert set(a.metrics) >= {"val", "test", "best_epoch"}
    assert a.metrics["test"]["n"] == int((tiny_faces.splits == 2).sum())
    for name in ("config.json", "metrics.json", "history.csv", "best.pt", "last.pt", "env.json"):
        assert (a.dir / name).is_file(), name
    assert not (a.dir / ".lock").exists()


@pytest.mark.parametrize("schedule", ["plateau", "onecycle"])
def test_resume_after_kill_gives_identical_metrics(tmp_path, tiny_faces, schedule):
    config = TrainConfig(**{**FAST, "epochs": 4, "lr_schedule": schedule})
    reference = train(config, tiny_faces, tmp_path / "ref", CPU)

    class Killed(Exception):
        pass

    def kill_after_second_epoch(epoch, row):
        if epoch == 1:
            raise Killed
    with pytest.raises(Killed):
        train(config, tiny_faces, tmp_path / "resumed", CPU, callbacks=(kill_after_second_epoch,))
    run_dir = run_dir_for(config, tiny_faces, tmp_path / "resumed")
    assert (run_dir / "last.pt").is_file() and not (run_dir / "metrics.json").exists()
    assert find_runs(tmp_path / "resumed") == []  # a killed run never looks finished
    epochs_run = []
    resumed = train(config, tiny_faces, tmp_path / "resumed", CPU, callbacks=(lambda e, r: epochs_run.append(e),))
    assert epochs_run == [2, 3]  # it continued, it did not start over
    assert resumed.metrics["val"] == reference.metrics["val"]
    assert resumed.metrics["test"] == reference.metrics["test"]
    assert resumed.history.drop(columns=["train_seconds", "images_per_s"]).equals(
        reference.history.drop(columns=["train_seconds", "images_per_s"]))


def test_finished_run_is_reused_not_retrained(tmp_path, tiny_faces, monkeypatch):
    first = train(TrainConfig(**FAST), tiny_faces, tmp_path, CPU)
    import perturb_lib.train as train_mod
    monkeypatch.setattr(train_mod, "build_model", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = train(TrainConfig(**FAST), tiny_faces, tmp_path, CPU)
    assert again.dir == first.dir and again.metrics == first.metrics
    other = TrainConfig(**{**FAST, "seed": 1})
    assert run_dir_for(other, tiny_faces, tmp_path) != first.dir  # another config, another folder


def test_run_lock_refuses_a_live_owner(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / ".lock").write_text("1")  # pid 1 is always alive
    with pytest.raises(RunBusyError, match="being trained by process 1"):
        with RunLock(run_dir):
            pass
    (run_dir / ".lock").write_text("999999999")  # a dead owner's lock is taken over
    with RunLock(run_dir):
        assert (run_dir / ".lock").read_text() != "999999999"
    assert not (run_dir / ".lock").exists()


def test_load_run_and_evaluate_on_another_split(tmp_path, tiny_faces):
    run = train(TrainConfig(**FAST), tiny_faces, tmp_path, CPU)
    back = load_run(run.name, tmp_path)
    assert back.config == json.loads((run.dir / "config.json").read_text())
    val = evaluate_run(back, tiny_faces, split="PublicTest", settings=CPU)
    assert val["accuracy"] == pytest.approx(run.metrics["val"]["accuracy"])
    assert len(list((run.dir / "evals").glob("*.npz"))) == 1


def test_lr_schedules_warm_up_then_decay_by_the_global_step():
    from perturb_lib.train import lr_factor
    onecycle = TrainConfig(epochs=4, warmup_epochs=1.0, lr_schedule="onecycle")
    assert [lr_factor(onecycle, s, 10) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])  # warm-up: 1/10 ...
    assert lr_factor(onecycle, 10, 10) == pytest.approx(1.0) and lr_factor(onecycle, 25, 10) == pytest.approx(0.5)
    assert lr_factor(onecycle, 39, 10) == pytest.approx(1 / 30)  # almost 0 at the last step
    cosine = onecycle.replace(lr_schedule="cosine")
    assert lr_factor(cosine, 25, 10) == pytest.approx(0.5) and lr_factor(cosine, 17, 10) > lr_factor(onecycle, 17, 10)
    assert lr_factor(TrainConfig(epochs=4, warmup_epochs=1.0), 30, 10) == 1.0  # plateau: the scheduler decides
    with pytest.raises(ValueError, match="'lr_schedule': 'step' is not valid"):
        TrainConfig(lr_schedule="step")


def test_config_rejects_testing_on_the_validation_split():
    with pytest.raises(ValueError, match="never chosen on the test split"):
        TrainConfig(val_split="PrivateTest", test_split="PrivateTest")


def test_two_spellings_of_one_run_share_one_hash(tmp_path, tiny_faces):
    """The README writes a masked run without the mask's seed; the MaskFer experiment spells it out."""
    readme = TrainConfig(model="vgg16", policy={"kind": "mask", "style": "n95"})
    experiment = TrainConfig(**{**{f: getattr(readme, f) for f in ("model", "width", "epochs")},
                                "policy": {"kind": "mask", "style": "n95", "seed": 0}})
    assert readme == experiment
    assert run_dir_for(readme, tiny_faces, tmp_path) == run_dir_for(experiment, tiny_faces, tmp_path)
    assert run_dir_for(readme.replace(seed=1), tiny_faces, tmp_path) != run_dir_for(readme, tiny_faces, tmp_path)
    assert TrainConfig(model="resnet18", dropout=0.3) == TrainConfig(model="resnet18", dropout=0.0)  # no dropout layer


def test_default_config_is_the_cpu_recipe():
    from perturb_lib.params import Recipe
    config = TrainConfig()
    assert {k: getattr(config, k) for k in Recipe.defaults()} == Recipe.defaults()
    assert (config.width, config.epochs, config.lr, config.dropout) == (0.125, 10, 0.02, 0.0)
