"""Perturbation policies: what a run does to faces before augmentation, in training and in evaluation.

* :mod:`~perturb_lib.policies.base` - :class:`InputPolicy` (the one small interface; itself the clean policy),
  :class:`SplitTensors` (a split on the device);
* :mod:`~perturb_lib.policies.masks` - MaskFer's synthetic masks (:class:`MaskPolicy`);
* :mod:`~perturb_lib.policies.removal` - one facial region removed (:class:`RemovalPolicy`);
* :mod:`~perturb_lib.policies.clusters` - the Perturb Scheme's attention clusters masked out (:class:`PerturbPolicy`).

A run's config names its policy by a small spec; :func:`make_policy` builds it, and :func:`canonical_spec`
fills in its defaults so that two spellings of the same perturbation name the same run.
"""
from __future__ import annotations

from ..params import SchemeOptions
from .base import FacePerturbation, InputPolicy, SplitTensors, apply_policy, split_tensors
from .clusters import AttentionFn, PerturbPolicy, cluster_maps, kmeans
from .masks import MaskPolicy, mask_layers, mask_outline
from .removal import RemovalPolicy, remove

POLICY_KINDS = ("clean", "mask", "remove", "perturb")


def make_policy(spec: dict | None, attention: AttentionFn | None = None) -> InputPolicy:
    """Build the policy a spec names.

    Args:
        spec: ``None`` or ``{"kind": "clean"}``; ``{"kind": "mask", "style": "n95", "seed": 0}`` (MaskFer);
            ``{"kind": "remove", "region": "mouth", "fill": "mean", "seed": 0}`` (feature removal);
            ``{"kind": "perturb", "phase1": <run name>, **SchemeOptions fields}`` (the Perturb Scheme's phase 3).
        attention: the phase-1 model's attention function, for ``perturb`` policies that will be applied.

    Returns:
        The policy.
    """
    spec = dict(spec or {"kind": "clean"})
    kind = spec.pop("kind", "clean")
    if kind == "clean":
        if spec:
            raise ValueError(f"the clean policy takes no options, got {spec}")
        return InputPolicy()
    if kind == "mask":
        return MaskPolicy(**spec)
    if kind == "remove":
        return RemovalPolicy(**spec)
    if kind == "perturb":
        if "phase1" not in spec:
            raise ValueError("a perturb policy names its phase-1 run: {'kind': 'perturb', 'phase1': <run name>, ...}")
        phase1 = spec.pop("phase1")
        try:
            options = SchemeOptions(**spec)
        except TypeError as exc:
            raise ValueError(f"perturb policy: {exc}") from None
        return PerturbPolicy(phase1, options, attention)
    raise ValueError(f"unknown policy kind {kind!r}; choose from {', '.join(POLICY_KINDS)}")


def canonical_spec(spec: dict | None) -> dict:
    """The spec with every default filled in: what the policy will actually do."""
    return make_policy(spec).spec()


__all__ = ["POLICY_KINDS", "AttentionFn", "FacePerturbation", "InputPolicy", "MaskPolicy", "PerturbPolicy",
           "RemovalPolicy", "SplitTensors", "apply_policy", "canonical_spec", "cluster_maps", "kmeans",
           "make_policy", "mask_layers", "mask_outline", "remove", "split_tensors"]
