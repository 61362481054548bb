"""Notebook parameters: one spec per notebook, validated by the library (papermill itself only warns).

Each notebook's ``parameters`` cell repeats the defaults declared here (a test keeps them equal), and its next
cell calls :func:`check_parameters`, which stops the run at once when a name is unknown, a value has the wrong
type, a model, dataset or choice is not one of the valid ones, or a data path does not exist. Messages name
the parameter and list what is valid.
"""
from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from .paths import resolve


class ParameterError(ValueError):
    """A notebook parameter is unknown, mistyped or out of its valid choices."""


@dataclass(frozen=True)
class Param:
    """One notebook parameter.

    Args:
        name: the variable name in the notebook.
        default: the value in the notebook's parameters cell (the CPU default).
        kind: ``str``, ``int``, ``float``, ``bool``, ``list[str]``, ``list[int]``, ``list[float]`` or ``path``
            (a string path or None; must exist when given).
        help: one line for the parameters cell and error messages.
        choices: valid values (for lists: valid items), or a callable returning them.
        optional: ``None`` is allowed.
    """

    name: str
    default: Any
    kind: str
    help: str
    choices: Any = None
    optional: bool = False

    def valid_choices(self):
        return self.choices() if callable(self.choices) else self.choices


def _models():
    from .models import MODELS
    return tuple(MODELS)


def _attention_models():
    from .models import ATTENTION_MODELS
    return ATTENTION_MODELS


def _datasets():
    from .data import DATASETS
    return DATASETS


def _regions():
    from .perturb import REMOVAL_REGIONS
    return REMOVAL_REGIONS


def _methods():
    from .saliency import METHODS
    return tuple(METHODS)


# ------------------------------------------------------------------------------------------ the specs
_DATA = [
    Param("dataset", "synthetic", "str", "synthetic | fer2013 | ferplus", _datasets),
    Param("data_path", None, "path", "FER2013 CSV, image-folder root or .npz (not for synthetic)", optional=True),
    Param("size", 0.1, "float", "synthetic only: fraction of FER2013's size"),
    Param("data_seed", 0, "int", "synthetic only: generator seed"),
]
_OUT = [
    Param("study_dir", "runs/cpu", "str", "run records and executed notebooks of this study"),
    Param("figures_dir", "figures/cpu", "str", "where figures and tables are written"),
]
_LANDMARKS = [
    Param("landmark_source", "auto", "str", "auto | ground_truth | template | file",
          ("auto", "ground_truth", "template", "file")),
    Param("landmark_file", None, "path", "CSV/NPZ of landmarks keyed by image id (landmark_source='file')",
          optional=True),
]
_TRAIN = [
    Param("width", 0.125, "float", "channel-width multiplier of every model (paper: 1.0)"),
    Param("dropout", 0.0, "float", "dropout of VGG16/ResMasking (paper: 0.4; narrow CPU models need 0)",
          optional=True),
    Param("epochs", 10, "int", "training epochs (paper: 200)"),
    Param("batch_size", 64, "int", "training batch size"),
    Param("lr", 0.02, "float", "initial SGD learning rate (paper: 0.01; 10 CPU epochs need more)"),
    Param("warmup_epochs", 1.0, "float", "linear LR warm-up epochs (paper: none; narrow nets need it)"),
    Param("seeds", [0, 1, 2], "list[int]", "training seeds; tables report mean and 95% interval over them"),
    Param("val_split", "PublicTest", "str", "split that selects checkpoints", ("PublicTest", "PrivateTest")),
    Param("test_split", "PrivateTest", "str", "split that is only ever tested on", ("PublicTest", "PrivateTest")),
    Param("tta", "none", "str", "test-time augmentation: none | tencrop", ("none", "tencrop")),
    Param("device", "auto", "str", "auto | cpu | cuda", ("auto", "cpu", "cuda")),
    Param("backend", "sequential", "str", "grid backend: sequential | ray", ("sequential", "ray")),
    Param("ray_address", None, "str", "Ray cluster address (backend='ray'); None starts Ray locally",
          optional=True),
]

def _styles():
    from .perturb import MASK_STYLES
    return MASK_STYLES


def _fills():
    from .perturb import FILLS
    return FILLS


NOTEBOOK_PARAMS: dict[str, list[Param]] = {
    "00_data": _DATA + _OUT + _LANDMARKS + [
        Param("samples_per_emotion", 6, "int", "faces shown per emotion in the sample grid"),
    ],
    "01_maskfer_degradation": _DATA + _OUT + _LANDMARKS + [
        Param("models", ["vgg16"], "list[str]", "models for Table 1; several add an ensemble (paper: five)",
              _models),
    ] + _TRAIN + [
        Param("mask_style", "n95", "str", "generated mask style: n95 | surgical | cloth", _styles),
        Param("maskfer_path", None, "path", "published MaskFer image folders (None: masks drawn from landmarks)",
              optional=True),
        Param("removal_regions", ["eyes", "brows", "nose", "mouth", "upper_face", "lower_face"], "list[str]",
              "regions removed at test time from clean-trained models", _regions),
        Param("removal_fill", "mean", "str", "what replaces a removed region: mean | blur | noise", _fills),
        Param("removal_model", "vgg16", "str", "model trained with a region removed", _models),
        Param("removal_train_regions", ["eyes", "mouth"], "list[str]", "regions removed in training and test",
              _regions),
        Param("removal_train_seeds", [0], "list[int]", "seeds of the removal-trained runs"),
    ],
    "03_perturb_scheme": _DATA + _OUT + _LANDMARKS + _TRAIN + [
        Param("perturb_models", ["vgg16"], "list[str]", "backbones for Tables 2-3 (paper: VGG16, ResNet, DPN)", _models),
        Param("attention_model", None, "str", "phase-1 model (None: the first backbone with spatial gates)",
              _attention_models, optional=True),
        Param("n_clusters", 3, "int", "clusters k of the scheme (paper: 3)"),
        Param("cluster_sweep", [1, 2, 3, 4], "list[int]", "cluster counts of Figure 5"),
        Param("sweep_model", "vgg16", "str", "backbone of the Figure 5 sweep (paper: VGG16)", _models),
        Param("sweep_seeds", [0], "list[int]", "seeds of the Figure 5 sweep"),
        Param("lam", 1.5, "float", "Eq. 1 weight of pixel distance (paper: 1.5)"),
        Param("alpha", 1.2, "float", "Eq. 1 weight of intensity distance (paper: 1.2)"),
        Param("cluster_features", "intensity", "str", "Eq. 1 third coordinate: intensity (paper) | attention (code)",
              ("intensity", "attention")),
        Param("cluster_selection", "top", "str", "pixels clustered: top attention (paper) | all (code)", ("top", "all")),
        Param("top_fraction", 0.2, "float", "share of highest-attention pixels clustered"),
        Param("cluster_scope", "shared", "str", "one map per epoch (paper) | per_image", ("shared", "per_image")),
        Param("cluster_sample", 256, "int", "training faces behind each shared map"),
        Param("masking", "random", "str", "random cluster per face (default) | copies (code: k+1 copies)",
              ("random", "copies")),
        Param("fill_value", 0.5, "float", "value of masked pixels in [0, 1] (0.5: the network's zero; 0: black)"),
        Param("test_policy", "plain", "str", "plain (paper) | sum (code: logits summed over copies)", ("plain", "sum")),
    ],
    "04_landmark_explainability": _DATA + _OUT + _LANDMARKS + [
        Param("lm_features", "auto", "str", "coords | displacement | both (auto: both when neutral faces are known)",
              ("auto", "coords", "displacement", "both")),
        Param("lm_task", "rest", "str", "each emotion against the rest, or against neutral only", ("rest", "neutral")),
        Param("lm_families", ["mlp", "random"], "list[str]", "binary model families compared", ("mlp", "random")),
        Param("lm_emotions", ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"], "list[str]",
              "emotions explained", ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")),
        Param("lm_hidden", 64, "int", "MLP hidden width"),
        Param("lm_epochs", 40, "int", "MLP training epochs"),
        Param("random_hidden", [512, 512], "list[int]", "widths of the randomised network's fixed layers"),
        Param("ridge", 0.01, "float", "ridge penalty of the randomised network's readout"),
        Param("ig_baselines", 5, "int", "typical negative samples used as IG baselines (medoids)"),
        Param("ig_steps", 32, "int", "Integrated Gradients steps"),
        Param("lm_step", 8, "int", "landmarks dropped per reduction step"),
        Param("lm_tolerance", 0.01, "float", "kept set: smallest within this of the best validation score"),
        Param("lm_seed", 0, "int", "seed of the landmark models"),
        Param("val_split", "PublicTest", "str", "split that selects the landmark set", ("PublicTest", "PrivateTest")),
        Param("test_split", "PrivateTest", "str", "split that is only ever tested on", ("PublicTest", "PrivateTest")),
    ],
    "05_figures": _DATA + _OUT + _LANDMARKS + [
        Param("saliency_model", "vgg16", "str", "which of notebook 01's models Figure 1 explains", _models),
        Param("figure_method", "saliency", "str", "method drawn in Figures 1 and 6", _methods),
        Param("device", "auto", "str", "auto | cpu | cuda", ("auto", "cpu", "cuda")),
    ],
    "02_saliency": _DATA + _OUT + _LANDMARKS + [
        Param("saliency_model", "vgg16", "str", "which of notebook 01's models to explain", _models),
        Param("saliency_methods", list(("saliency", "integrated_gradients", "smoothgrad", "gradcam",
                                        "guided_gradcam", "occlusion")), "list[str]", "Captum methods compared",
              _methods),
        Param("figure_method", "saliency", "str", "method drawn in Figures 1 and 6", _methods),
        Param("per_emotion", 10, "int", "test faces per emotion for mean maps and region tables"),
        Param("saliency_target", "true", "str", "explain the true or the predicted class", ("true", "pred")),
        Param("sanity_images", 32, "int", "faces used by the randomisation and deletion checks"),
        Param("device", "auto", "str", "auto | cpu | cuda", ("auto", "cpu", "cuda")),
    ],
}


def study_parameter_names() -> set[str]:
    """Every parameter name any notebook of the study knows."""
    return {p.name for spec in NOTEBOOK_PARAMS.values() for p in spec}


def defaults(notebook: str) -> dict[str, Any]:
    """The default value of each parameter of a notebook."""
    return {p.name: p.default for p in _spec(notebook)}


def _spec(notebook: str) -> list[Param]:
    if notebook not in NOTEBOOK_PARAMS:
        raise ParameterError(f"unknown notebook {notebook!r}; known: {', '.join(NOTEBOOK_PARAMS)}")
    return NOTEBOOK_PARAMS[notebook]


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_parameters(notebook: str, namespace: dict[str, Any]) -> types.SimpleNamespace:
    """Validate a notebook's parameters and return them (coerced) as attributes.

    Args:
        notebook: the notebook's name, e.g. ``"01_maskfer_degradation"``.
        namespace: the notebook's ``globals()`` after the parameters cell (and papermill's injected cell).

    Returns:
        A namespace with one attribute per parameter of the notebook.

    Raises:
        ParameterError: naming the parameter and listing what is valid.
    """
    spec = {p.name: p for p in _spec(notebook)}
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON_NAMES
             and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))}
    unknown = sorted(set(given) - set(spec) - study_parameter_names())
    if unknown:
        raise ParameterError(f"{notebook}: unknown parameter(s) {', '.join(unknown)}; "
                             f"this notebook takes: {', '.join(spec)}")
    missing = [n for n in spec if n not in given]
    if missing:
        raise ParameterError(f"{notebook}: parameter(s) {', '.join(missing)} not set; "
                             "the parameters cell must define every parameter")
    out = {name: _coerce(notebook, spec[name], given[name]) for name in spec}
    _check_paths(notebook, out)
    return types.SimpleNamespace(**out)


def _coerce(notebook: str, p: Param, value: Any) -> Any:
    where = f"{notebook}: parameter {p.name!r}"
    if value is None:
        if p.optional:
            return None
        raise ParameterError(f"{where} must not be None ({p.help})")
    kind = p.kind
    if kind == "path":
        if isinstance(value, PurePath):
            value = str(value)
        if not isinstance(value, str):
            raise ParameterError(f"{where} must be a path string, got {type(value).__name__} {value!r}")
        return value
    if kind.startswith("list["):
        item_kind = kind[5:-1]
        if isinstance(value, str):  # `-p models vgg16,resnet18` on papermill's command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and item_kind != "str":
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where} must be a list of {item_kind}, got {type(value).__name__} {value!r}")
        items = [_scalar(where, item_kind, v) for v in value]
        choices = p.valid_choices()
        bad = [v for v in items if choices is not None and v not in choices]
        if bad:
            raise ParameterError(f"{where}: {bad[0]!r} is not valid; choose from {', '.join(map(str, choices))}")
        return items
    out = _scalar(where, kind, value)
    choices = p.valid_choices()
    if choices is not None and out not in choices:
        raise ParameterError(f"{where}: {out!r} is not valid; choose from {', '.join(map(str, choices))}")
    return out


def _scalar(where: str, kind: str, value: Any) -> Any:
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    raise ParameterError(f"{where} must be {kind}, got {type(value).__name__} {value!r}")


def _check_paths(notebook: str, values: dict[str, Any]) -> None:
    if values.get("dataset") not in (None, "synthetic"):
        if not values.get("data_path"):
            raise ParameterError(f"{notebook}: parameter 'data_path' is required for dataset={values['dataset']!r}")
    for name in ("data_path", "landmark_file", "maskfer_path"):
        if values.get(name) and not resolve(values[name]).exists():
            raise ParameterError(f"{notebook}: parameter {name!r}: {resolve(values[name])} does not exist")
    if values.get("landmark_source") == "file" and not values.get("landmark_file"):
        raise ParameterError(f"{notebook}: parameter 'landmark_file' is required for landmark_source='file'")
    if values.get("val_split") is not None and values.get("val_split") == values.get("test_split"):
        raise ParameterError(f"{notebook}: parameters 'val_split' and 'test_split' must differ "
                             "(checkpoints are never chosen on the test split)")
