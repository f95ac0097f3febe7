"""NDA-MoCo / MoCo training-step time with lightly, beside the floor the extra NDA passes set.

Both are ``lightly_nda.NDAMoCo`` (plain MoCo is ``nda=None``, i.e. lightly's own ``NTXentLoss``)
with the same lightly CIFAR ResNet, batch and memory bank, stepped on the same real CIFAR-10
batch: ``training_step`` (query forward, momentum update, batch-shuffled key forward, NDA images
and their momentum-encoder forward, loss), backward and SGD step. The floor of an NDA-MoCo step
is a MoCo step plus the extra work NDA cannot avoid: one momentum-encoder forward pass of the
M x B NDA images, timed in the same run:

    floor = t(MoCo step) + t(momentum encoder on M x B images)      target: t(NDA-MoCo step) <= 1.05 x floor

Timing: ``torch.utils.benchmark.Timer`` (warm-up, thread setting, CUDA synchronisation); the
measurements alternate over ``--rounds`` rounds so that load on a shared machine hits them alike.
The statistic and verdict are those of every step benchmark (``nda_core.benchmark.step_statistics``):
per round NDA-MoCo step / floor, the median over rounds with its interquartile range, target met
when the median is <= 1.05. The NDA transform itself (jigsaw on the batch) is timed and reported
separately: it is part of the overhead above the floor. The JSON (``--json``, default
``docs/results/step_lightly.json``) holds the settings, every per-round time and the load average.

    python benchmarks/lightly_step.py --batch 32 --width 0.5 --threads 2 --rounds 7
    python benchmarks/lightly_step.py --device cuda --batch 256 --width 1.0      # on a GPU
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings
from pathlib import Path

import torch

DEFAULT_JSON = Path(__file__).resolve().parents[1] / "docs" / "results" / "step_lightly.json"
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
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--backbone", default="resnet-18")
    parser.add_argument("--width", type=float, default=0.5, help="ResNet width multiplier (1.0 = 64-channel stem)")
    parser.add_argument("--views", type=int, default=2, help="NDA views per sample (M)")
    parser.add_argument("--nda", default="jigsaw")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed measurement")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of the three measurements")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--autocast",
        choices=("off", "bf16"),
        default="off",
        help="bf16: every timed call inside torch.autocast(device, bfloat16)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="JSON artifact")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from nda_core.benchmark import command_line, machine_facts, print_step_verdict, step_statistics, write_step_record

    machine = machine_facts(args.threads, args.device)
    warnings.filterwarnings("ignore", ".*self.log.*")
    from lightly.transforms.utils import IMAGENET_NORMALIZE
    from torch.utils.benchmark import Timer

    from nda_core.benchmark import timed_rounds, under_autocast
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
    statements = under_autocast(statements, device, args.autocast)
    for fn in statements.values():  # warm-up
        fn()

    def clock(fn) -> float:
        return Timer(stmt="fn()", globals={"fn": fn}, num_threads=args.threads).timeit(args.steps).mean

    def progress(index: int, times: dict[str, list[float]]) -> None:
        print(
            f"round {index + 1}/{args.rounds}: " + ", ".join(f"{n} {t[-1] * 1e3:.1f} ms" for n, t in times.items()),
            flush=True,
        )

    times = timed_rounds(statements, args.rounds, clock, progress)

    median = {name: statistics.median(values) for name, values in times.items()}
    floor = [m + e for m, e in zip(times["moco"], times["extra_forward"])]
    stats = step_statistics(times["nda"], floor, times["moco"])
    stats["nda_transform_over_plain_median"] = statistics.median(
        t / m for t, m in zip(times["nda_transform"], times["moco"])
    )
    print(
        f"\n{args.device}, {args.threads} threads, batch {args.batch}, lightly {args.backbone} width "
        f"{args.width}, 32x32 real "
        f"CIFAR-10, {args.nda} x {args.views} NDA views per sample, memory bank {BANK}, "
        f"{args.rounds} rounds x {args.steps} steps, autocast {args.autocast}"
    )
    for name in statements:
        print(f"  {name:14s} median {median[name] * 1e3:8.1f} ms")
    print(f"NDA transform on the batch: {stats['nda_transform_over_plain_median'] * 100:.1f}% of a MoCo step (median)")
    settings = {key: value for key, value in vars(args).items() if key != "json"}
    settings["bank"] = BANK
    write_step_record(
        args.json,
        "lightly",
        command_line("python benchmarks/lightly_step.py", sys.argv[1:]),
        settings,
        machine,
        times,
        f"MoCo step + momentum-encoder forward of the {args.views} x B NDA images",
        stats,
    )
    print_step_verdict(stats, args.json)


if __name__ == "__main__":
    main()
