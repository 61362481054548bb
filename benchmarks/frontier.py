"""The CPU recipe per minute on real FER2013: train candidate recipes, choose on validation, test finalists only.

    python benchmarks/frontier.py --data /path/fer2013.csv                      # every candidate, in order
    python benchmarks/frontier.py --data /path/fer2013.csv --only W25E6 W25E20  # some
    python benchmarks/frontier.py --data /path/fer2013.csv --finalists W25E6    # print their test accuracy too

Each candidate is one training run through :func:`perturb_lib.train.train` (a run record under
``runs/frontier/``, reused when finished) with flip test-time augmentation (and, for the first two, an exponential
moving average of the weights). Neither changes the training path, so the last checkpoint also gives, for free,
the validation accuracy without them: each row reports the variants (raw or averaged weights, with or without the
flip) on the validation split, which is what chooses. The test split is printed only for ``--finalists``.
Minutes are the run's wall time (validation every epoch and the final test included); ``cpu_share`` below about
0.9 means the cores were shared while it trained, and then its minutes are not a measurement.

Writes ``benchmarks/recipe_frontier.csv`` (one row per finished candidate, the test column empty for the others).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from perturb_lib.data import load_dataset
from perturb_lib.evaluate import predict
from perturb_lib.execution import Settings
from perturb_lib.policies import make_policy, split_tensors
from perturb_lib.runs import StudyContext, load_checkpoint
from perturb_lib.train import TrainConfig, train

from common import merge_rows

BASE = TrainConfig(model="vgg16", lr_schedule="onecycle", warmup_epochs=1.0, label_smoothing=0.1, erasing=0.0,
                   batch_size=128, lr=0.1, tta="flip")

#: tag -> (what it is, its config); tried in this order. The first two measured the moving average (EMA 0.995):
#: it never beat the raw weights on validation (6 epochs: 62.4 against 62.6 %; 20: 67.4 against 67.5 %, both
#: with the flip), so the later candidates train without it and keep the flip.
CANDIDATES: dict[str, tuple[str, TrainConfig]] = {
    "W25E6": ("VGG16 x0.25, 6 epochs, EMA", BASE.replace(width=0.25, epochs=6, ema=0.995)),
    "W25E20": ("VGG16 x0.25, 20 epochs, EMA", BASE.replace(width=0.25, epochs=20, ema=0.995)),
    "W25E8": ("VGG16 x0.25, 8 epochs", BASE.replace(width=0.25, epochs=8)),
    "W25E24": ("VGG16 x0.25, 24 epochs", BASE.replace(width=0.25, epochs=24)),
    "W50E20": ("VGG16 x0.5, 20 epochs", BASE.replace(width=0.5, epochs=20)),
    "W25E24X": ("VGG16 x0.25, 24 epochs, random erasing 0.5", BASE.replace(width=0.25, epochs=24, erasing=0.5)),
    "W50E30X": ("VGG16 x0.5, 30 epochs, random erasing 0.5", BASE.replace(width=0.5, epochs=30, erasing=0.5)),
}

FIELDS = ["tag", "recipe", "width", "epochs", "batch_size", "lr", "ema", "precision", "minutes", "cpu_share",
          "images_per_s", "val_raw", "val_raw_flip", "val_ema", "val_ema_flip", "test_acc", "test_disgust",
          "test_fear", "run"]


@torch.no_grad()
def variants(run, faces, settings: Settings) -> dict[str, float]:
    """Validation accuracy of the last epoch's raw and averaged weights, each with and without the flip."""
    cfg = run.config
    device = settings.resolved_device()
    last = load_checkpoint(run.dir / "last.pt", device)
    split = split_tensors(faces, cfg["val_split"], device)
    policy = make_policy(cfg["policy"])
    policy.prepare(split)
    settings = replace(settings, precision=cfg["precision"])
    out = {}
    states = {"raw": last["model"]}
    if last.get("ema") is not None:
        states["ema"] = {k.removeprefix("module."): v for k, v in last["ema"].items() if k.startswith("module.")}
    for name, state in states.items():
        model = run.model(str(device), state=state)
        if settings.use_channels_last(device, cfg["model"], cfg["width"]):
            model = model.to(memory_format=torch.channels_last)
        for tta in ("none", "flip"):
            recipe = TrainConfig(tta=tta, input_size=cfg["input_size"], pad=cfg["pad"])
            logits = predict(model, split, policy, recipe, settings, device)
            acc = (logits.argmax(1) == split.labels).float().mean().item()
            out[f"val_{name}" + ("_flip" if tta == "flip" else "")] = round(acc, 4)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="FER2013 (CSV, image folders or .npz)")
    ap.add_argument("--study", default="runs/frontier", help="where the run records go")
    ap.add_argument("--only", nargs="*", help="candidate tags (default: all)")
    ap.add_argument("--finalists", nargs="*", default=[], help="tags whose test accuracy is read")
    ap.add_argument("--out", default=str(Path(__file__).with_name("recipe_frontier.csv")), help="the CSV (rows merged by tag)")
    a = ap.parse_args(argv)
    unknown = set(a.only or []) | set(a.finalists) - set(CANDIDATES)
    if unknown - set(CANDIDATES):
        ap.error(f"unknown candidate(s) {sorted(unknown - set(CANDIDATES))}; known: {', '.join(CANDIDATES)}")
    faces = load_dataset("fer2013", a.data)
    settings = Settings(device="cpu", progress="lines")
    for tag in a.only or list(CANDIDATES):
        what, config = CANDIDATES[tag]
        print(f"== {tag}: {what}", flush=True)
        run = train(config, StudyContext.of(faces, a.study, settings=settings))
        env, m = run.env, run.metrics
        row = {"tag": tag, "recipe": what, "width": config.width, "epochs": config.epochs,
               "batch_size": config.batch_size, "lr": config.lr, "ema": config.ema, "precision": env["precision"],
               "minutes": round(env["wall_seconds"] / 60, 2), "cpu_share": env.get("cpu_share"),
               "images_per_s": env["images_per_s"], **variants(run, faces, settings), "run": run.name}
        if tag in a.finalists:
            recall = m["test"]["per_class_recall"]
            row.update(test_acc=round(m["test"]["accuracy"], 4), test_disgust=round(recall[1], 3),
                       test_fear=round(recall[2], 3))
        print("   " + ", ".join(f"{k} {row[k]}" for k in FIELDS[7:] if k in row), flush=True)
        merge_rows(Path(a.out), [row], FIELDS)  # after each candidate: an interrupted search keeps what it measured
    return 0


if __name__ == "__main__":
    sys.exit(main())
