"""The training engine: metrics, augmentation, determinism, resume after a kill, reuse, atomic records."""
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, recall_score

from perturb_lib import augment
from perturb_lib.metrics import classification_metrics
from perturb_lib.evaluate import run_logits
from perturb_lib.execution import Settings
from perturb_lib.runs import CheckpointError, RunBusyError, RunLock, StudyContext, load_run
from perturb_lib.train import TrainConfig, train

FAST = dict(model="vgg16", width=0.0625, dropout=0.0, epochs=3, batch_size=64, lr=0.05)
CPU = Settings(device="cpu", progress="off", precision="fp32")


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
    counts = np.bincount(y_pred, minlength=7)
    assert m["top_prediction"] == counts.argmax() and m["top_prediction_share"] == counts.max() / 300


def test_a_run_predicting_one_class_for_most_faces_is_flagged_collapsed():
    from perturb_lib.metrics import collapsed
    y_true = np.arange(10) % 5  # two faces of each of five classes
    assert collapsed(classification_metrics(y_true, [3] * 6 + [0, 1, 2, 4]))  # 6 of 10 on one class
    assert not collapsed(classification_metrics(y_true, [3] * 5 + [0, 1, 2, 4, 0]))  # half is not more than half


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
    a = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path / "a", settings=CPU))
    b = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path / "b", settings=CPU))
    assert a.metrics == b.metrics
    for (ka, va), (kb, vb) in zip(a.model().state_dict().items(), b.model().state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    hist = a.history
    assert list(hist.epoch) == [1, 2, 3]
    assert hist.train_loss.iloc[-1] < hist.train_loss.iloc[0]
    assert set(a.metrics) >= {"val", "test", "best_epoch"}
    assert a.metrics["test"]["n"] == int((tiny_faces.splits == 2).sum())
    for name in ("config.json", "metrics.json", "history.csv", "best.pt", "last.pt", "env.json", "logits.npz"):
        assert (a.dir / name).is_file(), name
    assert not (a.dir / ".lock.owner").exists()  # the lock is released (its file may stay: it is the OS's lock)


@pytest.mark.parametrize("schedule", ["plateau", "onecycle"])
def test_resume_after_kill_gives_identical_metrics(tmp_path, tiny_faces, schedule, monkeypatch):
    import perturb_lib.train as train_mod
    config = TrainConfig(**{**FAST, "epochs": 4, "lr_schedule": schedule})
    reference = train(config, StudyContext.of(tiny_faces, tmp_path / "ref", settings=CPU))

    class Killed(Exception):
        pass

    real, epochs_run = train_mod.evaluate_and_checkpoint, []

    def checkpoint_then_maybe_die(ctx, state, epoch, row, kill_at=None):
        row = real(ctx, state, epoch, row)  # the epoch's checkpoint is written, then the process dies
        epochs_run.append(epoch)
        if epoch == kill_at:
            raise Killed
        return row
    monkeypatch.setattr(train_mod, "evaluate_and_checkpoint",
                        lambda *a: checkpoint_then_maybe_die(*a, kill_at=1))
    with pytest.raises(Killed):
        train(config, StudyContext.of(tiny_faces, tmp_path / "resumed", settings=CPU))
    run_dir = StudyContext.of(tiny_faces, tmp_path / "resumed", settings=CPU).run_dir(config)
    assert (run_dir / "last.pt").is_file() and not (run_dir / "metrics.json").exists()
    assert not load_run(run_dir).finished  # a killed run never looks finished
    monkeypatch.setattr(train_mod, "evaluate_and_checkpoint", checkpoint_then_maybe_die)
    epochs_run.clear()
    resumed = train(config, StudyContext.of(tiny_faces, tmp_path / "resumed", settings=CPU))
    assert epochs_run == [2, 3]  # it continued, it did not start over
    assert resumed.metrics["val"] == reference.metrics["val"]
    assert resumed.metrics["test"] == reference.metrics["test"]
    assert resumed.history.drop(columns=["train_seconds", "images_per_s"]).equals(
        reference.history.drop(columns=["train_seconds", "images_per_s"]))
    # the record says its wall time covers the last sitting only (epochs 3-4 of 4), and an unbroken run says nothing
    assert resumed.env["resumed_at_epoch"] == 2 and "resumed_at_epoch" not in reference.env


def test_finished_run_is_reused_not_retrained(tmp_path, tiny_faces, monkeypatch):
    first = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    import perturb_lib.train as train_mod
    monkeypatch.setattr(train_mod, "build_model", lambda *a, **k: pytest.fail("retrained a finished run"))
    again = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    assert again.dir == first.dir and again.metrics == first.metrics
    other = TrainConfig(**{**FAST, "seed": 1})
    assert StudyContext.of(tiny_faces, tmp_path, settings=CPU).run_dir(other) != first.dir  # another config, another folder


def test_run_lock_refuses_a_live_owner_and_names_its_host(tmp_path):
    import socket
    import subprocess
    import sys
    run_dir = tmp_path / "r"
    with RunLock(run_dir):  # held here: a second lock on the same folder is refused, naming this host and pid
        with pytest.raises(RunBusyError, match=f"process {os.getpid()} on host {socket.gethostname()}"):
            with RunLock(run_dir):
                pass
    # held by another process: refused while it lives, free once it is gone (the OS releases a dead owner's lock)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from perturb_lib.runs import RunLock\n"
                               f"with RunLock({str(run_dir)!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusyError, match=f"process {holder.pid}"):
            with RunLock(run_dir):
                pass
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run_dir):  # a killed owner left no stale lock behind
        assert json.loads((run_dir / ".lock.owner").read_text())["pid"] == os.getpid()
    assert not (run_dir / ".lock.owner").exists()


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path, tiny_faces):
    run = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    best = torch.load(run.dir / "best.pt", weights_only=True)  # what the project writes loads safely
    best["note"] = Pickled()  # a shared run folder whose checkpoint carries an object (it could run code)
    torch.save(best, run.dir / "best.pt")
    with pytest.raises(CheckpointError, match=r"best\.pt: refused to load"):
        run.model()
    with pytest.raises(CheckpointError, match="refused to load"):
        run_logits(run, tiny_faces, policy={"kind": "clean"}, split="PublicTest", settings=CPU)


class Pickled:
    """Any object: ``weights_only=False`` would unpickle (and could run) it."""


def test_ema_and_flip_test_time_augmentation(tmp_path, tiny_faces):
    from perturb_lib.evaluate import predict
    from perturb_lib.policies import make_policy, split_tensors
    ema = train(TrainConfig(**{**FAST, "ema": 0.9}), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    plain = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    assert ema.dir != plain.dir and ema.history.train_loss.tolist() == plain.history.train_loss.tolist()  # same path
    kept = ema.checkpoint()["model"], plain.checkpoint()["model"]  # ... but the average is validated and kept
    assert not all(torch.equal(kept[0][k], kept[1][k]) for k in kept[1])
    model = plain.model()
    split = split_tensors(tiny_faces, "PublicTest", "cpu")
    x = split.batch(torch.arange(len(split)))
    from perturb_lib.images import normalize
    with torch.no_grad():
        by_hand = (model(normalize(x)) + model(normalize(x.flip(-1)))) / 2
    flip = predict(model, split, make_policy({"kind": "clean"}), TrainConfig(tta="flip"), CPU, torch.device("cpu"))
    torch.testing.assert_close(flip, by_hand)


def test_a_ledger_record_is_read_in_place_and_its_model_retrained_beside_it_only_when_loaded(tmp_path, tiny_faces,
                                                                                            monkeypatch):
    import perturb_lib.train as train_mod
    from perturb_lib.runs import CheckpointMissingError, Study
    from perturb_lib.train import with_checkpoint
    config = TrainConfig(**FAST)
    original = train(config, StudyContext.of(tiny_faces, tmp_path / "made", settings=CPU))
    ledger = copy_record(original, tmp_path / "ledger")  # what a study publishes: the record, no checkpoint
    study = Study(tmp_path / "fresh", ledger)
    with monkeypatch.context() as m:
        m.setattr(train_mod, "build_model", lambda *a, **k: pytest.fail("trained a run the ledger holds"))
        reused = train(config, StudyContext.of(tiny_faces, study, settings=CPU))
    assert reused.dir == ledger / original.name and reused.in_ledger and not reused.has_checkpoint
    assert reused.metrics == original.metrics and not (tmp_path / "fresh").exists()  # read in place, nothing copied
    logits, labels = run_logits(reused, tiny_faces, settings=CPU)  # the tables need no model
    assert classification_metrics(labels, logits.argmax(1)) == original.metrics["test"]
    with pytest.raises(CheckpointMissingError, match="neither published"):
        reused.model()
    before = {p.name: p.read_bytes() for p in reused.dir.iterdir()}
    restored = with_checkpoint(reused, StudyContext.of(tiny_faces, study, settings=CPU))  # a model must be loaded: trained again, beside the record
    assert restored.dir == reused.dir and restored.has_checkpoint and restored.restored
    assert (study.records / original.name / "best.pt").is_file()
    assert {p.name: p.read_bytes() for p in reused.dir.iterdir()} == before  # the record is untouched
    with pytest.raises(ValueError, match="make another run"):
        (restored.work / "best.pt").unlink()
        with_checkpoint(restored, StudyContext.of(make_other(tiny_faces), study, settings=CPU))


def test_a_checkpoint_is_restored_with_the_threads_and_memory_format_its_record_names(tmp_path, tiny_faces):
    from perturb_lib.execution import recorded_execution
    from perturb_lib.runs import Run, Study
    from perturb_lib.train import with_checkpoint
    config = TrainConfig(**FAST)
    recorded = replace(CPU, threads=1, channels_last="off")
    original = train(config, StudyContext.of(tiny_faces, tmp_path / "made", settings=recorded))
    assert recorded_execution(original.env) == {"threads": 1, "channels_last": "off"}
    study = Study(tmp_path / "fresh", copy_record(original, tmp_path / "ledger"))
    reused = train(config, StudyContext.of(tiny_faces, study, settings=CPU))
    before = torch.get_num_threads()
    # this session asks for 2 threads and channels-last: the record's 1 thread and plain layout win
    restored = with_checkpoint(reused, StudyContext.of(tiny_faces, study, settings=replace(CPU, threads=2, channels_last="on")))
    work = Run(restored.work)
    assert restored.has_checkpoint and work.env["threads"] == 1 and work.env["channels_last"] is False
    assert work.metrics == original.metrics  # the same machine and software: the same model
    assert torch.get_num_threads() == before
    # a retraining cut short (no metrics yet, but a best.pt of some epoch): resumed, still as recorded, not taken as is
    (restored.work / "metrics.json").unlink()
    assert not Run(reused.dir, study).has_checkpoint
    resumed = with_checkpoint(Run(reused.dir, study),
                              StudyContext.of(tiny_faces, study, settings=replace(CPU, threads=2, channels_last="on")))
    assert Run(resumed.work).env["threads"] == 1 and Run(resumed.work).metrics == original.metrics
    assert recorded_execution({}) == {} and recorded_execution({"device": "cuda:0", "threads": 4}) == {}


def test_a_published_record_opened_without_a_study_of_its_own_is_read_only(tmp_path, tiny_faces):
    """A Run made from a ledger's folder alone would write into the record itself: retraining and evaluations refuse,
    and the record stays byte for byte; opened through a study, the same record is evaluated in the study's folder."""
    from perturb_lib.ledger import Ledger
    from perturb_lib.runs import Run, Study
    from perturb_lib.train import with_checkpoint
    made = StudyContext.of(tiny_faces, tmp_path / "made", settings=CPU)
    original = train(TrainConfig(**FAST), made)
    ledger = Ledger(tmp_path / "figures" / "records")
    assert ledger.add(original) == "new" and (ledger.path / "LEDGER.md").is_file()
    ledger.publish_model(original, made)
    bare = Run(ledger.path / original.name)  # no study: its work folder would be the record itself
    before = {p.name: p.read_bytes() for p in bare.dir.rglob("*") if p.is_file()}
    with pytest.raises(PermissionError, match="a published record, opened without a study of its own"):
        run_logits(bare, tiny_faces, policy={"kind": "clean"}, split="PublicTest", settings=CPU)
    (bare.dir / "model.safetensors").rename(tmp_path / "model")  # unpublished: a model must be trained again
    with pytest.raises(PermissionError, match="nothing may be written into its ledger"):
        with_checkpoint(bare, StudyContext.of(tiny_faces, tmp_path / "fresh", settings=CPU))
    (tmp_path / "model").rename(bare.dir / "model.safetensors")
    assert {p.name: p.read_bytes() for p in bare.dir.rglob("*") if p.is_file()} == before
    study = Study(tmp_path / "fresh", ledger.path)
    run_logits(study.find(original.name), tiny_faces, policy={"kind": "clean"}, split="PublicTest", settings=CPU)
    assert list((tmp_path / "fresh" / "records" / original.name / "evals").glob("*.npz"))
    assert {p.name: p.read_bytes() for p in bare.dir.rglob("*") if p.is_file()} == before


def copy_record(run, ledger_dir):
    """Publish a run's record (no checkpoint) into a ledger folder, as a study does; returns the ledger folder."""
    from perturb_lib.ledger import Ledger
    assert Ledger(ledger_dir).add(run) == "new"
    assert not list((ledger_dir / run.name).glob("*.pt"))
    return ledger_dir


def make_other(faces):
    """The same faces with one label changed: another data fingerprint."""
    from perturb_lib.data import FaceSet
    labels = faces.labels.copy()
    labels[0] = (labels[0] + 1) % 7
    return FaceSet(faces.images, labels, faces.splits, faces.ids, name=faces.name, landmarks=faces.landmarks)


def test_load_run_and_evaluate_on_another_split(tmp_path, tiny_faces):
    run = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    back = load_run(run.name, tmp_path)
    assert back.config == json.loads((run.dir / "config.json").read_text())
    recorded, labels = run_logits(back, tiny_faces, split="PublicTest", settings=CPU)  # the record's own logits
    assert not (run.dir / "evals").exists()
    assert classification_metrics(labels, recorded.argmax(1)) == {**run.metrics["val"]}
    (run.dir / "best.pt").unlink()  # tables need no checkpoint for the run's own test faces
    test, _ = run_logits(back, tiny_faces, settings=CPU)
    assert classification_metrics(tiny_faces.labels[tiny_faces.splits == 2], test.argmax(1)) == run.metrics["test"]
    evaluated, _ = run_logits(train(TrainConfig(**{**FAST, "seed": 1}), StudyContext.of(tiny_faces, tmp_path, settings=CPU)), tiny_faces,
                              policy={"kind": "clean"}, split="PublicTest", settings=CPU)
    assert evaluated.dtype == np.float32


def test_stored_evaluations_are_keyed_by_what_they_computed_and_the_evaluation_version(tmp_path, tiny_faces,
                                                                                        monkeypatch):
    """An edit to the code (here: predict replaced) keeps a stored evaluation, which names what was computed, not the
    code; bumping EVAL_VERSION (what the golden test asks for when outputs change) computes it again."""
    from perturb_lib import evaluate as ev
    run = train(TrainConfig(**FAST), StudyContext.of(tiny_faces, tmp_path, settings=CPU))
    clean = {"kind": "clean"}  # given explicitly: evaluated (and stored), not read from the record
    first, labels = ev.run_logits(run, tiny_faces, policy=clean, split="PublicTest", settings=CPU)
    stored = list((run.dir / "evals").glob("*.npz"))
    assert len(stored) == 1
    key = ev.read_evaluation(stored[0])["key"]
    assert key["policy"] == clean and key["split"] == "PublicTest" and key["eval_version"] == ev.EVAL_VERSION
    real = ev.predict
    monkeypatch.setattr(ev, "predict", lambda *a, **k: real(*a, **k) + 1.0)  # predict is edited
    again, _ = ev.run_logits(run, tiny_faces, policy=clean, split="PublicTest", settings=CPU)
    np.testing.assert_array_equal(again, first)  # read back, not computed again
    monkeypatch.setattr(ev, "EVAL_VERSION", ev.EVAL_VERSION + 1)  # the version bumped: computed again
    edited, _ = ev.run_logits(run, tiny_faces, policy=clean, split="PublicTest", settings=CPU)
    np.testing.assert_allclose(edited, first + 1.0, rtol=1e-6)
    assert len(list((run.dir / "evals").glob("*.npz"))) == 2


def test_lr_schedules_warm_up_then_decay_by_the_global_step():
    from perturb_lib.train import lr_factor
    onecycle = TrainConfig(epochs=4, warmup_epochs=1.0, lr_schedule="onecycle")
    assert [lr_factor(onecycle, s, 10) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])  # warm-up: 1/10 ...
    assert lr_factor(onecycle, 10, 10) == pytest.approx(1.0) and lr_factor(onecycle, 25, 10) == pytest.approx(0.5)
    assert lr_factor(onecycle, 39, 10) == pytest.approx(1 / 30)  # almost 0 at the last step
    cosine = onecycle.replace(lr_schedule="cosine")
    assert lr_factor(cosine, 25, 10) == pytest.approx(0.5) and lr_factor(cosine, 17, 10) > lr_factor(onecycle, 17, 10)
    assert lr_factor(TrainConfig(epochs=4, warmup_epochs=1.0), 30, 10) == 1.0  # plateau: validation decides
    with pytest.raises(ValueError, match="'lr_schedule': 'step' is not valid"):
        TrainConfig(lr_schedule="step")


def test_plateau_reduces_the_rate_as_torch_does():
    """The one rate mechanism follows torch's ReduceLROnPlateau(mode="max") on the same validation metrics."""
    from perturb_lib.train import LRSchedule
    config = TrainConfig(lr=0.1, epochs=20, warmup_epochs=0.0, plateau_patience=2, plateau_factor=0.5)
    ours = LRSchedule(config, steps_per_epoch=10)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2)
    metrics = [0.3, 0.5, 0.5, 0.50001, 0.49, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7, 0.1, 0.1, 0.1]
    for epoch, m in enumerate(metrics):
        ours.on_validation(m)
        theirs.step(m)
        assert ours.lr((epoch + 1) * 10) == pytest.approx(opt.param_groups[0]["lr"]), epoch
    assert ours.scale == 0.125  # by hand: three epochs without a better metric (relative 1e-4) after epochs 2, 6, 12


def test_config_rejects_testing_on_the_validation_split():
    with pytest.raises(ValueError, match="never chosen on the test split"):
        TrainConfig(val_split="PrivateTest", test_split="PrivateTest")


def test_two_spellings_of_one_run_share_one_hash(tmp_path, tiny_faces):
    """The README writes a masked run without the mask's seed; the MaskFer experiment spells it out."""
    readme = TrainConfig(model="vgg16", policy={"kind": "mask", "style": "n95"})
    experiment = TrainConfig(**{**{f: getattr(readme, f) for f in ("model", "width", "epochs")},
                                "policy": {"kind": "mask", "style": "n95", "seed": 0}})
    assert readme == experiment
    here = StudyContext.of(tiny_faces, tmp_path)
    assert here.run_dir(readme) == here.run_dir(experiment)
    assert here.run_dir(readme.replace(seed=1)) != here.run_dir(readme)
    assert TrainConfig(model="resnet18", dropout=0.3) == TrainConfig(model="resnet18", dropout=0.0)  # no dropout layer


def test_default_config_is_the_cpu_recipe():
    from perturb_lib.params import Recipe
    config = TrainConfig()
    assert {k: getattr(config, k) for k in Recipe.defaults()} == Recipe.defaults()
    assert (config.width, config.epochs, config.lr, config.dropout, config.lr_schedule) == (0.125, 10, 0.02, 0.0,
                                                                                            "plateau")


# ------------------------------------------------------------------------------------------ the GPU's path, on the CPU
def test_bf16_and_channels_last_train_cluster_and_explain_on_the_cpu(tmp_path, tiny_faces):
    """The code path of a CUDA run (bf16 autocast, channels-last), rehearsed on the CPU's bf16 units: training,
    evaluation, attention maps, clustering and saliency; the precision is recorded and is part of the run's
    identity, the memory format is not."""
    from perturb_lib import saliency
    from perturb_lib.experiments.scheme import phase2_record
    from perturb_lib.params import SchemeOptions
    gpu_like = Settings(device="cpu", progress="off", precision="bf16", channels_last="on")
    config = TrainConfig(**{**FAST, "attention": True, "epochs": 2})
    run = train(config, StudyContext.of(tiny_faces, tmp_path, settings=gpu_like))
    assert run.finished and run.config["precision"] == "bf16"
    assert run.env["precision"] == "bf16" and run.env["channels_last"] is True
    assert run.dir == StudyContext.of(tiny_faces, tmp_path, settings=Settings(precision="bf16", channels_last="off")).run_dir(config)
    assert run.dir != StudyContext.of(tiny_faces, tmp_path, settings=CPU).run_dir(config)  # fp32 computes something else: another run
    logits, labels = run_logits(run, tiny_faces, policy={"kind": "clean"}, split="PublicTest", settings=CPU)  # in bf16, as trained
    assert classification_metrics(labels, logits.argmax(1))["accuracy"] == run.metrics["val"]["accuracy"]
    record = phase2_record(run, tiny_faces, SchemeOptions(n_clusters=2, cluster_sample=16), gpu_like, examples=4)
    assert set(np.unique(record["shared_map"])) == {-1, 0, 1}
    model = run.model().to(memory_format=torch.channels_last)
    maps = saliency.attribute(model, tiny_faces.images[:4], tiny_faces.labels[:4], "gradcam")
    assert maps.shape == (4, 48, 48) and np.isfinite(maps).all()


def test_compiled_training_matches_eager_on_a_tiny_model(tmp_path, tiny_faces, monkeypatch):
    """``compile on`` trains the same run (same folder) through torch.compile; its numbers stay close to eager.

    The graph is captured by TorchDynamo and differentiated by AOTAutograd as in any compiled run, but run by the
    ``aot_eager`` backend: Inductor's code generation for this tiny model takes about 40 s on 2 cores, a tenth of the
    test budget (it is measured in ``make bench``). Batches of 41 divide the 287 training faces: one graph."""
    import functools
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    config = TrainConfig(**{**FAST, "epochs": 1, "width": 0.0625, "batch_size": 41})
    eager = train(config, StudyContext.of(tiny_faces, tmp_path / "eager", settings=CPU))
    compiled = train(config, StudyContext.of(tiny_faces, tmp_path / "compiled", settings=Settings(device="cpu", progress="off",
                                                                         precision="fp32", compile="on")))
    assert compiled.name == eager.name and compiled.env["compile"] is True
    assert compiled.history.train_loss.iloc[0] == pytest.approx(eager.history.train_loss.iloc[0], rel=1e-2)


# ------------------------------------------------------------------------------------------ the command line
def test_the_command_line_trains_the_run_the_notebooks_would_reuse(tmp_path, capsys):
    from perturb_lib.data import load_dataset
    from perturb_lib.experiments.maskfer import MaskFerExperiment
    from perturb_lib.params import MaskFerNotebook
    from perturb_lib.train import main
    flags = ["--epochs", "1", "--width", "0.0625", "--size", "0.01", "--precision", "fp32", "--progress", "off",
             "--study-dir", str(tmp_path / "study"), "--cache-dir", str(tmp_path / "cache")]
    assert main(flags) == 0
    assert "record: " in capsys.readouterr().out
    # notebook 01 with the same parameters asks for exactly this run: its record is there, finished
    P = MaskFerNotebook(epochs=1, width=0.0625, size=0.01, precision="fp32", seeds=[0], study_dir=str(tmp_path / "study"))
    faces = load_dataset("synthetic", size=0.01, cache_dir=tmp_path / "cache")
    config = MaskFerExperiment(P, faces, faces.landmarks).configs()["maskfer/vgg16/0/clean"]
    assert (StudyContext.of(faces, P.study_dir, settings=Settings.of(P)).run_dir(config) / "metrics.json").is_file()
    assert main(flags + ["--epochs", "one"]) == 2
    assert "parameter 'epochs' must be int" in capsys.readouterr().err


def test_the_command_line_lists_the_recipe_as_flags(capsys):
    from perturb_lib.params import Compute, Recipe
    from perturb_lib.train import main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for name in [*Recipe.defaults(), *Compute.defaults(), "model", "seed", "policy", "data_path", "study_dir"]:
        assert f"--{name.replace('_', '-')}" in out, name
