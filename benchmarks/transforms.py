"""Speed of every NDA transform, as ratios measured in one run on this machine.

For each batch shape (256x3x32x32, 64x3x224x224 and a clip batch 8x3x16x112x112, float32)
it times, interleaved round by round, and reports medians:

- ``x.clone()`` of the same batch: the physical floor (read and write every byte once),
  timed right before each transform so that both meet the same allocator state;
- our transform (``nda_core.build(name)``);
- a per-sample Python loop written the way the paper's research code does it;
- kornia's and torchvision v2's nearest equivalents, where they have one (clips are given
  to them as (B, C*T, H, W), the same transform on every frame).

The noise NDA also reports its ratio to ``torch.randn`` of the same size: drawing the
Gaussian field is its own floor.

Run:  python benchmarks/transforms.py [--rounds 15] [--device cpu] [--json out.json]
      [--threads N] [--clock wall|cpu]
``--clock cpu`` (with ``--threads 1``) times each call in this thread's CPU time, which other
processes on a shared machine disturb far less than wall time.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from typing import Callable

import numpy as np
import torch

import nda_core

SHAPES = {
    "256x3x32x32": (256, 3, 32, 32),
    "64x3x224x224": (64, 3, 224, 224),
    "clip 8x3x16x112x112": (8, 3, 16, 112, 112),
}
NAMES = ["jigsaw", "stitch", "cutout", "cutmix", "mixup", "vflip", "noise"]
# Target: ours / clone at most this (32 px allows more: fixed per-call costs dominate there).
TARGET_VS_CLONE = {"256x3x32x32": 5.0, "64x3x224x224": 2.0, "clip 8x3x16x112x112": 2.0}
TARGET_VS_CLONE_BOX = {"256x3x32x32": 5.0, "64x3x224x224": 2.5, "clip 8x3x16x112x112": 2.5}
LOOP_SPEEDUP_TARGET = 10.0  # jigsaw and cutout vs the per-sample loop
MIXUP_ALPHA = nda_core.transforms.MIXUP_ALPHA
NOISE_STD = nda_core.transforms.NOISE_STD
LABELS = 10  # torchvision's CutMix/MixUp need class labels


# ------------------------------------------------ per-sample loops, as in the paper's code


def _box(height: int, width: int) -> tuple[int, int, int, int]:
    h = random.randint(height // 3, height // 2)
    w = random.randint(width // 3, width // 2)
    return random.randint(0, height - h), random.randint(0, width - w), h, w


def _other(i: int, batch: int) -> int:
    j = random.randrange(batch - 1)
    return j + (j >= i)


def loop_jigsaw(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    out = []
    for image in x:
        rows = torch.chunk(image, k, dim=-2)
        patches = [p for row in rows for p in torch.chunk(row, k, dim=-1)]
        order = np.random.permutation(k * k)
        while (order == np.arange(k * k)).all():
            order = np.random.permutation(k * k)
        shuffled = [patches[i] for i in order]
        out.append(torch.cat([torch.cat(shuffled[r * k:(r + 1) * k], dim=-1) for r in range(k)], dim=-2))
    return torch.stack(out)


def loop_stitch(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    height, width = x.shape[-2:]
    for i in range(x.shape[0]):
        j = _other(i, x.shape[0])
        if random.random() < 0.5:
            out[i, ..., :, width // 2:] = x[j, ..., :, width // 2:]
        else:
            out[i, ..., height // 2:, :] = x[j, ..., height // 2:, :]
    return out


def loop_cutout(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(x.shape[0]):
        top, left, h, w = _box(*x.shape[-2:])
        patch = out[i, ..., top:top + h, left:left + w]
        patch[:] = patch.mean(dim=(-2, -1), keepdim=True)
    return out


def loop_cutmix(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(x.shape[0]):
        j = _other(i, x.shape[0])
        top, left, h, w = _box(*x.shape[-2:])
        out[i, ..., top:top + h, left:left + w] = x[j, ..., top:top + h, left:left + w]
    return out


def loop_mixup(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        g = float(np.random.beta(MIXUP_ALPHA, MIXUP_ALPHA))
        out[i] = g * x[i] + (1 - g) * x[_other(i, x.shape[0])]
    return out


def loop_vflip(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([image.flip(-2) for image in x])


def loop_noise(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([image + NOISE_STD * torch.randn_like(image) for image in x])


LOOPS = {
    "jigsaw": loop_jigsaw,
    "stitch": loop_stitch,
    "cutout": loop_cutout,
    "cutmix": loop_cutmix,
    "mixup": loop_mixup,
    "vflip": loop_vflip,
    "noise": loop_noise,
}


# ------------------------------------------------ library equivalents


def library_equivalents(x: torch.Tensor) -> dict[str, dict[str, Callable[[], torch.Tensor]]]:
    """{nda name: {library label: call}} for the transforms kornia / torchvision v2 offer."""
    flat = x.flatten(1, 2) if x.dim() == 5 else x
    labels = torch.randint(0, LABELS, (x.shape[0],))
    found: dict[str, dict[str, Callable[[], torch.Tensor]]] = {name: {} for name in NAMES}
    try:
        import kornia.augmentation as K

        kornia_ops = {
            "jigsaw": K.RandomJigsaw(grid=(2, 2), p=1.0),
            "cutout": K.RandomErasing(scale=(1 / 9, 1 / 4), ratio=(0.5, 2.0), p=1.0),
            "cutmix": K.RandomCutMixV2(p=1.0, use_correct_lambda=True),
            "mixup": K.RandomMixUpV2(p=1.0),
            "vflip": K.RandomVerticalFlip(p=1.0),
            "noise": K.RandomGaussianNoise(std=NOISE_STD, p=1.0),
        }
        for name, op in kornia_ops.items():
            found[name]["kornia"] = lambda op=op: op(flat)
    except ImportError:
        pass
    try:
        import torchvision.transforms.v2 as T

        tv_ops = {
            "cutout": lambda: T.RandomErasing(p=1.0, scale=(1 / 9, 1 / 4))(flat),
            "cutmix": lambda: T.CutMix(num_classes=LABELS)(flat, labels),
            "mixup": lambda: T.MixUp(num_classes=LABELS)(flat, labels),
            "vflip": lambda: T.RandomVerticalFlip(p=1.0)(flat),
            "noise": lambda: T.GaussianNoise(sigma=NOISE_STD)(flat),
        }
        for name, call in tv_ops.items():
            found[name]["torchvision v2"] = call
    except ImportError:
        pass
    return found


# ------------------------------------------------ measurement


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]


def measure(calls: dict[str, Callable[[], object]], rounds: int, device: torch.device) -> dict[str, float]:
    """Median seconds per call, calls interleaved within each round (after one warm-up)."""
    times: dict[str, list[float]] = {label: [] for label in calls}
    for label, call in calls.items():
        call()
    for _ in range(rounds):
        for label, call in calls.items():
            _sync(device)
            start = clock()
            call()
            _sync(device)
            times[label].append(clock() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def run(rounds: int, device: torch.device, loop_rounds: int) -> list[dict[str, object]]:
    rows = []
    for shape_label, shape in SHAPES.items():
        x = torch.rand(shape, device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        transforms = {name: nda_core.build(name) for name in NAMES}
        # Each transform is timed right after its own clone of the batch (and noise after randn),
        # so that both see the same allocator state; the floor is that paired clone.
        calls: dict[str, Callable[[], object]] = {}
        for name, t in transforms.items():
            calls[f"clone/{name}"] = x.clone
            if name == "noise":
                calls["randn"] = lambda: torch.randn(shape, device=device)
            calls[name] = lambda t=t: t(x, generator=generator)
        ours = measure(calls, rounds, device)
        loops = measure({name: (lambda f=f: f(x)) for name, f in LOOPS.items()}, loop_rounds, device)
        libraries = library_equivalents(x)
        for name in NAMES:
            lib_times = measure(libraries[name], rounds, device) if libraries[name] else {}
            box = name in ("cutout", "cutmix")
            target = (TARGET_VS_CLONE_BOX if box else TARGET_VS_CLONE)[shape_label]
            rows.append(
                {
                    "shape": shape_label,
                    "nda": name,
                    "clone_ms": 1e3 * ours[f"clone/{name}"],
                    "ours_ms": 1e3 * ours[name],
                    "vs_clone": ours[name] / ours[f"clone/{name}"],
                    "vs_randn": ours[name] / ours["randn"],
                    "target_vs_clone": target,
                    "loop_ms": 1e3 * loops[name],
                    "speedup_vs_loop": loops[name] / ours[name],
                    "libraries": {lib: {"ms": 1e3 * t, "speedup": t / ours[name]} for lib, t in lib_times.items()},
                }
            )
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print("| batch | NDA | ours (ms) | clone (ms) | ours / clone (target) | speed-up vs per-sample loop | vs kornia | vs torchvision v2 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        libs = row["libraries"]

        def lib(label: str) -> str:
            return f"{libs[label]['speedup']:.1f}x ({libs[label]['ms']:.2f} ms)" if label in libs else "n/a"

        ok = "ok" if row["vs_clone"] <= row["target_vs_clone"] else "MISSED"
        randn = f"; {row['vs_randn']:.2f} x randn" if row["nda"] == "noise" else ""
        print(
            f"| {row['shape']} | {row['nda']} | {row['ours_ms']:.3f} | {row['clone_ms']:.3f} | {row['vs_clone']:.2f} (<= {row['target_vs_clone']:g}, {ok}{randn}) "
            f"| {row['speedup_vs_loop']:.1f}x | {lib('kornia')} | {lib('torchvision v2')} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="timed calls per method (median reported)")
    parser.add_argument("--loop-rounds", type=int, default=5, help="timed calls of the slow per-sample loops")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall time or this thread's CPU time")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"clock {args.clock}, median of {args.rounds} rounds, float32"
    )
    rows = run(args.rounds, device, args.loop_rounds)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
