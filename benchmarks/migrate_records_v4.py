"""One-off: migrate a committed study's records from the record form 3 to the form 4, without retraining.

    python benchmarks/migrate_records_v4.py --profile fer2013-cpu --data fer2013.csv --keys old_eval_keys.json

The form 4 names a record by what differs between the records of one model, policy and seed (the face set and the
precision: ``vgg16-clean-dlib-bf16-s0-<hash>``), records the face set in its identity (``data.faces``), and stores
each evaluation with the key it was made under (and ``EVAL_VERSION``) in place of a hash over source files. What a
record holds is otherwise unchanged: ``metrics.json``, ``history.csv``, ``env.json`` and ``logits.npz`` are copied
byte for byte, and each evaluation's logits are written again as they were.

``--keys`` maps every evaluation file of the form 3 to the key that named it. It was computed with the code of the
form 3 (commit c0a5622) from the same faces and landmarks, by enumerating every evaluation the notebooks ask for
(each policy of notebook 01 on each split and face set, with that code's source hash); every file was matched. Each
key is checked again here against the key the form-4 code computes from the faces it names.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from perturb_lib.evaluate import evaluation_file, evaluation_key, write_evaluation
from perturb_lib.experiments import MaskFerExperiment, load_faces
from perturb_lib.io import write_json
from perturb_lib.params import notebook_params
from perturb_lib.pipeline import study_values
from perturb_lib.runs import EVALS_DIR, RECORD_FILES, RECORD_VERSION, run_name
from perturb_lib.data.faces import SPLITS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--data")
    ap.add_argument("--keys", required=True, help="JSON: {old record name: {evaluation file: its form-3 key}}")
    a = ap.parse_args(argv)
    values = study_values(a.profile, None, {"data_path": a.data} if a.data else {})
    P = notebook_params("01_maskfer_degradation", values)
    faces, landmarks = load_faces(P)
    table1 = MaskFerExperiment(P, faces, landmarks)
    face_sets = {f.fingerprint(): (f, lm) for f, lm in ((faces, landmarks), (table1.faces, table1.landmarks))}
    print({fp: f.selection for fp, (f, _) in face_sets.items()})
    keys = json.loads(Path(a.keys).read_text())
    ledger = Path(values["figures_dir"]) / "records"
    old = sorted(p.parent for p in ledger.glob("*/metrics.json"))
    renamed: dict[str, str] = {}
    # phase-1 runs first: a Perturb run's identity holds its phase-1 run's name
    for folder in sorted(old, key=lambda f: json.loads((f / "config.json").read_text())["policy"]["kind"] == "perturb"):
        identity = json.loads((folder / "config.json").read_text())
        if identity["record_version"] != 3:
            raise SystemExit(f"{folder}: record form {identity['record_version']}, not 3")
        fp = identity["data"]["fingerprint"]
        if fp not in face_sets:
            raise SystemExit(f"{folder}: trained on faces {fp} that are neither every face nor Table 1's")
        identity["data"]["faces"] = face_sets[fp][0].selection
        identity["record_version"] = RECORD_VERSION
        if identity["policy"]["kind"] == "perturb":
            identity["policy"]["phase1"] = renamed[identity["policy"]["phase1"]]
        name = run_name(identity)
        target = ledger / name
        if target.exists():
            raise SystemExit(f"{target} exists")
        target.mkdir()
        write_json(target / "config.json", identity)
        for f in RECORD_FILES:
            if f != "config.json":
                shutil.copyfile(folder / f, target / f)
        for path in sorted((folder / EVALS_DIR).glob("*.npz")):
            old_key = keys[folder.name][path.name]
            f, lm = face_sets[old_key["data"]]
            key = evaluation_key(old_key["policy"], old_key["split"], f, lm, old_key["tta"], old_key["precision"])
            expected = {k: v for k, v in old_key.items() if k not in ("code", "faces")}
            if {k: v for k, v in key.items() if k not in ("faces", "eval_version")} != expected:
                raise SystemExit(f"{path}: the form-4 key {key} does not match its form-3 key {old_key}")
            with np.load(path, allow_pickle=False) as z:
                logits, labels = z["logits"], z["labels"]
            ids = f.ids[f.splits == SPLITS.index(key["split"])]
            if not np.array_equal(labels, f.labels[f.splits == SPLITS.index(key["split"])]):
                raise SystemExit(f"{path}: its labels are not those of the faces its key names")
            write_evaluation(target / EVALS_DIR / evaluation_file(key), key, logits, labels, ids)
        renamed[folder.name] = name
        shutil.rmtree(folder)
        print(f"{folder.name} -> {name} ({len(list((target / EVALS_DIR).glob('*.npz')))} evaluations)")
    Path(a.keys).with_suffix(".renamed.json").write_text(json.dumps(renamed, indent=1, sort_keys=True))
    # the published results name the records: renamed there too (every string that is an old name)
    for doc in sorted((Path(values["figures_dir"]) / "results").glob("*.json")):
        text = json.loads(doc.read_text())
        write_json(doc, _rename(text, renamed))
    return 0


def _rename(value, renamed: dict[str, str]):
    if isinstance(value, str):
        return renamed.get(value, value)
    if isinstance(value, list):
        return [_rename(v, renamed) for v in value]
    if isinstance(value, dict):
        return {k: _rename(v, renamed) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main())
