"""The one small interface every perturbation implements, and the device-resident split it works on.

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

from ..data.faces import SPLITS


@dataclass
class SplitTensors:
    """One split of a FaceSet on the device.

    Attributes:
        name: the split (``Training``, ``PublicTest``, ``PrivateTest``).
        images: (N, 48, 48) uint8.
        labels: (N,) int64.
        landmarks: (N, K, 2) float32, or None.
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
    """Move one split of ``faces`` to ``device`` (images stay uint8: FER2013 is 83 MB that way).

    Args:
        faces: the :class:`~perturb_lib.data.FaceSet`.
        split: its name.
        device: where the tensors go.
        landmarks: landmarks of every face of ``faces`` (default: ``faces.landmarks``).

    Returns:
        The split on the device.
    """
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
        """The canonical JSON-able description that names this policy in run configs (defaults filled in)."""
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

    def record_arrays(self) -> dict:
        """Arrays the run's record keeps of what the policy did in training (``policy.npz``; e.g. the Perturb
        Scheme's cluster map of each epoch); none by default."""
        return {}


class FacePerturbation(InputPolicy):
    """A perturbation every face carries, the same in training and in test: subclasses precompute per-face
    layers in :meth:`prepare` and blend them in :meth:`apply`."""

    def needs_landmarks(self) -> bool:
        return True

    def apply(self, x: torch.Tensor, split: SplitTensors, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train_inputs(self, x, y, split, idx, generator):
        return self.apply(x, split, idx), y

    def eval_views(self, x, split, idx):
        return self.apply(x, split, idx)


def apply_policy(policy: InputPolicy, images: np.ndarray, landmarks: np.ndarray | None, ids) -> np.ndarray:
    """A policy applied to a few faces as evaluation applies it (uint8 in, uint8 out; first view only).

    Args:
        policy: a mask, removal or clean policy.
        images: (B, 48, 48) uint8 faces.
        landmarks: (B, K, 2) their landmarks (None for policies that need none).
        ids: (B,) their ids.

    Returns:
        (B, 48, 48) uint8.
    """
    split = SplitTensors("Training", torch.as_tensor(np.array(images, dtype=np.uint8)),
                         torch.zeros(len(images), dtype=torch.long),
                         None if landmarks is None else torch.as_tensor(np.ascontiguousarray(landmarks), dtype=torch.float32),
                         np.asarray(ids))
    policy.prepare(split)
    idx = torch.arange(len(images))
    x = policy.eval_views(split.batch(idx), split, idx)[:len(images)]
    return (x[:, 0] * 255).round().clamp(0, 255).byte().numpy()
