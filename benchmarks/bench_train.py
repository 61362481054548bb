"""Training throughput per architecture and width, fp32 against bf16, with and without channels-last and
``torch.compile``, against this machine's own matrix-product peak; and the device-resident data path against a
DataLoader pipeline.

    python benchmarks/bench_train.py                           # the default table (make bench), about an hour
    python benchmarks/bench_train.py --configs vgg16:0.25 --seconds 5
    python benchmarks/bench_train.py --no-compile --markdown table.md

For each (model, width) it measures one training step (forward, backward, SGD-Nesterov step, on the batched
augmentation of device-resident uint8 faces) in steady state: fp32 and bf16 autocast, each with the contiguous and
the channels-last memory format; then ``torch.compile`` of the best eager memory format of each precision (its
compile time, i.e. the first steps, reported apart). Achieved GFLOP/s = images/s x the FLOPs of one training image
(forward and backward, counted by ``torch.utils.flop_counter``), and its share of the machine's peak: a 2048x2048
matrix product in the same precision, measured in the same run. Numbers go to stdout (a Markdown table) and, with
--json / --markdown, to files; ``benchmarks/RESULTS.md`` records them with the date, machine and command. Nothing
here is a test: targets are read by people.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from perturb_lib.augment import train_augment
from perturb_lib.data import make_synthetic_faces
from perturb_lib.train import TrainConfig, training_step
from perturb_lib.execution import cpu_name, resolve_device
from perturb_lib.images import normalize
from perturb_lib.models import build_model

# model:width[:batch]; the other architectures at full width get batch 32 on a CPU (a step of 128 takes a minute)
DEFAULT_CONFIGS = ("vgg16:0.125,vgg16:0.25,vgg16:0.5,vgg16:1,resnet50:0.125,densenet121:0.125,dpn26:0.125,"
                   "resmasking:0.125,resnet50:1:32,densenet121:1:32,dpn26:1:32,resmasking:1:32")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_peak(device, dtype, seconds: float = 2.0, n: int = 2048) -> float:
    """GFLOP/s of an n x n matrix product in ``dtype``: the machine's practical peak for that precision."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    _sync(device)
    return 2 * n ** 3 * k / (time.perf_counter() - t0) / 1e9


def flops_per_image(name: str, width: float, batch: int = 8) -> float:
    """FLOPs of one training image (forward and backward), counted by torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode
    model = build_model(name, width=width)
    x = torch.randn(batch, 1, 48, 48)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long)).backward()
    return counter.get_total_flops() / batch


def train_throughput(name, width, batch, device, seconds, amp, channels_last, compile_model,
                     warmup: int = 3) -> tuple[float, float]:
    """Steady-state training images/s of one configuration, and the seconds its first ``warmup`` steps took (for a
    compiled model: the compilation)."""
    torch.manual_seed(0)
    model = build_model(name, width=width).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile_model else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    data = torch.randint(0, 256, (batch * 8, 48, 48), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 7, (batch * 8,), device=device)

    recipe, device = TrainConfig(model=name, width=width, batch_size=batch), torch.device(device)

    def step(k):  # the library's own training step (the study's augmentation, label smoothing and precision)
        idx = torch.arange(k * batch, (k + 1) * batch, device=device) % len(data)
        training_step(step_model, opt, data[idx].unsqueeze(1).float().div_(255), labels[idx], g, recipe, device, amp,
                      channels_last)

    t0 = time.perf_counter()
    for k in range(warmup):  # warm-up (and compilation)
        step(k)
    _sync(device)
    first = time.perf_counter() - t0
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or n < 2:
        step(n)
        n += 1
    _sync(device)
    return n * batch / (time.perf_counter() - t0), first


def device_path(images: np.ndarray, batch: int, device, seconds: float) -> float:
    data = torch.as_tensor(images).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    n_batches = len(data) // batch
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        order = torch.randperm(len(data), generator=g, device=device)
        for k in range(n_batches):
            normalize(train_augment(data[order[k * batch:(k + 1) * batch]].unsqueeze(1).float().div_(255), g))
            n += 1
        _sync(device)
    return n / (time.perf_counter() - t0)


def dataloader_path(images: np.ndarray, batch: int, device, seconds: float, workers: int) -> float:
    from torch.utils.data import DataLoader, Dataset
    from torchvision.transforms import v2

    class Faces(Dataset):
        def __init__(self, imgs):
            self.imgs = imgs
            self.tf = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.RandomCrop(48, padding=4),
                                  v2.RandomHorizontalFlip(), v2.RandomErasing(p=0.5, value="random"),
                                  v2.Normalize([0.5], [0.25])])

        def __len__(self):
            return len(self.imgs)

        def __getitem__(self, i):
            return self.tf(self.imgs[i][:, :, None])

    loader = DataLoader(Faces(images), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        for x in loader:
            x = x.to(device, non_blocking=True)
            n += 1
            if time.perf_counter() - t0 >= seconds:
                break
    _sync(device)
    return n / (time.perf_counter() - t0)


def measure(configs, batch, device, seconds, compile_models, out=print, warmup: int = 3,
            compile_max_gflop: float = 5.0) -> tuple[dict, list[dict]]:
    """Every configuration's row, and the peaks they are compared with. ``configs`` are ``(model, width, batch or
    None)``; models above ``compile_max_gflop`` per training image are not compiled (on 2 CPU cores their
    compilation alone takes many minutes)."""
    peaks = {"fp32": gemm_peak(device, torch.float32), "bf16": gemm_peak(device, torch.bfloat16)}
    out(f"GEMM peak (2048^2 matrix product): fp32 {peaks['fp32']:,.0f} GFLOP/s, bf16 {peaks['bf16']:,.0f} GFLOP/s")
    out("| model | width | batch | GFLOP per image | precision | channels-last | compile | images/s | GFLOP/s | "
        "of peak | compile s |")
    out("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, width, own_batch in configs:
        b = own_batch or batch
        flops = flops_per_image(name, width)
        for precision in ("fp32", "bf16"):
            eager = []
            for cl in (False, True):
                ips, _ = train_throughput(name, width, b, device, seconds, precision == "bf16", cl, False, warmup)
                eager.append((ips, cl))
                rows.append(_row(name, width, b, flops, precision, cl, False, ips, None, peaks, out))
            if compile_models and flops / 1e9 <= compile_max_gflop:
                best_cl = max(eager)[1]
                ips, first = train_throughput(name, width, b, device, seconds, precision == "bf16", best_cl, True,
                                              warmup)
                rows.append(_row(name, width, b, flops, precision, best_cl, True, ips, first, peaks, out))
                torch._dynamo.reset()  # each compiled model is measured from a clean cache
    return peaks, rows


def _row(name, width, batch, flops, precision, cl, compiled, ips, first, peaks, out) -> dict:
    gflops = ips * flops / 1e9
    row = {"model": name, "width": width, "batch": batch, "gflop_per_image": round(flops / 1e9, 4),
           "precision": precision, "channels_last": cl, "compile": compiled, "images_per_s": round(ips, 1),
           "gflop_per_s": round(gflops, 1), "of_peak": round(gflops / peaks[precision], 3),
           "compile_seconds": None if first is None else round(first, 1)}
    out(f"| {name} | {width:g} | {batch} | {flops / 1e9:.3f} | {precision} | {'yes' if cl else 'no'} | "
        f"{'yes' if compiled else 'no'} | {ips:,.0f} | {gflops:,.0f} | {100 * gflops / peaks[precision]:.0f} % | "
        f"{'' if first is None else f'{first:.0f}'} |")
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="comma-separated model:width[:batch]")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: 128 on CPU, 256 on GPU)")
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement (at least 2 steps)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    ap.add_argument("--compile-max-gflop", type=float, default=5.0,
                    help="compile only models up to this many GFLOP per training image")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before timing (compilation happens here)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the data-path comparison")
    ap.add_argument("--skip-data-path", action="store_true", help="skip the data-path comparison")
    ap.add_argument("--json", help="also write the numbers to this file")
    ap.add_argument("--markdown", help="also write the table to this file")
    a = ap.parse_args(argv)
    device = torch.device(resolve_device(a.device))
    batch = a.batch or (256 if device.type == "cuda" else 128)
    configs = [(p[0], float(p[1]), int(p[2]) if len(p) > 2 else None)
               for p in (c.split(":") for c in a.configs.split(",") if c)]
    info = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "batch": batch,
            "date": time.strftime("%Y-%m-%d")}
    lines = []

    def out(line):
        print(line, flush=True)
        lines.append(line)
    out("# " + ", ".join(f"{k}={v}" for k, v in info.items()))
    peaks, rows = measure(configs, batch, device, a.seconds, not a.no_compile, out, a.warmup, a.compile_max_gflop)
    results = {"info": info, "gemm_peak_gflop_per_s": peaks, "train": rows}
    if not a.skip_data_path:
        images = make_synthetic_faces(size=0.1, seed=0).images
        ours = device_path(images, batch, device, a.seconds)
        theirs = dataloader_path(images, batch, device, a.seconds, a.workers)
        results["data_path"] = {"device_resident_batches_per_s": round(ours, 1),
                                f"dataloader_{a.workers}_workers_batches_per_s": round(theirs, 1),
                                "ratio": round(ours / theirs, 1)}
        out(f"data path, batches of {batch} augmented faces per second: device-resident batched augmentation "
            f"{ours:,.1f}; DataLoader + torchvision ({a.workers} workers) {theirs:,.1f}; ratio {ours / theirs:.1f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
