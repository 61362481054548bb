"""The README's generated sections: the package's layers, the parameter table, and the results, each between
``<!-- BEGIN generated: <name> -->`` and ``<!-- END generated: <name> -->``. Typed by hand they would drift
from the code and the committed tables; a test fails when the README and this module disagree.

    python -m perturb_lib.readme --write    # rewrite the generated sections (make readme)
    python -m perturb_lib.readme --check    # exit 1 if the README is stale
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .params import NOTEBOOKS
from .paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"

#: the package's layers, lowest first: a module may import only from its own layer or lower ones (a test checks
#: every import). Entries are module names relative to ``perturb_lib``; a package name covers its modules.
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("foundations", ("paths", "io", "params", "paper", "stats"),
     "paths, atomic writes, every parameter and default, the paper's numbers, intervals"),
    ("geometry and images", ("images", "geometry", "augment"),
     "pixel grids and shapes, blur and hash noise, batched augmentation"),
    ("data and landmarks", ("data", "landmarks"),
     "FaceSet and loaders, synthetic faces, published MaskFer; landmark layouts, providers and regions"),
    ("perturbation policies", ("policies",),
     "the InputPolicy interface; MaskFer masks, feature removal, the Perturb Scheme's clusters"),
    ("models", ("models",), "the model zoo and the CBAM spatial gate with its attention maps"),
    ("training and evaluation", ("metrics", "execution", "runs", "evaluate", "train", "grid", "grid_ray", "tables",
                                 "saliency", "landmark_models"),
     "run records, the training loop, evaluation, grids; saliency methods and landmark classifiers; table helpers"),
    ("experiments", ("experiments",), "one module per notebook's experiment, each returning a results object"),
    ("figures and report", ("figures", "report", "readme"),
     "figures by concept, one report function per artefact, the README's generated sections"),
    ("the pipeline", ("pipeline", "notebook_sync"), "running a study's notebooks; keeping notebooks in sync"),
]


def layer_of(module: str) -> int:
    """The layer index of a module (``perturb_lib.x.y`` or ``x.y``)."""
    name = module.removeprefix("perturb_lib.")
    for i, (_, members, _) in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in members):
            return i
    raise KeyError(f"module {module!r} is in no layer of perturb_lib.readme.LAYERS")


def architecture() -> str:
    """The layer diagram (lowest at the bottom; imports point down) with what each layer owns."""
    width = max(len(name) for name, _, _ in LAYERS)
    lines = ["```text"]
    for i, (name, members, what) in enumerate(reversed(LAYERS)):
        if i:
            lines.append(f"{'':<4}│")
            lines.append(f"{'':<4}▼")
        lines.append(f"{name:<{width}}   {', '.join(members)}")
        lines.append(f"{'':<{width}}   ({what})")
    lines.append("```")
    return "\n".join(lines)


def parameters_table() -> str:
    """Every parameter: the notebooks that take it, its type, its default and its one-line doc."""
    rows: dict[str, list] = {}
    for notebook, cls in NOTEBOOKS.items():
        docs, types = cls.docs(), cls.type_names()
        for name, default in cls.defaults().items():
            row = rows.setdefault(name, [[], types[name], default, docs[name]])
            row[0].append(notebook[:2])
    out = ["| parameter | notebooks | type | default | what it sets |", "|---|---|---|---|---|"]
    for name, (nbs, tp, default, doc) in rows.items():
        out.append(f"| `{name}` | {', '.join(nbs)} | {tp.replace('|', '&#124;')} | `{default!r}` | "
                   f"{doc.replace('|', '&#124;')} |")
    return "\n".join(out)


GENERATORS = {"architecture": architecture, "parameters": parameters_table}
_BLOCK = re.compile(r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)", re.S)


def render(text: str) -> str:
    """The README text with every generated section rewritten."""
    return _BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group("name")]() + "\n" + m.group(4), text)


def stale(path: Path = README) -> list[str]:
    """Names of the generated sections that differ from what the code and tables give (empty: in sync)."""
    text = path.read_text()
    fresh = render(text)
    return [m.group("name") for m, n in zip(_BLOCK.finditer(text), _BLOCK.finditer(fresh)) if m.group(0) != n.group(0)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the generated sections")
    ap.add_argument("--check", action="store_true", help="exit 1 when a generated section is stale")
    a = ap.parse_args(argv)
    if a.write:
        README.write_text(render(README.read_text()))
    found = stale()
    for name in found:
        print(f"README.md: generated section {name!r} is stale (run `make readme`)")
    return 1 if (a.check and found) else 0


if __name__ == "__main__":
    sys.exit(main())
