"""How a run executes - device, precision, memory format, compilation, threads, progress.

The settings themselves are parameters (:class:`perturb_lib.params.Compute`, settable from a profile, ``-p`` and
papermill); :class:`Settings` adds what resolves their ``auto`` values on this machine. Only the precision changes
what a run computes, so the precision a run resolves to is part of its identity and the rest is not: the same
config on a CPU or a GPU, channels-last or not, compiled or not, is the same run.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, fields

import torch

from . import __version__
from .params import Compute

# Channels-last on the CPU, measured per model and width (``make bench``, benchmarks/RESULTS.md, 2026-11-30): the
# smallest width from which each model trains faster in it, per precision (None: never measured faster). Measured
# at widths 0.125 and 1 (VGG16 also 0.25, 0.5): where 0.125 lost and 1 won, the rule starts at 1. It helps wide
# layers (VGG16 x0.25 bf16: 518 against 473 images/s; ResMaskingNet x1 bf16: 21 against 12) and hurts narrow and
# concatenating ones (VGG16 x0.125 bf16: 938 against 1,128; DPN26 at any width). ResNet18 x0.125 bf16: 506 against
# 761 (measured by an earlier session).
#: a run whose process had less than this share of its cores' time was sharing them: its minutes are no measurement
SHARED_BELOW = 0.9
#: the laptop targets of the CPU recipe: (minutes of one run on 2 cores, test accuracy %)
CPU_TARGETS = ((5, 65.0), (15, 68.0), (30, 70.0))

# Keyed by model: these are measurements of each model, not a list of the models (params.MODEL_ZOO is); a model not
# measured is left in the default memory format.
CPU_CHANNELS_LAST_FROM: dict[str, dict[str, float | None]] = {
    "bf16": {"vgg16": 0.25, "resnet50": 0.125, "densenet121": 1.0, "dpn26": None, "resmasking": 1.0,
             "resnet18": None},
    "fp32": {"vgg16": 0.25, "resnet50": 0.125, "densenet121": 1.0, "dpn26": None, "resmasking": 1.0},
}


@dataclass
class Settings(Compute):
    """Execution settings of training and evaluation (the fields of :class:`~perturb_lib.params.Compute`), with
    their ``auto`` values resolved for a device and a model."""

    @classmethod
    def of(cls, params) -> "Settings":
        """The settings a notebook's (or any) parameters hold."""
        return cls(**{f.name: getattr(params, f.name) for f in fields(Compute) if hasattr(params, f.name)})

    def resolved_device(self) -> torch.device:
        return torch.device(resolve_device(self.device))

    def resolved_precision(self, device: torch.device | None = None) -> str:
        """``fp32`` or ``bf16``: ``auto`` is bf16 where the hardware has fast bf16."""
        device = device or self.resolved_device()
        if self.precision != "auto":
            return self.precision
        return "bf16" if fast_bf16(device) else "fp32"

    def use_amp(self, device: torch.device) -> bool:
        """bf16 autocast."""
        return self.resolved_precision(device) == "bf16"

    def use_channels_last(self, device: torch.device, model: str | None = None, width: float | None = None) -> bool:
        """Channels-last memory format: ``auto`` is on for CUDA and, on the CPU, where it was measured faster for
        the model and width (:data:`CPU_CHANNELS_LAST_FROM`)."""
        if self.channels_last != "auto":
            return self.channels_last == "on"
        if device.type == "cuda":
            return True
        start = CPU_CHANNELS_LAST_FROM.get(self.resolved_precision(device), {}).get(model or "")
        return start is not None and width is not None and width >= start

    def use_compile(self, device: torch.device) -> bool:
        """``torch.compile`` of the training step: ``auto`` is off. Measured on 2 CPU cores (benchmarks/RESULTS.md)
        it costs 37-284 s to compile for -31 % to +110 % images/s (the laptop recipe, VGG16 x0.25 bf16: +18 % after
        43 s), which at best breaks even within a 5-minute run; on CUDA it has not been measured yet."""
        return self.compile == "on"

    def progress_mode(self) -> str:
        """``bar``, ``lines``, ``summary`` or ``off``: ``auto`` is a bar on a terminal and a line per epoch elsewhere."""
        if self.progress != "auto":
            return self.progress
        return "bar" if sys.stderr.isatty() else "lines"


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA device is available; use device='auto' or 'cpu'")
    return name


def fast_bf16(device: torch.device) -> bool:
    """Whether the device has fast bf16 arithmetic: CUDA with bf16, or a CPU with AMX or AVX512-BF16 (where
    oneDNN runs bf16 matrix products at several times the fp32 rate; elsewhere bf16 is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if all(c is not None for c in checks):
        return any(c() for c in checks)
    try:  # older torch: the kernel's CPU flags
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on the device when ``amp`` (CUDA, or the CPU's matrix units through oneDNN)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)


def environment(device: torch.device, settings: Settings, model: str | None = None, width: float | None = None,
                **extra) -> dict:
    """Versions and hardware a run executed on, how it executed, plus ``extra`` (timings)."""
    import torchvision
    env = {"perturb_lib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
           "python": platform.python_version(), "platform": platform.platform(), "device": str(device),
           "cpu": cpu_name(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
           "precision": settings.resolved_precision(device),
           "channels_last": settings.use_channels_last(device, model, width),
           "compile": settings.use_compile(device), "finished": time.strftime("%Y-%m-%d %H:%M:%S"), **extra}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def recorded_execution(env: dict) -> dict:
    """The inverse of :func:`environment`: the settings a run's ``env.json`` records that change its arithmetic
    but not its identity, the thread count (on the CPU) and the memory format. An older record without them leaves
    the session's settings."""
    out = {}
    if env.get("device", "cpu") == "cpu" and isinstance(env.get("threads"), int) and env["threads"] > 0:
        out["threads"] = env["threads"]
    if isinstance(env.get("channels_last"), bool):
        out["channels_last"] = "on" if env["channels_last"] else "off"
    return out


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): a run's timing is only a measurement when the
    machine's load stayed near the run's own thread count."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform says."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
