"""Measure how FER2013 frames a face: the mean position of dlib's 68 landmarks on the faces it finds, in the 48x48
crop. ``perturb_lib.explain`` aligns a face of any photo to this frame, so that the study's models see it as they
saw FER2013's faces.

    python benchmarks/fer2013_frame.py --data fer2013.csv     # writes perturb_lib/data/fer2013_frame.json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from perturb_lib.data.registry import load_dataset
from perturb_lib.landmarks import detected, landmarks_for
from perturb_lib.paths import PROJECT_ROOT

OUT = PROJECT_ROOT / "perturb_lib" / "data" / "fer2013_frame.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache-dir", default="runs/cache")
    a = ap.parse_args(argv)
    faces = load_dataset("fer2013", a.data, cache_dir=a.cache_dir)
    points = landmarks_for(faces, "dlib", None, a.cache_dir)
    found = detected(faces, "dlib", None, a.cache_dir)
    mean = points[found].mean(0)
    spread = np.sqrt(((points[found] - mean) ** 2).sum(-1).mean())
    OUT.write_text(json.dumps({"points": [[round(float(x), 2), round(float(y), 2)] for x, y in mean],
                               "faces": int(found.sum()),
                               "rms_spread_px": round(float(spread), 2),
                               "what": "mean dlib 68-point landmarks of the FER2013 faces dlib finds, 48x48 crop, "
                                       "pixel centres at integers (benchmarks/fer2013_frame.py)"}, separators=(",", ": ")) + "\n")
    print(f"{OUT}: mean of {found.sum():,} faces; points spread {spread:.2f} px (RMS) around it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
