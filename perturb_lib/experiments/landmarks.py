"""The landmark experiment (the second seed paper, Di Luzio, Rosato & Panella 2024): one binary classifier per
emotion on landmark coordinates, landmarks ranked by dataset-level Integrated Gradients and dropped while the
validation score holds (see :mod:`perturb_lib.landmark_models` for the models and the attribution).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS, FaceSet
from ..data.registry import defining_regions
from ..landmarks.layout import layout_of
from ..landmark_models import (dataset_ig, ablation_relevance, emotion_data, fit_and_score, landmark_features,
                               medoid_baselines, progressive_reduction, region_agreement)
from ..params import LandmarkNotebook
from .results import Results


@dataclass
class LandmarkResults(Results):
    """What notebook 04 found.

    Attributes:
        dataset, features, task: what was explained, with which features, against what (FER2013 has no neutral
            frame per person, so there the features are the normalised coordinates alone).
        relevance: long table ``emotion, family, method, landmark, relevance`` (methods: ig_medoids, ig_zero,
            ablation).
        reduction: long table of every reduction step (``emotion, family, landmarks, val_*, test_*, ...``).
        summary: per emotion and family: the full and the chosen reduced set side by side.
        kept: ``{"<emotion>/<family>": kept landmark indices}``.
        completeness: mean absolute IG completeness gap per emotion and family.
        agreement: synthetic faces only: kept landmarks inside the defining regions, against chance.
        mean_face, mean_landmarks: the background of the relevance figure.
    """

    name = "landmarks"
    made_by = "04_landmark_explainability"

    dataset: str = ""
    features: str = ""
    task: str = ""
    relevance: pd.DataFrame = field(default_factory=pd.DataFrame)
    reduction: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    kept: dict = field(default_factory=dict)
    completeness: pd.DataFrame = field(default_factory=pd.DataFrame)
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)
    mean_face: np.ndarray | None = None
    mean_landmarks: np.ndarray | None = None


def explain_emotions(faces: FaceSet, landmarks: np.ndarray, params: LandmarkNotebook, progress=print
                     ) -> LandmarkResults:
    """Per emotion and model family: train on all landmarks, rank them by dataset-level IG (baselines: medoids
    of the negatives), reduce progressively, and compare with a zero baseline and grouped ablation.

    Args:
        faces: the dataset.
        landmarks: (N, K, 2) its landmarks.
        params: the notebook's parameters (features, task, families, emotions, IG and reduction settings).
        progress: where a line per emotion and family goes.

    Returns:
        The results.
    """
    P = params
    layout = layout_of(landmarks)
    features = P.lm_features if P.lm_features != "auto" else ("both" if "neutral_landmarks" in faces.extras else "coords")
    task, seed, val_split, test_split = P.lm_task, P.lm_seed, P.val_split, P.test_split
    model_kw = {"hidden": P.lm_hidden, "epochs": P.lm_epochs, "random_hidden": P.random_hidden, "ridge": P.ridge}
    feats = landmark_features(faces, landmarks, features)
    n_lm = feats.shape[1]
    rel_rows, red_rows, sum_rows, comp_rows, kept = [], [], [], [], {}
    for emo in P.lm_emotions:
        c = EMOTIONS.index(emo)
        if task == "neutral" and emo == "Neutral":
            continue
        data = emotion_data(feats, faces, c, task)
        xtr, ytr = data.x["Training"], data.y["Training"]
        if ytr.sum() < 2 or (1 - ytr).sum() < 2:
            progress(f"{emo}: too few training faces on one side of the task, skipped")
            continue
        flat = xtr.reshape(len(xtr), -1)
        positives, negatives = flat[ytr > 0.5], flat[ytr < 0.5]
        baselines = medoid_baselines(negatives, P.ig_baselines, seed)
        for family in P.lm_families:
            model, full = fit_and_score(family, data, np.arange(n_lm), val_split, test_split, seed, **dict(model_kw))
            ig = dataset_ig(model, positives, baselines, n_lm, P.ig_steps)
            zero = dataset_ig(model, positives, np.zeros((1, flat.shape[1]), dtype=np.float32), n_lm, P.ig_steps)
            abl = ablation_relevance(model, positives, negatives.mean(0), n_lm)
            for method, values in (("ig_medoids", ig["relevance"]), ("ig_zero", zero["relevance"]), ("ablation", abl)):
                rel_rows += [{"emotion": emo, "family": family, "method": method, "landmark": i, "relevance": float(v)}
                             for i, v in enumerate(values)]
            comp_rows.append({"emotion": emo, "family": family, "mean_abs_gap": float(np.abs(ig["delta"]).mean()),
                              "mean_abs_output_change": float(np.abs(ig["per_sample"].sum(1)).mean())})
            ranking = np.argsort(-ig["relevance"], kind="stable")
            table, chosen = progressive_reduction(family, data, ranking, P.lm_step, (val_split, test_split), P.lm_tolerance,
                                                  seed=seed, **dict(model_kw))
            red_rows += table.assign(emotion=emo, family=family).to_dict("records")
            kept[f"{emo}/{family}"] = chosen.tolist()
            reduced = table[table["chosen"]].iloc[0]
            sum_rows.append({"emotion": emo, "family": family,
                             **{f"full {k}": full[k] for k in ("landmarks", "test_balanced_accuracy", "test_f1",
                                                              "inference_us", "train_seconds", "parameters")},
                             **{f"reduced {k}": reduced[k] for k in ("landmarks", "test_balanced_accuracy", "test_f1",
                                                                    "inference_us", "parameters")}})
            progress(f"{emo} / {family}: {len(chosen)} of {n_lm} landmarks kept, test balanced accuracy "
                     f"{full['test_balanced_accuracy']:.3f} -> {reduced['test_balanced_accuracy']:.3f}")
    agreement = pd.DataFrame()
    if "aus" in faces.extras:  # synthetic faces: do the kept landmarks sit in the regions that make the emotion?
        defining = defining_regions(cache_dir=P.cache_dir)
        agreement = pd.DataFrame([{"emotion": emo, "family": family, "defining regions": ", ".join(defining[emo]),
                                   **region_agreement(np.asarray(k), defining[emo], layout)}
                                  for (emo, family), k in ((key.split("/"), k) for key, k in kept.items())
                                  if defining.get(emo)])
    return LandmarkResults(dataset=faces.name, features=features, task=task, relevance=pd.DataFrame(rel_rows),
                           reduction=pd.DataFrame(red_rows), summary=pd.DataFrame(sum_rows), kept=kept,
                           completeness=pd.DataFrame(comp_rows), agreement=agreement,
                           mean_face=faces.images.mean(0), mean_landmarks=landmarks.mean(0))
