"""NDA-MoCo / MoCo training-step time with lightly, beside the floor the extra NDA passes set.

Both are ``lightly_nda.NDAMoCo`` (plain MoCo is ``nda=None``, i.e. lightly's own ``NTXentLoss``)
with the same lightly CIFAR ResNet, batch and memory bank, stepped on the same real CIFAR-10
batch: ``training_step`` (query forward, momentum update, batch-shuffled key forward, NDA images
and their momentum-encoder forward, loss), backward and SGD step. The floor of an NDA-MoCo step
is a MoCo step plus the extra work NDA cannot avoid: one momentum-encoder forward pass of the
M x B NDA images, timed in the same run:

    floor = t(MoCo step) + t(momentum encoder on M x B images)      target: t(NDA-MoCo step) <= 1.05 x floor

Timing: ``torch.utils.benchmark.Timer`` (warm-up, thread setting, CUDA synchronisation); the
three measurements alternate over ``--rounds`` rounds so that load on a shared machine hits them
alike, and ratios use the medians (the minima are printed too). The NDA transform itself (jigsaw
on the batch) is timed and reported separately: it is the part of the overhead above the floor.

    python benchmarks/lightly_step.py --batch 64 --width 0.5 --rounds 7
    python benchmarks/lightly_step.py --device cuda --batch 256 --width 1.0      # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import torch

TARGET_SLACK = 1.05  # NDA-MoCo step within 5% of the floor
BANK = 4096
PROJECTION_DIM = 128


def build(nda, args, device):
    from lightly_nda import NDAMoCo, cifar_resnet

    torch.manual_seed(0)
    backbone, dim = cifar_resnet(args.backbone, args.width)
    model = NDAMoCo(backbone, dim, nda=nda, num_nda_views=args.views, memory_bank_size=(BANK, PROJECTION_DIM))
    model = model.to(device).train()
    optimizer = model.configure_optimizers()  # no trainer: plain SGD, as configured by the module
    return model, optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--backbone", default="resnet-18")
    parser.add_argument("--width", type=float, default=0.5, help="ResNet width multiplier (1.0 = 64-channel stem)")
    parser.add_argument("--views", type=int, default=2, help="NDA views per sample (M)")
    parser.add_argument("--nda", default="jigsaw")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed measurement")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of the three measurements")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", ".*self.log.*")
    from torch.utils.benchmark import Timer

    from lightly.transforms.utils import IMAGENET_NORMALIZE
    from nda_core.benchmark import timed_rounds
    from nda_core.data import cifar10_root, load_image_folder
    from nda_demo.training import _quiet_lightning

    _quiet_lightning()  # after importing Lightning, whose import sets its loggers to INFO

    device = torch.device(args.device)
    images, labels, _ = load_image_folder(cifar10_root() / "train", per_class=args.batch // 10 + 1, seed=0)
    mean = torch.tensor(IMAGENET_NORMALIZE["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_NORMALIZE["std"]).view(1, 3, 1, 1)
    x = ((images[: args.batch].float() / 255 - mean) / std).to(device)
    batch = ([x, x.flip(3)], labels[: args.batch].to(device))  # two views of the same real images

    models = {"moco": build(None, args, device), "nda": build(args.nda, args, device)}
    nda_model = models["nda"][0]
    nda_images = nda_model.nda_images(batch[0])  # (M * B, C, H, W), made once for the floor measurement

    def step(name: str) -> None:
        model, optimizer = models[name]
        optimizer.zero_grad(set_to_none=True)
        model.training_step(batch, 0).backward()
        optimizer.step()

    statements = {
        "moco": lambda: step("moco"),
        "nda": lambda: step("nda"),
        "extra_forward": lambda: nda_model.forward_momentum(nda_images),
        "nda_transform": lambda: nda_model.nda_images(batch[0]),
    }
    for fn in statements.values():  # warm-up
        fn()
    def clock(fn) -> float:
        return Timer(stmt="fn()", globals={"fn": fn}, num_threads=args.threads).timeit(args.steps).mean

    def progress(index: int, times: dict[str, list[float]]) -> None:
        print(f"round {index + 1}/{args.rounds}: " + ", ".join(f"{n} {t[-1] * 1e3:.1f} ms" for n, t in times.items()), flush=True)

    times = timed_rounds(statements, args.rounds, clock, progress)

    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    print(f"\n{args.device}, {args.threads} threads, batch {args.batch}, lightly {args.backbone} width {args.width}, 32x32 real "
          f"CIFAR-10, {args.nda} x {args.views} NDA views per sample, memory bank {BANK}, "
          f"{args.rounds} rounds x {args.steps} steps")
    for name in statements:
        print(f"  {name:14s} median {median[name] * 1e3:8.1f} ms   min {best[name] * 1e3:8.1f} ms")
    for label, t in (("median", median), ("min", best)):
        ratio = t["nda"] / t["moco"]
        floor = (t["moco"] + t["extra_forward"]) / t["moco"]
        print(f"[{label}] NDA-MoCo / MoCo step = {ratio:.3f}; floor (MoCo + momentum forward of {args.views} x B images) "
              f"/ MoCo = {floor:.3f}; ratio / floor = {ratio / floor:.3f} "
              f"(target <= {TARGET_SLACK}: {'met' if ratio / floor <= TARGET_SLACK else 'NOT met'})")
    print(f"NDA transform on the batch: {median['nda_transform'] / median['moco'] * 100:.1f}% of a MoCo step (median)")


if __name__ == "__main__":
    main()
