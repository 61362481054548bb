"""Keep each notebook and its py:percent twin in sync (jupytext); the `.py` is the reviewed source.

    python -m perturb_lib.notebook_sync --write   # rebuild notebooks/*.ipynb from notebooks/*.py
    python -m perturb_lib.notebook_sync --check   # exit 1 if a pair differs or a notebook carries outputs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .paths import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"


def _from_py(py: Path):
    import jupytext
    nb = jupytext.read(py)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding an unchanged notebook changes no byte
        cell["id"] = f"{py.stem[:2]}-{i:02d}"
    return nb


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(sorted(c.metadata.get("tags", [])))) for c in nb.cells]


def problems(notebook_dir: Path = NOTEBOOK_DIR) -> list[str]:
    """What is out of sync: missing twins, differing cells, outputs stored in source notebooks."""
    import nbformat
    out = []
    pys = {p.stem: p for p in notebook_dir.glob("*.py")}
    nbs = {p.stem: p for p in notebook_dir.glob("*.ipynb")}
    for name in sorted(set(pys) | set(nbs)):
        if name not in nbs:
            out.append(f"{name}.ipynb is missing (run `make notebooks`)")
            continue
        nb = nbformat.read(nbs[name], as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            out.append(f"{name}.ipynb carries outputs; source notebooks are committed without them")
        if name not in pys:
            out.append(f"{name}.py is missing (its py:percent twin)")
        elif _cells(nb) != _cells(_from_py(pys[name])):
            out.append(f"{name}.ipynb and {name}.py differ (edit the .py, then `make notebooks`)")
    return out


def write(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Rebuild every `.ipynb` from its `.py` twin (no outputs)."""
    import jupytext
    written = []
    for py in sorted(notebook_dir.glob("*.py")):
        target = py.with_suffix(".ipynb")
        jupytext.write(_from_py(py), target, fmt="ipynb")
        written.append(target)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rebuild .ipynb from .py")
    ap.add_argument("--check", action="store_true", help="report differences; exit 1 if any")
    a = ap.parse_args(argv)
    if a.write:
        for p in write():
            print(f"wrote {p.relative_to(PROJECT_ROOT)}")
    found = problems()
    for line in found:
        print(line)
    return 1 if (a.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
