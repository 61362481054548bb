"""The landmark experiment (the second seed paper, Di Luzio, Rosato & Panella 2024): one binary classifier per
emotion on landmark coordinates, landmarks ranked by dataset-level Integrated Gradients and dropped while the
validation score holds (see :mod:`perturb_lib.landmark_models` for the models and the attribution).

Each seed (``lm_seeds``) trains, ranks and reduces on its own, so the kept set is part of what varies; a seed's
results are a record (``landmarks-<source>-<features>-<task>-s<seed>-<hash>``) in the study's records and its ledger,
reused when its identity (the data, the landmarks, the parameters, :data:`LANDMARK_VERSION`) is unchanged.
:func:`explain_seeds` puts the seeds together: the reduced set against the full set per emotion and family, with
intervals over seeds and test faces, and how stable the selection is.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from ..data.faces import EMOTIONS, FaceSet
from ..data.registry import defining_regions
from ..io import array_fingerprint, stable_hash, write_json
from ..landmarks.layout import layout_of
from ..landmark_models import (dataset_ig, ablation_relevance, emotion_data, fit_and_score, landmark_features,
                               medoid_baselines, progressive_reduction, region_agreement, test_logits)
from ..params import LandmarkNotebook
from ..runs import Study
from ..stats import Estimate, estimates, t95
from .results import Results

#: bump when a change makes the recorded landmark results of a seed incomparable
LANDMARK_VERSION = 1
#: the parameters of notebook 04 that decide a seed's results (the seed list and the output folders do not)
_RESULT_PARAMS = ("lm_source", "lm_features", "lm_task", "lm_families", "lm_emotions", "lm_hidden", "lm_epochs",
                  "random_hidden", "ridge", "ig_baselines", "ig_steps", "lm_step", "lm_tolerance", "val_split",
                  "test_split")


@dataclass
class LandmarkResults(Results):
    """What notebook 04 found.

    Attributes:
        dataset, features, task: what was explained, with which features, against what (FER2013 has no neutral
            frame per person, so there the features are the normalised coordinates alone).
        relevance: long table ``emotion, family, method, landmark, relevance`` (methods: ig_medoids, ig_zero,
            ablation); over seeds, the first seed's (the one the figures draw; every seed's is in its record).
        reduction: long table of every reduction step (``emotion, family, landmarks, val_*, test_*, ...``).
        summary: per emotion and family: the full and the chosen reduced set side by side.
        kept: ``{"<emotion>/<family>": kept landmark indices}``.
        completeness: mean absolute IG completeness gap per emotion and family.
        agreement: synthetic faces only: kept landmarks inside the defining regions, against chance.
        mean_face, mean_landmarks: the background of the relevance figure.
        seeds: the seeds behind the tables (each table has a ``seed`` column; ``kept`` keys end in ``/<seed>``).
        scores: per ``<emotion>-<family>-<seed>``, the full and the reduced model's test logits (``full``,
            ``reduced``); per ``<emotion>``, the test faces' binary targets (``targets``).
        comparison: per emotion and family, over seeds and test faces: the reduced set's balanced accuracy minus
            the full set's (pp), the kept landmarks, the inference time and parameters of the reduced model against
            the full one, and how much the kept sets of two seeds overlap (Jaccard).
        overall: per family, the same comparison averaged over emotions (what the paper's claims are about).
        seconds: per seed, the seconds its results took when they were computed.
        runs: per seed, the name of its record.
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
    seeds: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    overall: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)


def explain_emotions(faces: FaceSet, landmarks: np.ndarray, params: LandmarkNotebook, seed: int = 0,
                     progress=print) -> LandmarkResults:
    """Per emotion and model family: train on all landmarks, rank them by dataset-level IG (baselines: medoids
    of the negatives), reduce progressively, and compare with a zero baseline and grouped ablation.

    Args:
        faces: the dataset.
        landmarks: (N, K, 2) its landmarks.
        params: the notebook's parameters (features, task, families, emotions, IG and reduction settings).
        seed: the seed of the models, the baselines' choice and the training order.
        progress: where a line per emotion and family goes.

    Returns:
        The results of this seed.
    """
    P = params
    layout = layout_of(landmarks)
    features = P.lm_features if P.lm_features != "auto" else ("both" if "neutral_landmarks" in faces.extras else "coords")
    task, val_split, test_split = P.lm_task, P.val_split, P.test_split
    scores = {}
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
        scores[emo] = {"targets": data.y[test_split]}
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
            table, chosen, reduced_logits = progressive_reduction(family, data, ranking, P.lm_step,
                                                                  (val_split, test_split), P.lm_tolerance, seed=seed,
                                                                  **dict(model_kw))
            scores[f"{emo}-{family}-{seed}"] = {"full": test_logits(model, data, np.arange(n_lm), test_split),
                                                "reduced": reduced_logits}
            red_rows += table.assign(emotion=emo, family=family).to_dict("records")
            kept[f"{emo}/{family}/{seed}"] = chosen.tolist()
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
                                  for (emo, family, _), k in ((key.split("/"), k) for key, k in kept.items())
                                  if defining.get(emo)])
    tables = [pd.DataFrame(rows).assign(seed=seed) if rows else pd.DataFrame()
              for rows in (rel_rows, red_rows, sum_rows, comp_rows)]
    return LandmarkResults(dataset=faces.name, features=features, task=task, relevance=tables[0],
                           reduction=tables[1], summary=tables[2], kept=kept, completeness=tables[3],
                           agreement=agreement.assign(seed=seed) if len(agreement) else agreement,
                           mean_face=faces.images.mean(0), mean_landmarks=landmarks.mean(0), seeds=[seed],
                           scores=scores)


def landmark_faces(params: LandmarkNotebook) -> tuple[FaceSet, np.ndarray]:
    """The faces and landmarks of notebook 04: its own landmarks (``lm_source``) on the faces that detector finds,
    else the study's."""
    from ..landmarks import detected, landmarks_for
    from .data import load_faces
    faces, lm = load_faces(params)
    if params.lm_source:
        lm = landmarks_for(faces, params.lm_source, params.landmark_file, params.cache_dir)
        found = detected(faces, params.lm_source, params.landmark_file, params.cache_dir)
        if not found.all():
            faces, lm = faces.subset(found, selection=params.lm_source), lm[found]
    return faces, lm


# ------------------------------------------------------------------------------------------ seeds as records
def seed_identity(faces: FaceSet, landmarks: np.ndarray, params: LandmarkNotebook, seed: int) -> dict:
    """What a seed's landmark results depend on: the faces, the landmarks, the parameters and the seed."""
    return {"kind": "landmarks", "version": LANDMARK_VERSION, "seed": seed,
            "data": {"name": faces.name, "faces": faces.selection, "fingerprint": faces.fingerprint(),
                     "landmarks": array_fingerprint(landmarks)},
            "params": {k: getattr(params, k) for k in _RESULT_PARAMS}}


def seed_record_name(identity: dict) -> str:
    """``landmarks-<source>-<faces>-s<seed>-<hash>`` (source: ``lm_source``, or ``study`` for the study's own)."""
    source = identity["params"]["lm_source"] or "study"
    return f"landmarks-{source}-{identity['data']['faces']}-s{identity['seed']}-{stable_hash(identity)}"


def landmark_seed(faces: FaceSet, landmarks: np.ndarray, params: LandmarkNotebook, seed: int, study: Study,
                  progress=print) -> LandmarkResults:
    """One seed's results: read from its record (the study's ledger, or its own records), else computed and
    recorded in the study's own records (``config.json``, ``results.json`` and ``.npz``, ``env.json``, and
    ``metrics.json`` last: its presence means finished)."""
    identity = seed_identity(faces, landmarks, params, seed)
    name = seed_record_name(identity)
    found = study.find(name)
    if found is not None:
        progress(f"{name}: recorded results reused from {found.dir.parent}")
        return LandmarkResults.load_file(found.dir / "results.json")
    t0, cpu0 = time.time(), time.process_time()
    results = explain_emotions(faces, landmarks, params, seed, progress)
    folder = study.records / name
    write_json(folder / "config.json", identity)
    results.save_file(folder / "results.json")
    seconds = time.time() - t0
    write_json(folder / "env.json", {"wall_seconds": round(seconds, 2), "cpu_seconds": round(time.process_time() - cpu0, 2),
                                     "cpu_count": os.cpu_count(), "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    write_json(folder / "metrics.json", {"summary": results.summary.to_dict("records")})
    progress(f"{name}: seed {seed} took {seconds / 60:.1f} min")
    return results


def explain_seeds(faces: FaceSet, landmarks: np.ndarray, params: LandmarkNotebook, study: Study | None = None,
                  progress=print) -> LandmarkResults:
    """Every seed of ``lm_seeds`` (each read from its record or computed), put together with the comparison of
    reduced and full sets over seeds and test faces (see :class:`LandmarkResults`)."""
    study = study or Study.of_params(params)
    per_seed, seconds, runs = [], {}, {}
    for seed in params.lm_seeds:
        r = landmark_seed(faces, landmarks, params, seed, study, progress)
        per_seed.append(r)
        record = study.find(seed_record_name(seed_identity(faces, landmarks, params, seed)))
        seconds[str(seed)], runs[str(seed)] = record.env.get("wall_seconds"), record.name
    first = per_seed[0]
    cat = {f.name: pd.concat([getattr(r, f.name) for r in per_seed], ignore_index=True)
           for f in fields(LandmarkResults) if f.name in ("relevance", "reduction", "summary", "completeness", "agreement")}
    # the relevance of every landmark is 3 methods x families x emotions x 468 values a seed: the study keeps the first
    # seed's, which the figures draw; every seed's stays in its record (results.json), read by landmark_seed
    cat["relevance"] = first.relevance
    combined = replace(first, **cat, kept={k: v for r in per_seed for k, v in r.kept.items()},
                       scores={k: v for r in per_seed for k, v in r.scores.items()},
                       seeds=list(params.lm_seeds), seconds=seconds, runs=runs)
    combined.comparison, combined.overall = compare_reduced(combined)
    return combined


def _balanced(logits: np.ndarray, targets: np.ndarray) -> float:
    pred, y = logits > 0, targets > 0.5
    tpr = (pred & y).sum() / max(y.sum(), 1)
    tnr = (~pred & ~y).sum() / max((~y).sum(), 1)
    return 100 * float(tpr + tnr) / 2


def jaccard(sets: list[list[int]]) -> float:
    """The mean Jaccard overlap of every pair of kept sets (1: every seed keeps the same landmarks)."""
    pairs = [(set(a), set(b)) for i, a in enumerate(sets) for b in sets[i + 1:]]
    return float(np.mean([len(a & b) / max(len(a | b), 1) for a, b in pairs])) if pairs else float("nan")


def _relative_change(ratios: np.ndarray) -> Estimate:
    """The change in % that per-seed ratios (reduced over full) make, their geometric mean, with a t-interval over
    seeds on the log scale (a size or a speed: no test-face noise)."""
    v = np.log(np.asarray(ratios, float))
    n = len(v)
    sd = float(v.std(ddof=1)) if n >= 2 else float("nan")
    half = t95(n) * sd / np.sqrt(n) if n >= 2 else float("nan")
    return Estimate(float(100 * np.expm1(v.mean())), float("nan"), float("nan"), n, 0,
                    lo=float(100 * np.expm1(v.mean() - half)), hi=float(100 * np.expm1(v.mean() + half)),
                    sd_seed=sd, se_test=0.0, scale="log")


def compare_reduced(results: LandmarkResults) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per emotion and family, and per family over emotions: the reduced set against the full set over seeds (and
    test faces, for the balanced accuracy: a bootstrap of the test faces, stratified by target, re-evaluates every
    seed's models on the same resampled faces)."""
    summary, rows, overall = results.summary, [], []
    if summary.empty:
        return pd.DataFrame(), pd.DataFrame()
    for family in dict.fromkeys(summary["family"]):
        emotions = [e for e in dict.fromkeys(summary["emotion"]) if f"{e}-{family}-{results.seeds[0]}" in results.scores]
        per_emotion = {}
        for emo in emotions:
            y = results.scores[emo]["targets"]
            full = np.stack([results.scores[f"{emo}-{family}-{s}"]["full"] for s in results.seeds])
            red = np.stack([results.scores[f"{emo}-{family}-{s}"]["reduced"] for s in results.seeds])
            per_emotion[emo] = (y, full, red)
            e = estimates(lambda i: np.mean([_balanced(r[i], y[i]) - _balanced(f[i], y[i]) for f, r in zip(full, red)]),
                          lambda i: np.array([[_balanced(r[i], y[i]) - _balanced(f[i], y[i])] for f, r in zip(full, red)]),
                          (y > 0.5).astype(int), draws=200)[0]
            sub = summary[(summary["family"] == family) & (summary["emotion"] == emo)]
            kept = sub["reduced landmarks"].to_numpy(float)
            speed = _relative_change(sub["reduced inference_us"].to_numpy(float) / sub["full inference_us"].to_numpy(float))
            size = _relative_change(sub["reduced parameters"].to_numpy(float) / sub["full parameters"].to_numpy(float))
            rows.append({"emotion": emo, "family": family, "seeds": len(results.seeds),
                         "full balanced accuracy": float(sub["full test_balanced_accuracy"].mean() * 100),
                         "reduced balanced accuracy": float(sub["reduced test_balanced_accuracy"].mean() * 100),
                         **_cols("delta", e), "kept": float(kept.mean()), "kept lo": float(kept.min()),
                         "kept hi": float(kept.max()), "landmarks": int(sub["full landmarks"].iloc[0]),
                         **_cols("time change", speed), **_cols("parameter change", size),
                         "overlap": jaccard([results.kept[f"{emo}/{family}/{s}"] for s in results.seeds])})
        if not per_emotion:
            continue
        # the claims are about the method, not one emotion: the mean over emotions, paired by seed; one bootstrap of
        # the test faces serves every emotion when they share them (emotion against the rest)
        shared = len({len(v[0]) for v in per_emotion.values()}) == 1
        if shared:
            # resamples keep the count of each combination of targets (each emotion's faces, and the rest)
            targets = np.stack([v[0] > 0.5 for v in per_emotion.values()], 1)
            strata = targets @ (2 ** np.arange(targets.shape[1]))
            e = estimates(lambda i: np.mean([np.mean([_balanced(r[i], y[i]) - _balanced(f[i], y[i])
                                                      for f, r in zip(full, red)]) for y, full, red in per_emotion.values()]),
                          lambda i: np.array([[np.mean([_balanced(red[k][i], y[i]) - _balanced(full[k][i], y[i])
                                                        for y, full, red in per_emotion.values()])]
                                              for k in range(len(results.seeds))]), strata, draws=200)[0]
        else:
            e = None
        sub = summary[summary["family"] == family]
        per_seed_time = sub.groupby("seed").apply(lambda g: np.exp(np.mean(np.log(
            g["reduced inference_us"] / g["full inference_us"]))), include_groups=False).to_numpy(float)
        per_seed_size = sub.groupby("seed").apply(lambda g: np.exp(np.mean(np.log(
            g["reduced parameters"] / g["full parameters"]))), include_groups=False).to_numpy(float)
        overall.append({"family": family, "emotions": len(per_emotion), "seeds": len(results.seeds),
                        **(_cols("delta", e) if e is not None else {}),
                        **_cols("time change", _relative_change(per_seed_time)),
                        **_cols("parameter change", _relative_change(per_seed_size)),
                        "kept": float(sub["reduced landmarks"].mean()),
                        "landmarks": int(sub["full landmarks"].iloc[0])})
    return pd.DataFrame(rows), pd.DataFrame(overall)


def _cols(prefix: str, e: Estimate) -> dict:
    return {prefix: e.value, f"{prefix} lo": e.lo, f"{prefix} hi": e.hi, f"{prefix} ci": e.half,
            f"{prefix} sd": e.sd_seed, f"{prefix} se_test": e.se_test, f"{prefix} seeds": e.seeds,
            f"{prefix} scale": e.scale}
