"""The paper's model zoo for 1-channel 48x48 (or 40x40) faces, by name, with a width multiplier.

    >>> from perturb_lib.models import build_model
    >>> model = build_model("vgg16", width=0.25)            # a narrow VGG16 for CPUs
    >>> phase1 = build_model("resnet18", attention=True)    # with CBAM spatial gates after each stage
"""
from __future__ import annotations

from torch import nn

from ..params import ATTENTION_MODELS, DROPOUT_MODELS, MODEL_ZOO
from .attention import SpatialGate, attention_maps, spatial_gates
from .densenet import densenet121
from .dpn import DPN
from .resmasking import MaskingBlock, ResMaskingNet
from .resnet import ResNet
from .vgg import VGG, VGG16_BLOCKS

#: each model's builder, by its name in the zoo (:data:`perturb_lib.params.MODEL_ZOO` says what else the study
#: knows of it: its paper column, whether it has an attention variant and dropout layers)
MODELS = {
    "vgg16": lambda c, w, att, drop: VGG(VGG16_BLOCKS, c, w, dropout=0.4 if drop is None else drop, attention=att),
    "resnet18": lambda c, w, att, drop: ResNet("resnet18", c, w, att),
    "resnet34": lambda c, w, att, drop: ResNet("resnet34", c, w, att),
    "resnet50": lambda c, w, att, drop: ResNet("resnet50", c, w, att),
    "densenet121": lambda c, w, att, drop: densenet121(c, w, att),
    "dpn26": lambda c, w, att, drop: DPN("dpn26", c, w, att),
    "dpn92": lambda c, w, att, drop: DPN("dpn92", c, w, att),
    "resmasking": lambda c, w, att, drop: _no_attention(ResMaskingNet, c, w, att, 0.4 if drop is None else drop),
}
if set(MODELS) != set(MODEL_ZOO):  # the zoo's two halves must name the same models
    raise ImportError(f"perturb_lib.models builds {sorted(MODELS)} but params.MODEL_ZOO lists {sorted(MODEL_ZOO)}")


def _no_attention(cls, num_classes, width, attention, dropout):
    if attention:
        raise ValueError(f"{cls.__name__} has its own masking blocks and no spatial-gate variant; "
                         f"attention models: {', '.join(ATTENTION_MODELS)}")
    return cls(num_classes, width, dropout)


def build_model(name: str, width: float = 1.0, num_classes: int = 7, attention: bool = False,
                dropout: float | None = None) -> nn.Module:
    """Build a model of the zoo.

    Args:
        name: one of :data:`MODELS`.
        width: channel multiplier (1.0 = the paper's size; 0.125 is a CPU-friendly narrow version).
        num_classes: output classes.
        attention: add CBAM spatial gates (only for :data:`ATTENTION_MODELS`).
        dropout: override the dropout rate of :data:`DROPOUT_MODELS` (default: 0.4, the FER VGG's);
            architectures without dropout layers have nothing to override.

    Returns:
        The model, taking (B, 1, H, W) inputs with H = W = 40 or 48.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if attention and name not in ATTENTION_MODELS:
        raise ValueError(f"{name} has no attention variant; attention models: {', '.join(ATTENTION_MODELS)}")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    return MODELS[name](num_classes, width, attention, dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ATTENTION_MODELS", "DPN", "DROPOUT_MODELS", "MODELS", "VGG", "MaskingBlock", "ResMaskingNet", "ResNet",
           "SpatialGate", "attention_maps", "build_model", "count_parameters", "spatial_gates"]
