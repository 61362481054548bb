"""The package's layers, lowest first: a module may import only from its own layer or lower ones. A test checks every
import against this list (tests/test_structure.py), and the docs draw it (``perturb_lib.readme.architecture``).
"""
from __future__ import annotations

#: the package's layers, lowest first: a module may import only from its own layer or lower ones (a test checks
#: every import). Entries are module names relative to ``perturb_lib``; a package name covers its modules.
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    ("foundations", ("paths", "layers", "io", "params", "paper", "stats"),
     "paths, atomic writes, every parameter and default, the paper's numbers, intervals"),
    ("geometry and images", ("images", "geometry", "augment"),
     "pixel grids and shapes, blur and hash noise, batched augmentation"),
    ("data and landmarks", ("data", "landmarks"),
     "FaceSet and loaders, synthetic faces, published MaskFer; landmark layouts, providers and regions"),
    ("perturbation policies", ("policies",),
     "the InputPolicy interface; MaskFer masks, feature removal, the Perturb Scheme's clusters"),
    ("models", ("models",), "the model zoo and the CBAM spatial gate with its attention maps"),
    ("training and evaluation", ("metrics", "execution", "runs", "evaluate", "ledger", "train", "grid", "grid_ray",
                                 "tables", "saliency", "landmark_models"),
     "run records, the training loop, evaluation, grids; saliency methods and landmark classifiers; table helpers"),
    ("experiments", ("experiments",), "one module per notebook's experiment, each returning a results object"),
    ("figures and report", ("figures", "claims", "report", "plan", "explain", "readme"),
     "figures by concept, the paper's claims and their verdicts, one report function per artefact, the README's "
     "generated sections"),
    ("the pipeline", ("pipeline", "grow", "notebook_sync", "compare", "book"),
     "running a study's notebooks; keeping notebooks in sync; comparing a fresh study with the committed one"),
]
