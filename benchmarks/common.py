"""What the benchmark scripts share (each runs as ``python benchmarks/<script>.py``; this file sits beside them)."""
from __future__ import annotations

import csv
from pathlib import Path

from perturb_lib.io import atomic_path


def merge_rows(path: Path, rows: list[dict], fields: list[str], order: list[str] | None = None) -> None:
    """Merge rows into a CSV keyed by their ``tag`` (a row of the same tag is replaced), atomically, in ``order`` of
    tags when given: an interrupted search keeps every row it wrote."""
    known = {r["tag"]: r for r in csv.DictReader(open(path))} if Path(path).is_file() else {}
    known.update({r["tag"]: r for r in rows})
    rank = {tag: i for i, tag in enumerate(order or [])}
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(sorted(known.values(), key=lambda r: rank.get(r["tag"], len(rank))) if order else known.values())
