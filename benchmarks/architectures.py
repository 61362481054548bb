"""The paper's other architectures on real faces: every clean run record of a ledger, by architecture, on the
validation split only (the split that chooses each architecture's width and epochs; test accuracy is not shown
here, so nothing is chosen on it).

    python benchmarks/architectures.py                                  # figures/fer2013-cpu/records
    python benchmarks/architectures.py --records runs/fer2013-cpu/records --models resnet50 dpn26

For each record: its recipe (width, epochs, batch, schedule), the faces it trained and was validated on (every
face, or the faces dlib finds: the validation split's size tells them apart), validation accuracy and macro F1
(with the record's test-time augmentation), the last epoch's training accuracy (a model still far from fitting
its training faces wants more epochs), its minutes, training images/s, and CPU share (below 0.9 the cores were
shared and the minutes are not a measurement). Numbers go to stdout as a Markdown table, for
``benchmarks/RECIPE.md``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perturb_lib.io import read_json  # noqa: E402
from perturb_lib.readme import SHARED_BELOW  # noqa: E402


def record_row(run: Path) -> dict | None:
    """One finished clean record as a row; ``None`` for unfinished records and other policies."""
    if not (run / "metrics.json").is_file():
        return None
    config, metrics, env = (read_json(run / f) for f in ("config.json", "metrics.json", "env.json"))
    if config["policy"].get("kind") != "clean" or config.get("attention"):
        return None
    with np.load(run / "logits.npz") as logits:
        val_faces = len(logits["val_labels"])
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    return {"run": run.name, "model": config["model"], "width": config["width"], "epochs": config["epochs"],
            "batch": config["batch_size"], "schedule": f"{config['lr_schedule']} lr {config['lr']:g}",
            "seed": config["seed"], "val_faces": val_faces, "val_acc": metrics["val"]["accuracy"],
            "val_f1": metrics["val"]["macro_f1"], "train_acc": float(history[-1]["train_accuracy"]),
            "minutes": env["wall_seconds"] / 60, "images_per_s": env.get("images_per_s"),
            "cpu_share": env.get("cpu_share"), "precision": env.get("precision")}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default=str(ROOT / "figures" / "fer2013-cpu" / "records"))
    ap.add_argument("--models", nargs="*", default=None, help="architectures to list (default: every one)")
    args = ap.parse_args(argv)
    runs = sorted(p for p in Path(args.records).iterdir() if p.is_dir())
    rows = [r for r in map(record_row, runs) if r and (args.models is None or r["model"] in args.models)]
    if not rows:
        sys.exit(f"{args.records}: no finished clean records" + (f" of {', '.join(args.models)}" if args.models else ""))
    every = max(r["val_faces"] for r in rows)
    print("| architecture | width | epochs | batch, schedule | seed | faces | validation accuracy | validation macro F1 "
          "| last epoch's training accuracy | minutes (CPU share) | training images/s | precision |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["model"], -r["val_faces"], r["width"], r["epochs"], r["seed"])):
        faces = "every face" if r["val_faces"] == every else f"dlib-found ({r['val_faces']:,} validation faces)"
        share = r["cpu_share"]
        shared = "" if share is None else (f" ({share:.2f}, shared)" if share < SHARED_BELOW else f" ({share:.2f})")
        speed = f"{r['images_per_s']:,.0f}" if r["images_per_s"] else "--"
        print(f"| {r['model']} | {r['width']:g} | {r['epochs']} | {r['batch']}, {r['schedule']} | {r['seed']} | {faces} "
              f"| {100 * r['val_acc']:.1f} % | {r['val_f1']:.3f} | {100 * r['train_acc']:.1f} % "
              f"| {r['minutes']:.1f}{shared} | {speed} | {r['precision']} |")


if __name__ == "__main__":
    main()
