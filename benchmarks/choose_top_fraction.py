"""Choose the Perturb Scheme's ``top_fraction`` (the share of highest-attention pixels clustered; the paper gives
none) so that the shared clusters reach the eyes, on the training split only.

    python benchmarks/choose_top_fraction.py --data fer2013.csv --seed 6

For each candidate share, the shared cluster map of phase 1 (the seed's attention model, which must be in the study
or published) is computed on several samples of training faces, as the scheme does once per epoch, and each
cluster's dominant region is read from the landmarks of the training faces dlib found
(:func:`perturb_lib.experiments.scheme.cluster_locations`). It prints, per share, how often the map has a cluster on
the eyes and how often it is the paper's (two on the eyes, one on the mouth and nose), and the smallest share whose
maps have a cluster on the eyes in most samples. No test face is read.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from perturb_lib.experiments import SchemeExperiment, load_faces
from perturb_lib.experiments.scheme import cluster_locations, configuration, paper_configuration
from perturb_lib.models import attention_maps
from perturb_lib.params import notebook_params
from perturb_lib.pipeline import study_values
from perturb_lib.policies import split_tensors
from perturb_lib.policies.clusters import shared_cluster_map

CANDIDATES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="fer2013-cpu")
    ap.add_argument("--data")
    ap.add_argument("--seed", type=int, default=6, help="the phase-1 run's seed")
    ap.add_argument("--samples", type=int, default=8, help="samples of training faces per share (maps per epoch)")
    a = ap.parse_args(argv)
    values = study_values(a.profile, None, {"data_path": str(Path(a.data).resolve())} if a.data else {})
    P = notebook_params("03_perturb_scheme", values)
    P = replace(P, perturb_models=[P.sweep_model], baseline_models=[], perturb_seeds=[a.seed], model_seeds={},
                sweep_seeds=[], scheme_variants={})
    faces, landmarks = load_faces(P)
    exp = SchemeExperiment(P, faces, landmarks)
    phase1 = exp.context.study.run(exp._phase1_name(a.seed))
    model = phase1.model("cpu")
    train = split_tensors(faces, "Training", torch.device("cpu"), landmarks)
    probability = exp.region_probability()
    print(f"phase 1: {phase1.name}; {a.samples} maps of {P.cluster_sample} training faces per share")
    print("| top_fraction | maps with a cluster on the eyes | the paper's configuration | most frequent |")
    print("|---|---|---|---|")
    chosen = None
    for fraction in CANDIDATES:
        options = replace(exp.options(), top_fraction=fraction)
        gen = torch.Generator().manual_seed(0)
        found = []
        for _ in range(a.samples):
            shared = shared_cluster_map(lambda x: attention_maps(model, x), train, options, gen).numpy()
            found.append(cluster_locations(shared, probability))
        eyes = sum("eyes" in set(f["dominant"]) for f in found)
        paper = sum(paper_configuration(f) for f in found)
        common = Counter(configuration(f) for f in found).most_common(1)[0]
        print(f"| {fraction:g} | {eyes} of {a.samples} | {paper} of {a.samples} | {common[0]} ({common[1]}) |")
        if chosen is None and eyes > a.samples / 2:
            chosen = fraction
    print(f"chosen: the smallest share with a cluster on the eyes in most maps: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
