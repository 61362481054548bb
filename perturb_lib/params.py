"""Every default of the study, once: typed parameter dataclasses with a one-line doc per field.

Shared groups (:class:`Output`, :class:`Data`, :class:`Recipe`, :class:`Execution`, :class:`SchemeOptions`) are
composed into one dataclass per notebook (:func:`compose`; :data:`NOTEBOOKS`, which is also the study's notebook
list, in order): the notebook's own fields first, then each group's, in the order its ``compose`` lists them.
From these classes:

* each notebook's ``parameters`` cell is generated (``make notebooks``; a test keeps them in sync);
* :class:`perturb_lib.train.TrainConfig` takes its recipe defaults (it subclasses :class:`Recipe`);
* the README's parameter table is generated (``make readme``);
* profiles (``profiles/*.yaml``) hold only what differs.

The defaults are the CPU recipe on synthetic faces (the embedded default); ``profiles/paper.yaml`` holds the
paper's. Values are validated and coerced when an instance is made: an unknown name, a wrong type, a value
outside its choices or a missing path stops the run at once, naming the parameter and what is valid.
"""
from __future__ import annotations

import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, make_dataclass
from pathlib import PurePath
from typing import Any

import yaml

from .paths import resolve


class ParameterError(ValueError):
    """A parameter is unknown, mistyped or out of its valid choices."""


def param(default: Any, doc: str, choices: tuple | None = None, path: bool = False):
    """A parameter field: its default, a one-line doc, and optionally its valid choices (for lists: valid
    items) or that it is a path that must exist when given."""
    kw = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"doc": doc, "choices": choices, "path": path}, **kw)


# ------------------------------------------------------------------------------------------ choices
# Literal here so that this module imports nothing of the study; tests check each against the registry that
# implements it (models.MODELS, saliency.METHODS, policies' regions, styles and fills, data.DATASETS, ...).
DATASETS = ("synthetic", "fer2013", "ferplus")
LANDMARK_SOURCES = ("auto", "ground_truth", "template", "file", "dlib", "mediapipe")


@dataclass(frozen=True)
class ModelInfo:
    """What the study knows of a model of the zoo, besides its layers (``perturb_lib.models`` builds it).

    Attributes:
        name: its name in configs and profiles.
        paper_column: the paper's column it compares with (its Tables 1-3).
        attention: it has a CBAM spatial-gate variant (a phase-1 model of the Perturb Scheme).
        dropout: it has dropout layers, whose rate the ``dropout`` parameter sets.
    """

    name: str
    paper_column: str
    attention: bool
    dropout: bool


#: The model zoo, once: every list of models (the parameters' choices, the builders, the paper's columns) derives
#: from it; a new model is one entry here and one builder in perturb_lib.models (a test keeps the two in step).
MODEL_ZOO: dict[str, ModelInfo] = {m.name: m for m in (
    ModelInfo("vgg16", "VGG16", attention=True, dropout=True),
    ModelInfo("resnet18", "ResNet", attention=True, dropout=False),
    ModelInfo("resnet34", "ResNet", attention=True, dropout=False),
    ModelInfo("resnet50", "ResNet", attention=True, dropout=False),
    ModelInfo("densenet121", "DenseNet", attention=False, dropout=False),
    ModelInfo("dpn26", "DPN", attention=True, dropout=False),
    ModelInfo("dpn92", "DPN", attention=True, dropout=False),
    ModelInfo("resmasking", "ResMasking", attention=False, dropout=True),
)}
MODELS = tuple(MODEL_ZOO)
ATTENTION_MODELS = tuple(m.name for m in MODEL_ZOO.values() if m.attention)
DROPOUT_MODELS = tuple(m.name for m in MODEL_ZOO.values() if m.dropout)
EVAL_SPLITS = ("PublicTest", "PrivateTest")
MASK_STYLES = ("n95", "surgical", "cloth")
REMOVAL_REGIONS = ("eyes", "brows", "nose", "mouth", "upper_face", "lower_face")
FILLS = ("mean", "blur", "noise")
SALIENCY_METHODS = ("saliency", "integrated_gradients", "smoothgrad", "gradcam", "guided_gradcam", "occlusion")
EMOTION_NAMES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
SWITCHES = ("auto", "on", "off")
PROGRESS = ("auto", "bar", "lines", "summary", "off")
TTA = ("none", "flip", "tencrop")
CACHE_DIR = "runs/cache"  # parsed datasets and landmarks; the default of Data.cache_dir and of the loaders


# ------------------------------------------------------------------------------------------ the base
@dataclass
class Params:
    """Base of every parameter group: coerces and validates its fields when made."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            setattr(self, f.name, _coerce(f.name, hints[f.name], f.metadata, getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Checks across fields: each part's own :meth:`validate` (:meth:`parts`), in order."""
        for part in type(self).parts():
            if "validate" in vars(part):
                vars(part)["validate"](self)

    def validate(self) -> None:
        """This group's own checks across its fields (none by default)."""

    @classmethod
    def parts(cls) -> tuple[type, ...]:
        """The parameter groups this class is made of, in order: a notebook's, as :func:`compose` lists them (each
        with the groups it extends), else its own bases."""
        if "GROUPS" in vars(cls):
            seen = []
            for group in vars(cls)["GROUPS"]:
                seen += [k for k in reversed(group.__mro__) if issubclass(k, Params) and k not in seen]
            return tuple(seen) + (cls,)
        return tuple(k for k in reversed(cls.__mro__) if isinstance(k, type) and issubclass(k, Params))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{name: default}`` of every field, in declaration order."""
        return {f.name: (f.default_factory() if f.default is MISSING else f.default) for f in fields(cls)}

    @classmethod
    def docs(cls) -> dict[str, str]:
        """``{name: one-line doc}`` of every field."""
        return {f.name: f.metadata.get("doc", "") for f in fields(cls)}

    @classmethod
    def type_names(cls) -> dict[str, str]:
        """``{name: the field's type as text}`` (``int``, ``list[str]``, ``str | None`` ...)."""
        hints = typing.get_type_hints(cls)
        return {f.name: _type_name(hints[f.name]) for f in fields(cls)}

    @classmethod
    def from_values(cls, values: dict[str, Any], known: set[str] | None = None):
        """An instance from a mapping that may hold other groups' parameters too.

        Args:
            values: parameter values; names this class does not take are ignored when they are in ``known``
                (e.g. another notebook's parameters from a shared profile) and refused otherwise.
            known: every name that is acceptable (default: :func:`parameter_names`).

        Returns:
            The validated instance (missing fields keep their defaults).
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names - (known if known is not None else parameter_names()))
        if unknown:
            raise ParameterError(f"{cls.__name__}: unknown parameter(s) {', '.join(unknown)}; "
                                 f"it takes: {', '.join(f.name for f in fields(cls))}")
        return cls(**{k: v for k, v in values.items() if k in names})

    def changed(self) -> dict[str, Any]:
        """The fields whose value differs from the default."""
        return {k: v for k, v in asdict(self).items() if v != self.defaults()[k]}


_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def from_notebook(cls: type[Params], namespace: dict[str, Any]) -> Params:
    """The parameters a notebook's ``globals()`` hold after its parameters cell (and papermill's injected cell).

    Args:
        cls: the notebook's parameter class (a value of :data:`NOTEBOOKS`).
        namespace: the notebook's globals.

    Returns:
        The validated parameters.
    """
    import types
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON_NAMES
             and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))}
    return cls.from_values(given)


def _type_name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{_type_name(args[0])} | None"
    if typing.get_origin(tp) is list:
        return f"list[{_type_name(typing.get_args(tp)[0])}]"
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, tp, meta, value: Any) -> Any:
    where = f"parameter {name!r}"
    optional = typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None))
    if optional:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~")):
            return None
    elif value is None:
        raise ParameterError(f"{where} must not be None ({meta.get('doc', '')})")
    choices = meta.get("choices")
    if typing.get_origin(tp) is list:
        item = typing.get_args(tp)[0]
        if isinstance(value, str):  # papermill's -p passes text: "[0, 1]" as YAML, "vgg16,resnet18" split on commas
            text = value.strip()
            value = yaml.safe_load(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and item is not str:
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where} must be a list of {item.__name__}, got {type(value).__name__} {value!r}; "
                                 f"with papermill write it as -y \"{name}: [...]\"")
        try:
            items = [_scalar(where, item, v, name) for v in value]
        except ParameterError:
            raise ParameterError(f"{where} must be a list of {item.__name__}, got {value!r}; with papermill "
                                 f"write a list as -y \"{name}: [...]\"") from None
        bad = [v for v in items if choices is not None and v not in choices]
        if bad:
            raise ParameterError(f"{where}: {bad[0]!r} is not valid; choose from {', '.join(map(str, choices))}")
        return items
    if tp is dict:
        if not isinstance(value, dict):
            raise ParameterError(f"{where} must be a mapping, got {type(value).__name__} {value!r}")
        return value
    if meta.get("path") and isinstance(value, PurePath):
        value = str(value)
    out = _scalar(where, tp, value, name)
    if choices is not None and out not in choices:
        raise ParameterError(f"{where}: {out!r} is not valid; choose from {', '.join(map(str, choices))}")
    return out


def _scalar(where: str, tp, value: Any, name: str) -> Any:
    if tp is str and isinstance(value, str):
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    hint = f"; with papermill write it as -y \"{name}: <value>\"" if isinstance(value, str) else ""
    raise ParameterError(f"{where} must be {tp.__name__}, got {type(value).__name__} {value!r}{hint}")


# ------------------------------------------------------------------------------------------ groups
@dataclass
class Output(Params):
    """Where a study writes."""

    study_dir: str = param("runs/cpu", "run records, results and executed notebooks of this study")
    figures_dir: str = param("figures/cpu", "where figures and tables are written")
    ledger_dir: str | None = param(None, "published run records, read in place before anything is trained (None: "
                                         "<figures_dir>/records, the study's committed ledger)")


@dataclass
class Data(Params):
    """Which faces, and where their landmarks come from."""

    dataset: str = param("synthetic", "synthetic | fer2013 | ferplus", DATASETS)
    data_path: str | None = param(None, "FER2013 CSV, image-folder root or .npz (not for synthetic)", path=True)
    size: float = param(0.1, "synthetic only: fraction of FER2013's size (0.1 gives 3,589 faces)")
    data_seed: int = param(0, "synthetic only: generator seed")
    landmark_source: str = param("auto", "auto (ground truth, else dlib, else the template) | ground_truth | dlib | "
                                         "mediapipe | template | file", LANDMARK_SOURCES)
    landmark_file: str | None = param(None, "CSV/NPZ of landmarks keyed by image id (landmark_source file)",
                                      path=True)
    cache_dir: str = param(CACHE_DIR, "parsed datasets and landmarks, cached (keyed by their inputs and code)")

    def validate(self) -> None:
        if self.dataset != "synthetic" and not self.data_path:
            raise ParameterError(f"parameter 'data_path' is required for dataset={self.dataset!r}")
        if self.landmark_source == "file" and not self.landmark_file:
            raise ParameterError("parameter 'landmark_file' is required for landmark_source='file'")
        _check_paths(self)


@dataclass
class Splits(Params):
    """Which FER2013 splits validate and test."""

    val_split: str = param("PublicTest", "split that selects checkpoints and settings", EVAL_SPLITS)
    test_split: str = param("PrivateTest", "split that is only ever tested on", EVAL_SPLITS)

    def validate(self) -> None:
        if self.val_split == self.test_split:
            raise ParameterError("parameters 'val_split' and 'test_split' must differ "
                                 "(checkpoints are never chosen on the test split)")


@dataclass
class Recipe(Splits):
    """The training recipe (defaults: the CPU recipe; the paper's is profiles/paper.yaml)."""

    width: float = param(0.125, "channel-width multiplier of every model (paper: 1.0)")
    dropout: float | None = param(0.0, "dropout of VGG16/ResMasking (None: 0.4, the paper's; narrow CPU models need 0)")
    epochs: int = param(10, "training epochs (paper: 200)")
    batch_size: int = param(64, "training batch size (paper: not given; the authors' code: 16)")
    lr: float = param(0.02, "initial SGD learning rate (paper: 0.01; 10 CPU epochs need more)")
    momentum: float = param(0.9, "SGD Nesterov momentum (paper: 0.9)")
    nesterov: bool = param(True, "Nesterov momentum (paper: yes)")
    weight_decay: float = param(1e-4, "SGD weight decay (paper: 1e-4)")
    lr_schedule: str = param("plateau", "plateau (the paper's ReduceLROnPlateau) | onecycle | cosine (per step, "
                                        "from warm-up to 0 at the last step)", ("plateau", "onecycle", "cosine"))
    plateau_factor: float = param(0.75, "ReduceLROnPlateau factor on the validation metric (paper: 0.75)")
    plateau_patience: int = param(5, "ReduceLROnPlateau patience in epochs (paper: 5)")
    warmup_epochs: float = param(1.0, "linear LR warm-up epochs (paper: none; narrow nets need it)")
    label_smoothing: float = param(0.1, "cross-entropy label smoothing (paper: none)")
    input_size: int = param(48, "network input: 48, or 40 for crops as in the authors' ten-crop setup", (40, 48))
    crop: str = param("pad", "training crop: pad (padded random crop) | resized (zoom, shift, rotation) | none",
                      ("pad", "resized", "none"))
    pad: int = param(4, "padding of the pad crop, and the shift of ten-crop views at 48 px")
    flip: bool = param(True, "random horizontal flips")
    erasing: float = param(0.0, "probability of random erasing (Zhong et al.; paper: used, probability not given)")
    ema: float = param(0.0, "decay per step of an exponential moving average of the weights, which is then what "
                            "is validated, kept and tested (0: off)")
    tta: str = param("flip", "test-time augmentation: none | flip (mean of the face and its mirror) | tencrop "
                             "(paper: ten-crop)", TTA)
    select_metric: str = param("accuracy", "validation metric that keeps the checkpoint and drives the LR schedule",
                               ("accuracy", "balanced_accuracy", "macro_f1"))

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ParameterError("parameters 'epochs' and 'batch_size' must be positive")
        if not 0.0 <= self.ema < 1.0:
            raise ParameterError(f"parameter 'ema' must be in [0, 1) (a decay per step; 0 is off), got {self.ema}")


@dataclass
class Compute(Params):
    """How a run executes: device, precision, memory format, compilation, threads, progress. Only the precision
    changes what a run computes, so only the precision it resolves to is part of a run's identity
    (:func:`perturb_lib.runs.run_identity`); :class:`perturb_lib.execution.Settings` resolves the ``auto`` values.
    """

    device: str = param("auto", "auto | cpu | cuda", DEVICES)
    precision: str = param("auto", "auto (bf16 where the hardware has fast bf16: CUDA, CPUs with AMX or AVX512-BF16; "
                                   "else fp32) | fp32 | bf16 (autocast)", PRECISIONS)
    channels_last: str = param("auto", "channels-last memory format: auto (where measured faster for the model and "
                                       "width) | on | off", SWITCHES)
    compile: str = param("auto", "torch.compile the training step: auto (off: measured not to pay back within a run "
                                 "on CPU; not measured on CUDA) | on | off", SWITCHES)
    threads: int = param(0, "CPU threads of torch while a run trains (0: torch's default)")
    eval_batch_size: int = param(1024, "faces per evaluation batch")
    progress: str = param("auto", "auto (a bar on a terminal, a line per epoch elsewhere) | bar | lines | summary "
                                  "(a line per run) | off", PROGRESS)


@dataclass
class Execution(Compute):
    """How many runs and where they run."""

    seeds: list[int] = param([0, 1, 2], "training seeds; tables report intervals over them")
    backend: str = param("sequential", "grid backend: sequential | ray", ("sequential", "ray"))
    ray_address: str | None = param(None, "Ray cluster address (backend ray); None starts Ray locally")
    ray_cpus_per_run: int = param(1, "backend ray: CPUs of each run's task")
    ray_gpus_per_run: float | None = param(None, "backend ray: GPUs of each run's task (None: 1 when the cluster has "
                                                 "GPUs, else 0; 0.25 packs four small runs on one GPU)")
    ray_shared_storage: bool | None = param(None, "backend ray: runs/ is on storage every node sees (None: yes for "
                                                  "a local Ray, no for a remote address)")


@dataclass
class ModelRecipes(Params):
    """Per-architecture changes to the recipe (each architecture's width, epochs... chosen on validation) and to
    the seeds (a slow architecture may have fewer)."""

    model_recipes: dict = field(default_factory=dict, metadata={
        "doc": "per-model changes to the recipe, e.g. {resnet50: {width: 0.25, epochs: 6}} (default: none)",
        "choices": None, "path": False})
    model_seeds: dict = field(default_factory=dict, metadata={
        "doc": "per-model seeds of Tables 1-3, e.g. {resnet50: [0, 1, 2]} (default: seeds, and perturb_seeds in "
               "Tables 2-3); an ensemble has the seeds all its models share",
        "choices": None, "path": False})
    explain_seed: int | None = param(None, "the seed whose models the figures load (saliency, clusters; their "
                                           "models are published with the records): None: each model's first")

    def validate(self) -> None:
        recipe = set(Recipe.defaults())
        for model, changes in self.model_recipes.items():
            if model not in MODELS:
                raise ParameterError(f"parameter 'model_recipes': {model!r} is not a model; choose from "
                                     f"{', '.join(MODELS)}")
            if not isinstance(changes, dict) or set(changes) - recipe:
                bad = sorted(set(changes) - recipe) if isinstance(changes, dict) else changes
                raise ParameterError(f"parameter 'model_recipes': {model}: {bad!r} are not recipe parameters; "
                                     f"they are: {', '.join(sorted(recipe))}")
        for model, seeds in self.model_seeds.items():
            if model not in MODELS:
                raise ParameterError(f"parameter 'model_seeds': {model!r} is not a model; choose from "
                                     f"{', '.join(MODELS)}")
            if not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) for x in seeds):
                raise ParameterError(f"parameter 'model_seeds': {model}: {seeds!r} is not a list of seeds "
                                     "(integers), e.g. [0, 1, 2]")

    def seeds_of(self, model: str, seeds: list[int], members: list[str] | None = None) -> list[int]:
        """A model's seeds: its own in ``model_seeds``, else ``seeds`` (the notebook's). An ensemble (``members``
        given: its logits are the sum of its members', per seed) has the seeds all its members share."""
        if members:
            own = [self.seeds_of(m, seeds) for m in members]
            return [s for s in own[0] if all(s in other for other in own[1:])]
        return list(self.model_seeds.get(model, seeds))

    def explained_seed(self, model: str, seeds: list[int]) -> int:
        """The seed whose models the figures load: ``explain_seed``, else the model's first."""
        own = self.seeds_of(model, seeds)
        if self.explain_seed is None:
            return own[0]
        if self.explain_seed not in own:
            raise ParameterError(f"parameter 'explain_seed': {model} has no seed {self.explain_seed} (its seeds: {own})")
        return self.explain_seed


@dataclass
class SaliencyFigure(Params):
    """Which attribution method the saliency figures draw."""

    figure_method: str = param("saliency", "method drawn in Figures 1 and 6", SALIENCY_METHODS)


@dataclass
class SchemeOptions(Params):
    """The Perturb Scheme's phase 2 and 3 (defaults: the paper's text; the authors' code: :meth:`code`)."""

    n_clusters: int = param(3, "clusters k of the scheme (paper: 3)")
    lam: float = param(1.5, "Eq. 1 weight of pixel distance (paper: 1.5)")
    alpha: float = param(1.2, "Eq. 1 weight of intensity distance (paper: 1.2)")
    cluster_features: str = param("intensity", "Eq. 1 third coordinate: intensity (paper) | attention (code)",
                                  ("intensity", "attention"))
    cluster_selection: str = param("top", "pixels clustered: top attention (paper) | all (code)", ("top", "all"))
    top_fraction: float = param(0.2, "share of highest-attention pixels clustered (paper: not given)")
    attention_threshold: float = param(0.5, "cluster_selection all: attention below this is zeroed (code: 0.5)")
    cluster_region: str = param("face", "pixels that may be clustered: face (inside the face outline) | image "
                                        "(every pixel; the attention's zero-padding border wins)", ("face", "image"))
    cluster_scope: str = param("shared", "one map per epoch (paper) | per_image", ("shared", "per_image"))
    cluster_sample: int = param(256, "training faces behind each shared map")
    masking: str = param("random", "random cluster per face (default) | copies (code: k+1 copies)",
                         ("random", "copies"))
    fill_value: float = param(0.5, "value of masked pixels in [0, 1] (0.5: the network's zero; 0: black)")
    test_policy: str = param("plain", "plain (paper) | sum (code: logits summed over copies)", ("plain", "sum"))
    kmeans_iters: int = param(20, "Lloyd iterations of k-means")

    def validate(self) -> None:
        if self.n_clusters < 1:
            raise ParameterError("parameter 'n_clusters' must be at least 1")

    @classmethod
    def code(cls, **changes) -> "SchemeOptions":
        """The authors' public code, as far as it can be made to run (zeroed pixels: black in [0, 1] inputs)."""
        return cls(**{"cluster_features": "attention", "cluster_selection": "all", "cluster_sample": 16,
                      "masking": "copies", "fill_value": 0.0, "test_policy": "sum", **changes})


# ------------------------------------------------------------------------------------- the notebooks
def compose(*groups: type[Params]):
    """Make a notebook's parameter class from its own fields and the parameter groups it takes, in the order given:
    its own fields first, then each group's, as a reader meets them (``notebooks/*.py`` show them so). The groups'
    checks run in that order (:meth:`Params.check`) and their helpers (``seeds_of``...) come with them; the notebook
    inherits from :class:`Params` only, so its fields' order is the one written here, not a product of several bases.

    Args:
        groups: the parameter groups, in the order they are shown.
    """
    def make(cls):
        hints = cls.__dict__.get("__annotations__", {})
        specs, seen = [], set()
        for name, tp in hints.items():  # the notebook's own fields
            value = cls.__dict__.get(name, MISSING)
            specs.append((name, tp, value if isinstance(value, type(field())) else field(default=value)))
            seen.add(name)
        for group in groups:
            for f in fields(group):
                if f.name not in seen:
                    kw = {"default": f.default} if f.default is not MISSING else {"default_factory": f.default_factory}
                    specs.append((f.name, f.type, field(metadata=f.metadata, **kw)))
                    seen.add(f.name)
        namespace = {k: v for k, v in cls.__dict__.items()
                     if k not in hints and k not in ("__dict__", "__weakref__", "__annotations__")}
        for group in groups:  # the groups' helpers (not their fields, not their checks: Params.check runs those)
            for klass in group.__mro__:
                for k, v in vars(klass).items():
                    if (not k.startswith("__") and k not in namespace and k not in ("validate", "check")
                            and callable(v) and not isinstance(v, type) and k not in seen):  # plain functions only
                        namespace[k] = v
        namespace["GROUPS"] = groups
        made = make_dataclass(cls.__name__, specs, bases=(Params,), namespace=namespace)
        made.__module__, made.__qualname__, made.__doc__ = cls.__module__, cls.__qualname__, cls.__doc__
        return made
    return make



@compose(Data, Output)
class DataNotebook:
    """00 · the data."""

    samples_per_emotion: int = param(6, "faces shown per emotion in the sample grid")
    landmark_providers: list[str] = param(["template", "dlib", "mediapipe"], "providers compared on the same faces "
                                          "(those installed)", ("template", "dlib", "mediapipe"))


@compose(ModelRecipes, Recipe, Execution, Data, Output)
class MaskFerNotebook:
    """01 · MaskFer degradation: Table 1, cross conditions, feature removal."""

    models: list[str] = param(["vgg16"], "models for Table 1; several add an ensemble (paper: five)", MODELS)
    mask_style: str = param("n95", "generated mask style: n95 | surgical | cloth", MASK_STYLES)
    maskfer_path: str | None = param(None, "published MaskFer image folders (None: masks drawn from landmarks)",
                                     path=True)
    maskfer_all_clean: bool = param(False, "with maskfer_path: train clean runs on every face, not only those with a "
                                           "masked twin")
    maskfer_faces: str = param("detected", "faces of MaskFer: detected (those the landmark detector finds, "
                                           "MaskTheFace's rule) | all", ("detected", "all"))
    maskfer_list: str | None = param(None, "the published MaskFer file list (CSV), to report how our faces agree "
                                           "with it", path=True)
    removal_regions: list[str] = param(list(REMOVAL_REGIONS), "regions removed at test time from clean-trained models",
                                       REMOVAL_REGIONS)
    removal_fill: str = param("mean", "what replaces a removed region: mean | blur | noise", FILLS)
    removal_model: str = param("vgg16", "model trained with a region removed", MODELS)
    removal_train_regions: list[str] = param(["mouth"], "regions removed in training and test (paper: eyes, brows, "
                                                        "nose, mouth, upper and lower face)",
                                             REMOVAL_REGIONS)
    removal_train_seeds: list[int] = param([0], "seeds of the removal-trained runs")

    def validate(self) -> None:
        if not self.removal_train_regions:
            return
        # A removal-trained run is compared with removal_model's clean run of the same seed: without that twin it
        # would be trained and then left out of every table.
        if self.removal_model not in self.models:
            raise ParameterError(f"parameter 'removal_model': {self.removal_model!r} is not one of models "
                                 f"{self.models}: its removal-trained runs would have no clean twin")
        twins = self.seeds_of(self.removal_model, self.seeds)
        if missing := sorted(set(self.removal_train_seeds) - set(twins)):
            raise ParameterError(f"parameter 'removal_train_seeds': seeds {missing} are not among "
                                 f"{self.removal_model}'s seeds {twins}: their runs would have no clean twin")


@compose(SaliencyFigure, Compute, Data, Output)
class SaliencyNotebook:
    """02 · saliency: Figure 1, region shares, sanity checks."""

    saliency_model: str = param("vgg16", "which of notebook 01's models to explain", MODELS)
    saliency_methods: list[str] = param(list(SALIENCY_METHODS), "Captum methods compared", SALIENCY_METHODS)
    per_emotion: int = param(10, "test faces per emotion for mean maps and region tables")
    saliency_target: str = param("true", "explain the true or the predicted class", ("true", "pred"))
    sanity_images: int = param(16, "faces used by the randomisation and deletion checks (the real study: 32)")
    photos: list[str] = param([], "photos whose faces the two explained models read (empty: scikit-image's "
                                  "astronaut, when installed)")


@compose(SchemeOptions, ModelRecipes, Recipe, Execution, SaliencyFigure, Data, Output)
class SchemeNotebook:
    """03 · the Perturb Scheme: Figures 4-6, Tables 2-3."""

    perturb_models: list[str] = param(["vgg16"], "backbones for Tables 2-3 (paper: VGG16, ResNet, DPN)", MODELS)
    perturb_seeds: list[int] | None = param(None, "seeds of the baseline and Perturb pairs of Tables 2-3 (None: seeds)")
    baseline_models: list[str] = param([], "models trained clean on every face for Table 2 alone, without a Perturb "
                                           "run (paper: DenseNet, ResMasking); with others they make Table 2's "
                                           "ensemble", MODELS)
    attention_model: str | None = param(None, "phase-1 model (None: the first backbone, with spatial gates; one "
                                              "phase 1 per seed serves every backbone)", ATTENTION_MODELS)
    cluster_sweep: list[int] = param([2, 3, 4], "cluster counts of Figure 5 (the paper's 3 and its neighbours; "
                                                "paper: 1-5)")
    sweep_model: str = param("vgg16", "backbone of the Figure 5 sweep (paper: VGG16)", MODELS)
    sweep_seeds: list[int] = param([0], "seeds of the Figure 5 sweep")
    scheme_variants: dict = field(default_factory=dict, metadata={
        "doc": "variants of the scheme on sweep_model, each paired with the baseline of its seed and recipe: "
               "{name: {scheme option or recipe parameter: value}}, e.g. {code: {cluster_features: attention, "
               "cluster_selection: all}} (default: none)", "choices": None, "path": False})
    variant_seeds: list[int] = param([0], "seeds of the scheme's variants")

    def validate(self) -> None:
        allowed = set(SchemeOptions.defaults()) | set(Recipe.defaults())
        for name, changes in self.scheme_variants.items():
            if not isinstance(changes, dict) or not changes or set(changes) - allowed:
                bad = sorted(set(changes) - allowed) if isinstance(changes, dict) else changes
                raise ParameterError(f"parameter 'scheme_variants': {name}: {bad!r} are not scheme options or recipe "
                                     f"parameters; they are: {', '.join(sorted(allowed))}")


@compose(Splits, Data, Output)
class LandmarkNotebook:
    """04 · landmark explainability (the second seed paper)."""

    lm_source: str | None = param(None, "landmarks of this notebook (None: landmark_source; mediapipe: the seed "
                                        "paper's 468 points)", LANDMARK_SOURCES)
    lm_features: str = param("auto", "coords | displacement | both (auto: both when neutral faces are known)",
                             ("auto", "coords", "displacement", "both"))
    lm_task: str = param("rest", "each emotion against the rest, or against neutral only", ("rest", "neutral"))
    lm_families: list[str] = param(["mlp", "random"], "binary model families compared", ("mlp", "random"))
    lm_emotions: list[str] = param(list(EMOTION_NAMES), "emotions explained", EMOTION_NAMES)
    lm_hidden: int = param(64, "MLP hidden width")
    lm_epochs: int = param(20, "MLP training epochs")
    random_hidden: list[int] = param([512, 512], "widths of the randomised network's fixed layers")
    ridge: float = param(0.01, "ridge penalty of the randomised network's readout")
    ig_baselines: int = param(5, "typical negative samples used as IG baselines (medoids)")
    ig_steps: int = param(32, "Integrated Gradients steps")
    lm_step: int = param(8, "landmarks dropped per reduction step")
    lm_tolerance: float = param(0.01, "kept set: smallest within this of the best validation score")
    lm_seeds: list[int] = param([0], "seeds of the landmark models: each seed trains, ranks and reduces on its own "
                                     "(its own kept set), and is recorded; tables give intervals over them")


@compose(Output)
class FiguresNotebook:
    """05 · every figure and table from the recorded results."""


#: the study's notebooks, in the order they run, with their parameter classes
NOTEBOOKS: dict[str, type[Params]] = {
    "00_data": DataNotebook,
    "01_maskfer_degradation": MaskFerNotebook,
    "02_saliency": SaliencyNotebook,
    "03_perturb_scheme": SchemeNotebook,
    "04_landmark_explainability": LandmarkNotebook,
    "05_figures": FiguresNotebook,
}


def notebook_parameters(notebook: str, values: dict) -> dict:
    """The subset of a study's parameter values that a notebook takes (the rest would only draw papermill's
    warnings)."""
    names = set(NOTEBOOKS[notebook].defaults())
    return {k: v for k, v in values.items() if k in names}


def notebook_params(notebook: str, values: dict) -> Params:
    """A notebook's validated parameters from a study's values (a profile, its overrides, the study's folders):
    the one way from a profile to parameters, for the pipeline, the grower, the plan and the benchmarks."""
    return NOTEBOOKS[notebook].from_values(notebook_parameters(notebook, values))


def parameter_names() -> set[str]:
    """Every parameter name any notebook of the study takes."""
    return {f.name for cls in NOTEBOOKS.values() for f in fields(cls)}


def _check_paths(values: Params) -> None:
    for f in fields(values):
        value = getattr(values, f.name)
        if f.metadata.get("path") and value and not resolve(value).exists():
            raise ParameterError(f"parameter {f.name!r}: {resolve(value)} does not exist")
