"""Cost of NDA in StudioGAN's own discriminator step, against the floor one extra D pass sets.

One StudioGAN ``WORKER`` (real CIFAR-10 images, cached so that image decoding is not timed) runs
``train_discriminator`` two ways and one extra D pass, timed with ``torch.utils.benchmark.Timer``
in rounds that alternate between them (so that load on a shared machine hits all alike):

* plain: StudioGAN's own D step (its ``LOSS.d_loss``, no hooks on the worker);
* NDA: the same step with studiogan_nda's objective (NDA transform + one more D pass per update);
* floor: plain + the measured cost of one extra D forward and backward over a batch of the same
  size for every D update (what scoring NDA images must cost at least).

The statistic and verdict are those of every step benchmark (``nda_core.benchmark.step_statistics``):
per round NDA / floor, the median over rounds with its interquartile range, target met when the
median is <= 1.05. The JSON (``--json``, default ``docs/results/step_studiogan.json``) holds the
settings, every per-round time and the load average.

    STUDIOGAN_ROOT=PATH python benchmarks/studiogan_step.py --threads 2 --rounds 5 [--config CFG.yaml] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "plugins" / "studiogan" / "configs" / "CPU" / "DCGAN-NDA-jigsaw-cpu.yaml"
DEFAULT_JSON = ROOT / "docs" / "results" / "step_studiogan.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--studiogan-root",
        default=os.environ.get("STUDIOGAN_ROOT"),
        help="StudioGAN checkout (default: $STUDIOGAN_ROOT = %(default)s)",
    )
    parser.add_argument(
        "--config", default=str(DEFAULT_CONFIG), help="a StudioGAN YAML with apply_nda: True (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument(
        "--min-run-time", type=float, default=2.0, help="seconds per Timer measurement (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds of the three measurements (default: %(default)s)"
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="JSON artifact (default: docs/results/step_studiogan.json)"
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--autocast",
        choices=("off", "bf16"),
        default="off",
        help="bf16: every timed call inside torch.autocast(device, bfloat16) (default: %(default)s)",
    )
    return parser.parse_args(argv)


def _without_root(argv: list[str]) -> list[str]:
    """The arguments without ``--studiogan-root PATH`` (a folder of this machine; the command names $STUDIOGAN_ROOT)."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--studiogan-root":
            skip = True
        elif not argument.startswith("--studiogan-root="):
            kept.append(argument)
    return kept


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = _without_root(argv if argv is not None else sys.argv[1:])
    os.environ.setdefault("WANDB_MODE", "disabled")
    torch.set_num_threads(args.threads)
    from nda_core.benchmark import machine_facts
    from studiogan_nda import checkout, hooks

    args.machine = machine_facts(args.threads, args.device)

    checkout.add_to_path(args.studiogan_root)
    hooks.install()

    work = Path(tempfile.mkdtemp(prefix="studiogan_step_"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench_sections(config: Path, batch_size: int) -> dict:
    """The flat YAML ``config`` with ``batch_size``, reading the CIFAR-10 image folders (a StudioGAN ``DATA.name``
    CIFAR10 / CIFAR100 would make torchvision download the dataset; ``NAME_images`` reads DATA_DIR/train/)."""
    from studiogan_nda.cli import DOWNLOAD_NAMES
    from studiogan_nda.settings import read_yaml

    sections = read_yaml(config)
    sections.setdefault("OPTIMIZATION", {})["batch_size"] = batch_size
    data = sections.setdefault("DATA", {})
    name = data.get("name", "CIFAR10")
    if name in DOWNLOAD_NAMES:
        data["name"] = f"{name}_images"
    return sections


def _run(args: argparse.Namespace, work: Path) -> int:
    """Build the worker in ``work``, time the three calls round by round, print and write the statistics."""
    from nda_core.benchmark import (
        Clock,
        command_line,
        print_step_verdict,
        step_statistics,
        timed_rounds,
        under_autocast,
        write_step_record,
    )
    from nda_core.data import cifar10_root
    from studiogan_nda.build import build_worker

    (work / "data").mkdir()
    (work / "data" / "train").symlink_to(cifar10_root() / "train", target_is_directory=True)
    cfg = work / "bench.yaml"
    cfg.write_text(yaml.safe_dump(_bench_sections(Path(args.config), args.batch_size), sort_keys=False))
    worker = build_worker(cfg, work / "data", work / "save", seed=0, device=args.device)
    objective = getattr(worker, "nda_objective", None)
    if objective is None:
        raise SystemExit(f"{args.config} has apply_nda: False; pass a config with NDA on.")
    basket = worker.sample_data_basket()  # one real basket, reused every step (decoding is not timed)
    worker.train_iter = itertools.repeat((torch.cat(basket[0]), torch.cat(basket[1])))
    updates = worker.OPTIMIZATION.d_updates_per_step * worker.OPTIMIZATION.acml_steps
    hooked = {name: worker.__dict__[name] for name in ("train_discriminator", "sample_data_basket")}
    recorder = worker.AUG.series_augment
    worker.cfgs.define_losses()  # StudioGAN's own D loss for this config
    plain_loss = worker.LOSS.d_loss

    def use(nda: bool) -> None:
        """NDA: the worker as studiogan_nda set it up; plain: StudioGAN's own methods, loss and augmentation."""
        if nda:
            worker.__dict__.update(hooked)
        else:
            for name in hooked:
                worker.__dict__.pop(name, None)
        worker.LOSS.d_loss = objective if nda else plain_loss
        worker.AUG.series_augment = recorder if nda else objective.augment

    def step() -> None:
        worker.train_discriminator(current_step=0)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    images, labels = basket[0][0].to(args.device), basket[1][0].to(args.device)

    def extra_pass() -> None:
        worker.Dis(objective.augment(images), labels)["adv_output"].mean().backward()

    def plain_step() -> None:
        use(False)
        step()

    def nda_step() -> None:
        use(True)
        step()

    def extra_passes() -> None:
        use(False)
        for _ in range(updates):
            extra_pass()

    calls = under_autocast({"plain": plain_step, "nda": nda_step, "extra": extra_passes}, args.device, args.autocast)
    for fn in calls.values():  # warm-up
        fn()
    times = timed_rounds(
        calls,
        args.rounds,
        Clock(args.threads, args.min_run_time),
        progress=lambda index, t: print(
            f"round {index + 1}/{args.rounds}: " + ", ".join(f"{n} {v[-1] * 1e3:.0f} ms" for n, v in t.items()),
            flush=True,
        ),
    )
    use(False)
    worker.Dis.zero_grad(set_to_none=True)
    floor = [p + e for p, e in zip(times["plain"], times["extra"])]
    stats = step_statistics(times["nda"], floor, times["plain"])
    print(
        f"StudioGAN D step ({Path(args.config).name}, batch {args.batch_size}, {updates} D update(s) per step, "
        f"{args.device}, autocast {args.autocast}, {args.threads} thread(s), NDA {objective.settings.spec}): "
        f"plain {stats['plain_ms_median']:.1f} ms, "
        f"NDA {stats['nda_ms_median']:.1f} ms, floor {stats['floor_ms_median']:.1f} ms (medians)"
    )
    settings = {
        key: value for key, value in vars(args).items() if key not in ("json", "machine", "studiogan_root", "argv")
    }
    settings.update(
        config=Path(args.config).resolve().relative_to(ROOT).as_posix()
        if Path(args.config).resolve().is_relative_to(ROOT)
        else Path(args.config).name,
        d_updates_per_step=updates,
        nda=str(objective.settings.spec),
        studiogan_root="$STUDIOGAN_ROOT (StudioGAN 947b35e from ../shared/vendor)",
    )
    # $SG: the extracted StudioGAN checkout (docs/results.md says how to make it)
    command = "STUDIOGAN_ROOT=$SG " + command_line("python benchmarks/studiogan_step.py", args.argv)
    write_step_record(
        args.json,
        "studiogan",
        command,
        settings,
        args.machine,
        times,
        f"plain D step + {updates} x one D forward and backward over a batch of the same size",
        stats,
    )
    print_step_verdict(stats, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
