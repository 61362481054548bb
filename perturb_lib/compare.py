"""Compare a fresh study with the committed one, cell by cell.

    python -m perturb_lib.compare --study cpu          # runs/cpu/results against figures/cpu/results at git HEAD
    python -m perturb_lib.compare --fresh runs/x/results --committed figures/cpu/results

Bitwise results hold only on one machine and software stack (the same CPU kind, torch, threads and precision):
elsewhere the arithmetic differs in its last bits and training amplifies that into other models. What should
hold is statistical: every number of a fresh study should fall inside the committed study's 95 % prediction
interval for one more run (``pred``). This command reads every table of every results object (``mean`` and
``pred`` columns) in both studies, matches cells by their labels, and lists those outside the committed
interval, those the committed study gives no interval for (one seed), and those in only one of the two.
It exits with 1 when a cell falls outside.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .paths import PROJECT_ROOT, resolve

STATS = {"mean", "ci", "pred", "seeds", "test_faces", "few", "verdict", "unit", "lo", "hi", "pred_lo", "pred_hi",
         "sd_seed", "se_test", "base_correct", "estimable"}


def tables(doc: dict) -> dict[str, pd.DataFrame]:
    """The long tables of a results document (fields stored as frames with ``mean`` and ``pred`` columns)."""
    out = {}
    for name, value in doc.items():
        if isinstance(value, dict) and "__frame__" in value:
            frame = pd.DataFrame(value["__frame__"])
            if {"mean", "pred"} <= set(frame.columns):
                out[name] = frame
    return out


def compare_tables(fresh: pd.DataFrame, committed: pd.DataFrame, where: str) -> list[dict]:
    """One row per cell: its labels, the fresh and committed means, the committed prediction interval (``lo``,
    ``hi``: its bounds where they are not symmetric, as a relative change's, else the mean ± ``pred``) and the
    outcome (``inside``, ``outside``, ``no interval``, ``only fresh``, ``only committed``)."""
    keys = [c for c in committed.columns if c not in STATS and c in fresh.columns
            and not pd.api.types.is_numeric_dtype(committed[c]) and not pd.api.types.is_bool_dtype(committed[c])]
    if not keys:  # a table of one cell, or one labelled by position only
        keys = ["position"]
        fresh, committed = fresh.assign(position=range(len(fresh))), committed.assign(position=range(len(committed)))
    merged = fresh.merge(committed, on=keys, how="outer", suffixes=("_fresh", "_committed"), indicator=True)
    rows = []
    for _, r in merged.iterrows():
        cell = ", ".join(str(r[k]) for k in keys)
        base = {"table": where, "cell": cell, "fresh": r.get("mean_fresh"), "committed": r.get("mean_committed"),
                "pred": r.get("pred_committed")}
        if r["_merge"] != "both":
            rows.append({**base, "outcome": "only fresh" if r["_merge"] == "left_only" else "only committed"})
            continue
        f, c, p = (_num(base[k]) for k in ("fresh", "committed", "pred"))
        # a column only the committed table has keeps its name in the merge; one both have gets the suffix
        lo = _num(r.get("pred_lo_committed", r.get("pred_lo") if "pred_lo" not in fresh else None))
        hi = _num(r.get("pred_hi_committed", r.get("pred_hi") if "pred_hi" not in fresh else None))
        if math.isnan(lo) or math.isnan(hi):  # a symmetric interval given by its half-width
            lo, hi = c - p, c + p
        base.update(lo=lo, hi=hi)
        if math.isnan(f) and math.isnan(c):
            continue
        if math.isnan(lo) or math.isnan(hi) or math.isnan(f):
            rows.append({**base, "outcome": "no interval"})
        else:
            rows.append({**base, "outcome": "inside" if lo <= f <= hi else "outside"})
    return rows


def compare_studies(fresh_dir: Path, committed: dict[str, dict]) -> pd.DataFrame:
    """Every cell of every results object present in both studies."""
    rows = []
    for name, doc in sorted(committed.items()):
        path = fresh_dir / name
        if not path.is_file():
            continue
        mine = tables(json.loads(path.read_text()))
        for field, table in tables(doc).items():
            if field in mine:
                rows += compare_tables(mine[field], table, f"{Path(name).stem}.{field}")
    return pd.DataFrame(rows, columns=["table", "cell", "fresh", "committed", "pred", "lo", "hi", "outcome"])


def committed_results(study: str | None, folder: str | None, revision: str = "HEAD") -> dict[str, dict]:
    """The committed results documents: a folder's, or ``figures/<study>/results`` as ``revision`` has them."""
    if folder:
        return {p.name: json.loads(p.read_text()) for p in sorted(resolve(folder).glob("*.json"))}
    rel = f"figures/{study}/results"
    listing = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-tree", "--name-only", f"{revision}:{rel}"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise SystemExit(f"no committed {rel} at {revision}: {listing.stderr.strip()}")
    out = {}
    for name in listing.stdout.split():
        if name.endswith(".json"):
            text = subprocess.run(["git", "-C", str(PROJECT_ROOT), "show", f"{revision}:{rel}/{name}"],
                                  capture_output=True, text=True, check=True).stdout
            out[name] = json.loads(text)
    return out


def _num(x) -> float:
    try:
        return float(x) if x is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perturb_lib.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default="cpu", help="the study (fresh: runs/<study>/results; committed: "
                                                   "figures/<study>/results at --revision)")
    ap.add_argument("--fresh", help="the fresh study's results folder (default: runs/<study>/results)")
    ap.add_argument("--committed", help="a folder of committed results (default: from git)")
    ap.add_argument("--revision", default="HEAD", help="the git revision of the committed results")
    a = ap.parse_args(argv)
    fresh = resolve(a.fresh or f"runs/{a.study}/results")
    if not fresh.is_dir():
        print(f"error: {fresh} does not exist: run the study first (make study STUDY={a.study})", file=sys.stderr)
        return 2
    table = compare_studies(fresh, committed_results(a.study, a.committed, a.revision))
    counts = table["outcome"].value_counts().to_dict()
    print(f"{len(table)} cells compared: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    outside = table[table["outcome"] == "outside"]
    if len(outside):
        print("cells outside the committed 95 % prediction interval for one more run:")
        for _, r in outside.iterrows():
            print(f"  {r['table']} [{r['cell']}]: fresh {r['fresh']:.2f}, committed {r['committed']:.2f} "
                  f"(one more run: {r['lo']:.2f} to {r['hi']:.2f})")
    return 1 if len(outside) else 0


if __name__ == "__main__":
    sys.exit(main())
