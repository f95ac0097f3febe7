"""Cost of NDA in StudioGAN's own discriminator step, against the floor one extra D pass sets.

One StudioGAN ``WORKER`` (real CIFAR-10 images, cached so that image decoding is not timed) runs
``train_discriminator`` three ways, all timed with ``torch.utils.benchmark.Timer`` in one run:

* plain: StudioGAN's own D step (its ``LOSS.d_loss``, no hooks on the worker);
* NDA: the same step with studiogan_nda's objective (NDA transform + one more D pass per update);
* floor: plain + the measured cost of one extra D forward and backward over a batch of the same
  size for every D update (what scoring NDA images must cost at least).

It prints ``NDA / plain``, ``floor / plain`` and ``NDA / floor`` (target: within 5% of the floor).

    python benchmarks/studiogan_step.py --studiogan-root PATH [--config CFG.yaml] [--batch-size 64]
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
from torch.utils import benchmark

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "plugins" / "studiogan" / "configs" / "CPU" / "DCGAN-NDA-jigsaw-cpu.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studiogan-root", default=os.environ.get("STUDIOGAN_ROOT"), help="StudioGAN checkout (default: $STUDIOGAN_ROOT = %(default)s)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="a StudioGAN YAML with apply_nda: True (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--min-run-time", type=float, default=10.0, help="seconds per Timer measurement (default: %(default)s)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="(default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "disabled")
    torch.set_num_threads(args.threads)
    from studiogan_nda import checkout, hooks

    checkout.add_to_path(args.studiogan_root)
    hooks.install()

    work = Path(tempfile.mkdtemp(prefix="studiogan_step_"))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    """Build the worker in ``work`` and print the three timings and their ratios."""
    from nda_core.data import cifar10_root
    from studiogan_nda.build import build_worker

    (work / "data").mkdir()
    (work / "data" / "train").symlink_to(cifar10_root() / "train", target_is_directory=True)
    cfg = work / "bench.yaml"
    cfg.write_text(f"_base_: {Path(args.config).resolve()}\nOPTIMIZATION: {{batch_size: {args.batch_size}}}\n")
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

    def measure(label: str, fn) -> float:
        fn()  # warm-up
        timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=args.threads, label=label)
        return timer.blocked_autorange(min_run_time=args.min_run_time).median

    results = {}
    for name, nda in (("plain", False), ("nda", True), ("plain_again", False)):
        use(nda)
        results[name] = measure(name, step)
    use(False)
    results["extra_pass"] = measure("extra D pass", extra_pass) * updates
    worker.Dis.zero_grad(set_to_none=True)
    plain = min(results["plain"], results["plain_again"])
    floor = plain + results["extra_pass"]
    print(f"StudioGAN D step ({Path(args.config).name}, batch {args.batch_size}, {updates} D update(s) per step, "
          f"{args.device}, {args.threads} thread(s), NDA {objective.settings.spec}):")
    print(f"  plain StudioGAN : {plain * 1e3:9.1f} ms  (runs: {results['plain'] * 1e3:.1f}, {results['plain_again'] * 1e3:.1f})")
    print(f"  NDA             : {results['nda'] * 1e3:9.1f} ms")
    print(f"  floor           : {floor * 1e3:9.1f} ms  (plain + {updates} x one D forward+backward = {results['extra_pass'] * 1e3:.1f} ms)")
    print(f"  NDA / plain = {results['nda'] / plain:.3f}   floor / plain = {floor / plain:.3f}   NDA / floor = {results['nda'] / floor:.3f}  (target <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
