"""How a run executes - device, precision, memory format, progress - none of which is part of its identity:
the same config on a CPU or a GPU is the same run.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass

import torch

from . import __version__


@dataclass
class Settings:
    """Execution settings of training and evaluation.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: bf16 autocast (default: on CUDA).
        channels_last: channels-last memory format (default: on CUDA).
        compile: ``torch.compile`` the model for training.
        progress: ``bar``, ``lines``, ``summary`` or ``off`` (default: env ``PERTURB_PROGRESS``, else a bar on a
            terminal and a line per epoch elsewhere).
        eval_batch_size: faces per evaluation batch.
        threads: CPU threads for torch (None: leave torch's setting).
    """

    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    progress: str | None = None
    eval_batch_size: int = 1024
    threads: int | None = None

    def resolved_device(self) -> torch.device:
        return torch.device(resolve_device(self.device))

    def use_amp(self, device: torch.device) -> bool:
        return self.amp if self.amp is not None else device.type == "cuda"

    def use_channels_last(self, device: torch.device) -> bool:
        return self.channels_last if self.channels_last is not None else device.type == "cuda"

    def progress_mode(self) -> str:
        """``bar``, ``lines``, ``summary`` or ``off``."""
        mode = self.progress or os.environ.get("PERTURB_PROGRESS")
        if mode:
            if mode not in ("bar", "lines", "summary", "off"):
                raise ValueError(f"progress must be bar, lines, summary or off, got {mode!r}")
            return mode
        return "bar" if sys.stderr.isatty() else "lines"


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='auto' or 'cpu'")
    return name


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def environment(device: torch.device, settings: Settings, **extra) -> dict:
    """Versions and hardware a run executed on, plus ``extra`` (timings)."""
    import torchvision
    env = {"perturb_lib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
           "python": platform.python_version(), "platform": platform.platform(), "device": str(device),
           "threads": torch.get_num_threads(), "amp_bf16": settings.use_amp(device),
           "channels_last": settings.use_channels_last(device), "compile": settings.compile,
           "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env
