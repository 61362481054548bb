"""The saliency experiment (the paper's Figures 1 and 6): the same test faces explained by several trained runs,
each on the inputs its model sees, with per-emotion mean maps, the share of attribution per facial region,
and - for the clean model - randomisation and deletion checks and, on synthetic faces, ground-truth scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import saliency
from ..data.faces import SPLITS, FaceSet, pick_per_emotion
from ..data.registry import defining_regions
from ..execution import resolve_device
from ..params import SaliencyNotebook
from ..policies import apply_policy, make_policy
from ..runs import Run, Study
from .maskfer import MaskFerResults
from .results import Results


def model_inputs(run: Run, faces: FaceSet, landmarks: np.ndarray, index: np.ndarray,
                 masked_faces: FaceSet | None = None) -> tuple[np.ndarray, str]:
    """The faces ``index`` as a run's model sees them at test time, and what they are in words.

    Args:
        run: the run (its policy says what was done to its faces).
        faces: the dataset; ``index`` selects the faces.
        landmarks: landmarks of ``faces``.
        index: which faces.
        masked_faces: published MaskFer images of the same ids, for a run trained on them.

    Returns:
        (B, 48, 48) uint8 inputs, and their description.
    """
    spec = run.config.get("policy") or {"kind": "clean"}
    if spec.get("kind") in ("mask", "remove"):
        policy = make_policy(spec)
        return apply_policy(policy, faces.images[index], landmarks[index], faces.ids[index]), f"{faces.name} faces, {policy.tag()}"
    if masked_faces is not None and run.config["data"]["fingerprint"] == masked_faces.fingerprint():
        lookup = {k: i for i, k in enumerate(masked_faces.ids)}
        return masked_faces.images[[lookup[k] for k in faces.ids[index]]], "the published MaskFer images of the same faces"
    return faces.images[index], f"{faces.name} faces"


def compare(runs: dict[str, Run], faces: FaceSet, landmarks: np.ndarray, index: np.ndarray, method: str,
            target: str = "true", device="cpu", masked_faces: FaceSet | None = None) -> dict:
    """Maps of the same faces under several runs, each on the inputs its model sees.

    Args:
        runs: ``{label: Run}`` (e.g. ``{"trained clean": ..., "trained masked": ...}``).
        faces: the dataset (usually its test split); ``index`` selects the faces.
        landmarks: landmarks of ``faces``.
        index: which faces.
        method: a :data:`perturb_lib.saliency.METHODS` name.
        target: explain the ``true`` or the predicted (``pred``) class.
        device: where to compute.
        masked_faces: published MaskFer images of the same ids (see :func:`model_inputs`).

    Returns:
        ``{"labels": (B,), "inputs": {label: (B, 48, 48)}, "maps": {label: (B, 48, 48)},
        "means": {label: (7, 48, 48)}, "shares": {label: region-share table}, "captions": {label: its inputs}}``.
    """
    labels = faces.labels[index]
    out = {"labels": labels, "inputs": {}, "maps": {}, "means": {}, "shares": {}, "captions": {}}
    for label, run in runs.items():
        inputs, out["captions"][label] = model_inputs(run, faces, landmarks, index, masked_faces)
        model = run.model(device=str(device))
        targets = labels if target == "true" else saliency.predict_classes(model, inputs, device)
        maps = saliency.attribute(model, inputs, targets, method, device=device)
        out["inputs"][label], out["maps"][label] = inputs, maps
        out["means"][label] = saliency.emotion_mean_maps(maps, labels)
        out["shares"][label] = saliency.region_shares(maps, landmarks[index], labels)
    return out


@dataclass
class SaliencyResults(Results):
    """What notebook 02 found.

    Attributes:
        method: the method drawn in Figure 1.
        runs: the explained runs by label.
        figure1: one test face per emotion (:func:`compare`).
        mean_maps: per-emotion mean maps over ``per_emotion`` test faces per emotion, per run.
        mean_face: the mean test face (the mean maps' background).
        shares: attribution share per region, per run.
        randomization, deletion: the sanity checks of the clean model.
        ground_truth: synthetic faces only: attribution in the defining regions, per method.
    """

    name = "saliency"
    made_by = "02_saliency"

    method: str = "saliency"
    runs: dict = field(default_factory=dict)
    figure1: dict = field(default_factory=dict)
    mean_maps: dict = field(default_factory=dict)
    mean_face: np.ndarray | None = None
    shares: dict = field(default_factory=dict)
    randomization: pd.DataFrame = field(default_factory=pd.DataFrame)
    deletion: pd.DataFrame = field(default_factory=pd.DataFrame)
    ground_truth: pd.DataFrame = field(default_factory=pd.DataFrame)


def saliency_experiment(params: SaliencyNotebook, faces: FaceSet, landmarks: np.ndarray, maskfer: MaskFerResults,
                        masked_faces: FaceSet | None = None) -> SaliencyResults:
    """Figure 1, mean maps, region shares and the sanity checks for notebook 01's runs.

    Args:
        params: the notebook's parameters.
        faces: the dataset.
        landmarks: its landmarks.
        maskfer: notebook 01's results (which runs to explain).
        masked_faces: the published MaskFer images, when notebook 01 trained on them.

    Returns:
        The results.
    """
    P = params
    device = resolve_device(P.device)
    seed = maskfer.explain_seed if P.saliency_model == maskfer.models[0] else maskfer.column_seeds[P.saliency_model][0]
    study = Study.of_params(P)
    runs = {"trained clean": maskfer.run(study, P.saliency_model, seed, "clean"),
            "trained masked": maskfer.run(study, P.saliency_model, seed, "masked")}
    split = runs["trained clean"].config["test_split"]
    test, test_lm = faces.split(split), landmarks[faces.splits == SPLITS.index(split)]
    figure1 = compare(runs, test, test_lm, pick_per_emotion(test.labels, 1, seed=1), P.figure_method,
                      P.saliency_target, device, masked_faces)
    pick = pick_per_emotion(test.labels, P.per_emotion)
    many = compare(runs, test, test_lm, pick, P.figure_method, P.saliency_target, device, masked_faces)

    model = runs["trained clean"].model(device=device)
    sanity = pick_per_emotion(test.labels, max(1, P.sanity_images // 7), seed=2)
    images, targets = test.images[sanity], test.labels[sanity]
    randomization = pd.concat([saliency.randomization_check(model, images, targets, m, device=device).assign(method=m)
                               for m in P.saliency_methods], ignore_index=True)
    deletion = saliency.deletion_insertion(model, images, targets,
                                           saliency.attribute(model, images, targets, P.figure_method, device=device),
                                           device=device)
    truth = pd.DataFrame()
    if "aus" in faces.extras:  # synthetic faces know which regions define each emotion
        defining = defining_regions(cache_dir=P.cache_dir)
        truth = pd.concat([saliency.ground_truth_scores(saliency.attribute(model, test.images[pick], test.labels[pick],
                                                                           m, device=device),
                                                        test_lm[pick], test.labels[pick], defining).assign(method=m)
                           for m in P.saliency_methods], ignore_index=True)
    return SaliencyResults(method=P.figure_method, runs={k: r.name for k, r in runs.items()}, figure1=figure1,
                           mean_maps=many["means"], mean_face=test.images.mean(0), shares=many["shares"],
                           randomization=randomization, deletion=deletion, ground_truth=truth)
