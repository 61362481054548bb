"""Training throughput per model, and the device-resident data path against a DataLoader pipeline.

    python benchmarks/bench_train.py                         # CPU defaults: narrow models, a few seconds each
    python benchmarks/bench_train.py --width 1 --batch 256   # the paper's models (meant for a GPU)
    python benchmarks/bench_train.py --models vgg16 --compile

Prints images/s for each model's training step (forward, backward, SGD step, on the batched augmentation) and
batches/s of augmented batches for (a) the device-resident path of perturb_lib.augment and (b) a torch
DataLoader with torchvision transforms doing the same augmentation (pad-crop, flip, erasing), and their ratio.
Numbers go to stdout and, with --json, to a file. Nothing here is a test: targets are read by people.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from perturb_lib.augment import train_augment
from perturb_lib.images import normalize
from perturb_lib.data import make_synthetic_faces
from perturb_lib.models import MODELS, build_model


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(name, width, batch, device, seconds, amp, channels_last, compile_model) -> float:
    torch.manual_seed(0)
    model = build_model(name, width=width).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile_model else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    g = torch.Generator(device=device).manual_seed(0)
    data = torch.randint(0, 256, (batch * 8, 48, 48), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 7, (batch * 8,), device=device)

    def step(k):
        idx = torch.arange(k * batch, (k + 1) * batch, device=device) % len(data)
        x = normalize(train_augment(data[idx].unsqueeze(1).float().div_(255), g))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(step_model(x).float(), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for k in range(3):  # warm-up (and compilation)
        step(k)
    _sync(device)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        step(n)
        n += 1
    _sync(device)
    return n * batch / (time.perf_counter() - t0)


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--width", type=float, default=None, help="width multiplier (default: 0.125 on CPU, 1 on GPU)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: 64 on CPU, 256 on GPU)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true", help="torch.compile the models")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the comparison")
    ap.add_argument("--skip-models", action="store_true", help="only the data-path comparison")
    ap.add_argument("--json", help="also write the numbers to this file")
    a = ap.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    gpu = device.type == "cuda"
    width = a.width if a.width is not None else (1.0 if gpu else 0.125)
    batch = a.batch or (256 if gpu else 64)
    info = {"device": torch.cuda.get_device_name(device) if gpu else platform.processor() or "cpu",
            "threads": torch.get_num_threads(), "torch": torch.__version__, "width": width, "batch": batch,
            "amp_bf16": gpu, "channels_last": gpu, "compile": a.compile, "date": time.strftime("%Y-%m-%d")}
    print("# " + ", ".join(f"{k}={v}" for k, v in info.items()))
    results = {"info": info, "train_images_per_s": {}}
    if not a.skip_models:
        print(f"{'model':<12} {'train images/s':>15}")
        for name in a.models.split(","):
            ips = train_throughput(name, width, batch, device, a.seconds, gpu, gpu, a.compile)
            results["train_images_per_s"][name] = round(ips, 1)
            print(f"{name:<12} {ips:>15,.0f}", flush=True)
    images = make_synthetic_faces(size=0.1, seed=0).images
    ours = device_path(images, batch, device, a.seconds)
    theirs = dataloader_path(images, batch, device, a.seconds, a.workers)
    results["data_path"] = {"device_resident_batches_per_s": round(ours, 1),
                            f"dataloader_{a.workers}_workers_batches_per_s": round(theirs, 1),
                            "ratio": round(ours / theirs, 1)}
    print(f"data path, batches of {batch} augmented faces per second:")
    print(f"  device-resident batched augmentation: {ours:10,.1f}")
    print(f"  DataLoader + torchvision ({a.workers} workers): {theirs:10,.1f}")
    print(f"  ratio: {ours / theirs:.1f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
