"""Does bf16 cost accuracy? The same config in fp32 and in bf16 on the real FER2013, paired by seed.

    python benchmarks/precision_equivalence.py --data fer2013.csv --seeds 0 1 2

Trains (or reuses) the clean VGG16 run of the ``fer2013-cpu`` profile (the Perturb Scheme's baseline) for each seed
in both precisions - they are different runs, the precision being part of a run's identity - into
``runs/fer2013-cpu`` (the bf16 ones are the study's own baselines), and prints, per precision, validation and test
accuracy and the recall of every class, then the bf16 - fp32 difference of each, paired by seed, with its 95 %
interval (seeds and test faces; :mod:`perturb_lib.stats`). Also prints each precision's training speed.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from perturb_lib.data import EMOTIONS
from perturb_lib.experiments import load_faces
from perturb_lib.execution import Settings
from perturb_lib.params import notebook_params
from perturb_lib.pipeline import study_values
from perturb_lib.runs import StudyContext
from perturb_lib.tables import accuracy_difference, class_changes
from perturb_lib.train import TrainConfig, train


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--profile", default="fer2013-cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--markdown", help="also write the result to this file")
    a = ap.parse_args(argv)
    values = {**study_values(a.profile, None, {"data_path": str(Path(a.data).expanduser().resolve())}),
              "progress": "summary"}
    P = notebook_params("03_perturb_scheme", values)
    faces, _ = load_faces(P)
    runs = {p: [train(TrainConfig.from_params(P, model="vgg16", seed=s),
                      StudyContext.of(faces, P.study_dir, settings=replace(Settings.of(P), precision=p)))
                for s in a.seeds]
            for p in ("fp32", "bf16")}
    lines = [f"# fp32 against bf16: {P.dataset}, vgg16 x{P.width:g}, {P.epochs} epochs, seeds {a.seeds}", ""]
    lines += ["| precision | validation accuracy % | test accuracy % | training images/s | minutes per run |",
              "|---|---|---|---|---|"]
    for p, rs in runs.items():
        val = [100 * r.metrics["val"]["accuracy"] for r in rs]
        test = [100 * r.metrics["test"]["accuracy"] for r in rs]
        lines.append(f"| {p} | {np.mean(val):.2f} ({', '.join(f'{v:.2f}' for v in val)}) | {np.mean(test):.2f} "
                     f"({', '.join(f'{v:.2f}' for v in test)}) | {np.mean([r.env['images_per_s'] for r in rs]):,.0f} | "
                     f"{np.mean([r.env['wall_seconds'] for r in rs]) / 60:.1f} |")
    lines += ["", "bf16 - fp32, paired by seed (95 % interval: seeds and test faces):", "",
              "| quantity | difference |", "|---|---|"]
    for key, split in (("val", P.val_split), ("test", P.test_split)):
        stacked = {p: [r.logits(key) for r in rs] for p, rs in runs.items()}
        labels = stacked["fp32"][0][1]
        fp32 = np.stack([s[0] for s in stacked["fp32"]])
        bf16 = np.stack([s[0] for s in stacked["bf16"]])
        d = accuracy_difference(labels, fp32.argmax(-1), bf16.argmax(-1))
        lines.append(f"| {split} accuracy (points) | {d.value:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}] |")
        if key == "test":
            for emo, e in zip(EMOTIONS, class_changes(labels, fp32, bf16, "points")):
                lines.append(f"| {split} recall, {emo} (points) | {e.value:+.2f} [{e.lo:+.2f}, {e.hi:+.2f}] |")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
