"""Keep the notebooks in sync with the library: each notebook's ``parameters`` cell is generated from its
parameter class (:data:`perturb_lib.params.NOTEBOOKS`), and each ``.ipynb`` from its py:percent twin (the
reviewed source, via jupytext).

    python -m perturb_lib.notebook_sync --write   # regenerate the parameters cells, then every .ipynb
    python -m perturb_lib.notebook_sync --check   # exit 1 if anything is out of sync or a notebook has outputs
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .io import atomic_path, atomic_write_text
from .params import NOTEBOOKS
from .paths import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
_PARAMETERS_CELL = re.compile(r'(# %% tags=\["parameters"\]\n)(.*?)(\n# %%)', re.S)


def parameter_groups(cls) -> list[tuple[str, list[str]]]:
    """A notebook's parameters as ``(title, names)``: its own first, then each shared group's, in the order its
    :func:`~perturb_lib.params.compose` lists them."""
    from dataclasses import fields
    parts = [k for k in cls.parts() if k is not cls]
    shared = {n for part in parts for n in part.__dict__.get("__annotations__", {})}
    groups = [("this notebook's own parameters", [f.name for f in fields(cls) if f.name not in shared])]
    seen = set(groups[0][1])
    for part in parts:
        names = [n for n in part.__dict__.get("__annotations__", {}) if n not in seen]
        if names:
            groups.append((_title(part), names))
            seen |= set(names)
    return [(title, names) for title, names in groups if names]


def _title(group) -> str:
    """A group's first sentence (its docstring's, up to the first full stop that ends no ellipsis)."""
    import re
    text = " ".join((group.__doc__ or group.__name__).strip().split("\n\n")[0].split())
    return re.split(r"(?<!\.)\.(?:\s|$)", text, maxsplit=1)[0] + "."


def parameters_cell(notebook: str) -> str:
    """The generated body of a notebook's parameters cell: ``name = default  # type: doc`` per parameter, the
    notebook's own parameters first, then the shared groups, each under its title."""
    cls = NOTEBOOKS[notebook]
    docs, types, defaults = cls.docs(), cls.type_names(), cls.defaults()
    lines = []
    for title, names in parameter_groups(cls):
        lines.append(f"# --- {title}")
        lines += [f"{name} = {defaults[name]!r}  # {types[name]}: {docs[name]}" for name in names]
    return "\n".join(lines)


def _with_generated_parameters(py: Path) -> str:
    text = py.read_text()
    if py.stem not in NOTEBOOKS:
        return text
    if not _PARAMETERS_CELL.search(text):
        raise ValueError(f"{py}: no cell tagged 'parameters'")
    return _PARAMETERS_CELL.sub(lambda m: m.group(1) + parameters_cell(py.stem) + "\n" + m.group(3), text, count=1)


def _from_py(text: str, stem: str):
    import jupytext
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding an unchanged notebook changes no byte
        cell["id"] = f"{stem[:2]}-{i:02d}"
    return nb


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(sorted(c.metadata.get("tags", [])))) for c in nb.cells]


def problems(notebook_dir: Path = NOTEBOOK_DIR) -> list[str]:
    """What is out of sync: generated parameters cells, missing twins, differing cells, stored outputs."""
    import nbformat
    out = []
    pys = {p.stem: p for p in notebook_dir.glob("*.py")}
    nbs = {p.stem: p for p in notebook_dir.glob("*.ipynb")}
    for name in sorted(set(pys) | set(nbs) | set(NOTEBOOKS)):
        if name not in pys:
            out.append(f"{name}.py is missing (the py:percent source of the notebook)")
            continue
        if pys[name].read_text() != _with_generated_parameters(pys[name]):
            out.append(f"{name}.py: its parameters cell differs from perturb_lib.params (run `make notebooks`)")
        if name not in nbs:
            out.append(f"{name}.ipynb is missing (run `make notebooks`)")
            continue
        nb = nbformat.read(nbs[name], as_version=4)
        if any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"):
            out.append(f"{name}.ipynb carries outputs; source notebooks are committed without them")
        if _cells(nb) != _cells(_from_py(pys[name].read_text(), name)):
            out.append(f"{name}.ipynb and {name}.py differ (edit the .py, then `make notebooks`)")
    return out


def write(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Regenerate every parameters cell in the ``.py`` sources, then rebuild every ``.ipynb`` (no outputs)."""
    import jupytext
    written = []
    for py in sorted(notebook_dir.glob("*.py")):
        text = _with_generated_parameters(py)
        if text != py.read_text():
            atomic_write_text(py, text)
            written.append(py)
        target = py.with_suffix(".ipynb")
        with atomic_path(target) as tmp:
            jupytext.write(_from_py(text, py.stem), tmp, fmt="ipynb")
        written.append(target)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="regenerate parameters cells and .ipynb files")
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
