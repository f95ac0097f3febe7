"""Settings of the demo's experiments and their checks (torch only, so ``nda --help`` stays fast).

The experiments themselves (:mod:`nda_demo.numerosity`, :mod:`nda_demo.jigsaw`) need the
``eval`` extra (PyTorch Lightning, matplotlib, scipy); their settings and defaults live here so
that the command line can show them without importing the training stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nda_core._checks import check_choice, check_int, check_number, check_sequence
from nda_core.errors import UsageError
from nda_core.losses import ADVERSARIAL_KINDS
from nda_demo.dots import DotsConfig, check_counts

__all__ = [
    "EVAL_INSTALL",
    "DEFAULT_THREADS",
    "GANBudget",
    "NumerosityConfig",
    "JigsawConfig",
    "validate_budget",
    "validate_numerosity",
    "validate_jigsaw",
    "validate_seeds",
    "DEVICES",
    "resolve_device",
]

#: The command that installs what the experiments need (Lightning, matplotlib, scipy, FID/KID).
EVAL_INSTALL = "pip install 'nda-plugins[eval]'"
#: CPU threads the demo uses by default (the target machine is a 2-core laptop).
DEFAULT_THREADS = 2
#: Real target-count images in the numerosity training set.
TRAIN_IMAGES = 20_000
#: Images in the bank of negatives (counts from ``negatives``) the numerosity NDA draws from.
NEGATIVE_BANK = 20_000
#: Fresh real images per count group used to score the numerosity discriminators.
SCORE_IMAGES = 1_000
#: Where Lightning trains: the CPU (default, as the published results), the GPU, or the GPU where there is one.
DEVICES = ("cpu", "cuda", "auto")
_LAM_HINT = "lam weights G's samples in D's fake mixture, 1 - lam the NDA images (paper: 0.25)."


@dataclass
class GANBudget:
    """Training settings shared by the demo's experiments: the same for the plain and the NDA run."""

    steps: int = 1000  # generator steps
    batch_size: int = 32
    lam: float = 0.25  # weight of G's samples in the fake mixture; 1 - lam goes to the NDA images
    d_steps: int = 1  # discriminator steps per generator step
    kind: str = "hinge"  # adversarial loss (nda_core.losses)
    width: int = 16  # base channel width of G and D
    device: str = "cpu"  # where Lightning trains: cpu, cuda, or auto (cuda where torch sees one)


@dataclass
class NumerosityConfig(GANBudget):
    """Settings of one numerosity comparison (defaults: the `nda demo numerosity` command)."""

    target: int = 6
    # the paper uses 4, 5, 7; a symmetric set around the target showed the count effect at
    # CPU scale where 4, 5, 7 did not (docs/results.md)
    negatives: tuple[int, ...] = (4, 5, 7, 8)
    heldout: tuple[int, ...] = (3, 9)
    size: int = 32
    radius: float = 2.5
    eval_samples: int = 2000
    train_images: int = TRAIN_IMAGES
    negative_bank: int = NEGATIVE_BANK
    score_images: int = SCORE_IMAGES


@dataclass
class JigsawConfig(GANBudget):
    """Settings of the jigsaw-NDA comparison (defaults: ``nda demo jigsaw``)."""

    train_per_class: int = 1000
    eval_per_class: int = 50  # held-out test images per class for D scores and KID/FID
    fid_samples: int = 250  # generated images for KID/FID (0 skips them)
    data: str | None = None  # CIFAR-10 dataset root (train/, test/) or archive; None: the prepared root


def resolve_device(device: str, name: str = "device") -> str:
    """``device`` (one of :data:`DEVICES`) as the Lightning accelerator it trains on: ``cpu`` or ``cuda``.

    ``auto`` is ``cuda`` where torch sees a CUDA device, else ``cpu``; ``cuda`` without one is a
    ``UsageError`` (``name`` says how the caller spells the setting, e.g. ``--device``).
    """
    check_choice(
        device,
        name,
        DEVICES,
        hint="cpu trains on the CPU (the published runs), cuda on the GPU, auto on the GPU where torch sees one.",
    )
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"{name} 'cuda': torch sees no CUDA device here (torch.cuda.is_available() is False); train on the "
            f"CPU with {name} cpu, or {name} auto to use the GPU only where there is one."
        )
    return device


def validate_budget(config: GANBudget) -> None:
    """Check the settings every experiment shares."""
    check_int(config.steps, "steps", 1, hint="steps counts generator updates per run.")
    check_int(config.batch_size, "batch_size", 2, hint="batch_size counts real images per D update.")
    check_number(
        config.lam,
        "lam",
        0.0,
        1.0,
        low_open=True,
        high_open=True,
        hint=_LAM_HINT + " lam 1 gives the NDA images no weight, so the NDA run would repeat the plain one.",
    )
    check_int(config.d_steps, "d_steps", 1, hint="d_steps counts D updates per G update.")
    check_choice(config.kind, "kind", ADVERSARIAL_KINDS)
    check_int(config.width, "width", 1, hint="width is the base channel width of G and D (16 in the demo).")
    resolve_device(config.device)


def validate_numerosity(config: NumerosityConfig) -> DotsConfig:
    """Check the counts and sizes of ``config`` against the canvas; returns its DotsConfig."""
    validate_budget(config)
    dots = DotsConfig(config.size, config.radius)
    check_counts(config.target, "target", dots, minimum=1)
    negatives = check_counts(list(config.negatives), "negatives", dots)
    heldout = check_counts(list(config.heldout), "heldout", dots) if config.heldout else []
    if config.target in negatives:
        raise UsageError(
            f"negatives {list(config.negatives)} include the target count {config.target}: images with the "
            f"target count are real data, not negatives; remove {config.target} from negatives."
        )
    if config.target in heldout:
        raise UsageError(f"heldout {list(config.heldout)} includes the target count {config.target}; remove it.")
    if set(heldout) & set(negatives):
        raise UsageError(
            f"heldout {list(config.heldout)} shares counts {sorted(set(heldout) & set(negatives))} with negatives "
            f"{list(config.negatives)}; held-out counts must be ones the NDA run never saw."
        )
    for name in ("eval_samples", "train_images", "negative_bank", "score_images"):
        check_int(getattr(config, name), name, 1)
    return dots


def validate_jigsaw(config: JigsawConfig) -> None:
    """Check the sizes of ``config`` before any data is loaded."""
    validate_budget(config)
    check_int(config.train_per_class, "train_per_class", 1)
    check_int(config.eval_per_class, "eval_per_class", 1)
    check_int(config.fid_samples, "fid_samples", 0, hint="0 skips KID/FID; otherwise give at least 2 generated images.")
    if config.fid_samples == 1:
        raise UsageError("fid_samples must be 0 (skip KID/FID) or at least 2 generated images, got 1.")


def validate_seeds(seeds: Sequence[int]) -> list[int]:
    """Check that ``seeds`` is a non-empty list of distinct whole numbers >= 0 (each seed trains one pair)."""
    seeds = check_sequence(seeds, "seeds", "each seed trains one plain and one NDA run; give at least one.")
    for seed in seeds:
        check_int(seed, "seeds", 0, hint="seeds are whole numbers >= 0.")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise UsageError(
            f"seeds {seeds} repeat {repeated}: a repeated seed trains the same pair again and would be counted "
            f"twice; give each seed once."
        )
    return seeds
