"""Input policies: what a run does to faces before augmentation, in training and in evaluation.

Every experiment of the study is "train on some version of the faces, evaluate on some version": clean faces,
MaskFer (a mask on the lower face), a facial feature removed, or the Perturb Scheme's clusters masked out. Each
is an :class:`InputPolicy`, named in a run's config by a small JSON-able spec, so the masked data is a view of
the faces plus a batched transform on the device, never a second copy on disk.

A policy sees batches as float (B, 1, 48, 48) in [0, 1] with the indices of the faces in their split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class SplitTensors:
    """One split of a FaceSet on the device.

    Attributes:
        name: the split (``Training``, ``PublicTest``, ``PrivateTest``).
        images: (N, 48, 48) uint8.
        labels: (N,) int64.
        landmarks: (N, 68, 2) float32, or None.
        ids: (N,) image ids (numpy, stays on the host).
        cache: per-policy precomputations (e.g. mask maps), keyed by the policy.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    landmarks: torch.Tensor | None
    ids: np.ndarray
    cache: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Faces ``idx`` as float (B, 1, 48, 48) in [0, 1]."""
        return self.images[idx].unsqueeze(1).float().div_(255)


def split_tensors(faces, split: str, device, landmarks: np.ndarray | None = None) -> SplitTensors:
    """Move one split of ``faces`` to ``device`` (images stay uint8: FER2013 is 83 MB that way)."""
    from .data.faces import SPLITS
    sel = faces.splits == SPLITS.index(split)
    lm = landmarks if landmarks is not None else faces.landmarks
    return SplitTensors(
        name=split,
        images=torch.as_tensor(faces.images[sel]).to(device),
        labels=torch.as_tensor(faces.labels[sel]).to(device),
        landmarks=None if lm is None else torch.as_tensor(lm[sel], dtype=torch.float32).to(device),
        ids=faces.ids[sel],
    )


class InputPolicy:
    """The base interface: the identity (clean faces). Subclasses override what they change.

    The training loop calls :meth:`prepare` once per split, :meth:`on_epoch_start` before each epoch,
    :meth:`train_inputs` on every training batch and :meth:`epoch_stats` after each epoch; evaluation calls
    :meth:`eval_views`, then :meth:`combine` on the resulting logits.
    """

    #: how many inputs :meth:`eval_views` makes of each face
    views: int = 1

    def spec(self) -> dict:
        """The JSON-able description that names this policy in run configs."""
        return {"kind": "clean"}

    def tag(self) -> str:
        """A short name for run folders."""
        return "clean"

    def needs_landmarks(self) -> bool:
        return False

    def prepare(self, split: SplitTensors) -> None:
        """Precompute what batches will need (e.g. each face's mask), into ``split.cache``."""

    def on_epoch_start(self, epoch: int, train: SplitTensors, generator: torch.Generator) -> None:
        """Called before each training epoch (e.g. to recompute clusters)."""

    def epoch_stats(self) -> dict:
        """Numbers to record in the run's history at the end of each epoch (e.g. clustering seconds)."""
        return {}

    def train_inputs(self, x: torch.Tensor, y: torch.Tensor, split: SplitTensors, idx: torch.Tensor,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The training inputs and labels made from a batch (may hold more inputs than faces)."""
        return x, y

    def eval_views(self, x: torch.Tensor, split: SplitTensors, idx: torch.Tensor) -> torch.Tensor:
        """Evaluation inputs: ``views`` per face, view-major ((views * B, 1, H, W))."""
        return x

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-face logits from the logits of all views (default: their sum)."""
        return logits.reshape(self.views, -1, logits.shape[-1]).sum(0)

    def state_dict(self) -> dict:
        """State that must survive a resume (e.g. the current cluster map)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


POLICY_KINDS = ("clean", "mask", "remove", "perturb")


def make_policy(spec: dict | None, study_dir=None) -> InputPolicy:
    """Build the policy a spec names.

    Args:
        spec: ``None`` or ``{"kind": "clean"}``; ``{"kind": "mask", "style": "n95", ...}`` (MaskFer);
            ``{"kind": "remove", "region": "mouth", "fill": "mean"}`` (feature removal);
            ``{"kind": "perturb", ...}`` (the Perturb Scheme's phase 3, see :mod:`perturb_lib.scheme`).
        study_dir: where runs a policy refers to live (the Perturb Scheme's phase-1 run).
    """
    spec = dict(spec or {"kind": "clean"})
    kind = spec.pop("kind", "clean")
    if kind == "clean":
        if spec:
            raise ValueError(f"the clean policy takes no options, got {spec}")
        return InputPolicy()
    if kind == "mask":
        from .perturb import MaskPolicy
        return MaskPolicy(**spec)
    if kind == "remove":
        from .perturb import RemovalPolicy
        return RemovalPolicy(**spec)
    if kind == "perturb":
        from .scheme import PerturbPolicy
        return PerturbPolicy(study_dir=study_dir, **spec)
    raise ValueError(f"unknown policy kind {kind!r}; choose from {', '.join(POLICY_KINDS)}")
