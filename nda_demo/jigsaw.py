"""Jigsaw-NDA GAN on real images (paper, Section 3, Fig. 4, Table 5) at CPU scale.

Trains the same GAN twice with the same seed and budget on real CIFAR-10 images, plain and
with jigsaw (K=2) images of the real batch as NDA negatives, then measures

* KID (main) and FID (secondary, N stated) of generated samples against real test images,
  with the offline Inception of :mod:`nda_core.fidkid`;
* the per-image gap ``D(x) - D(jigsaw(x))`` on held-out real images (Fig. 4) and its AUROC;
* anomaly AUROC of D on held-out real images against generated corruptions (Table 5 style):
  jigsaw itself and NDAs the model never trained on (stitch, cutout, vflip, mixup, noise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

import nda_core
from nda_core._checks import check_bool
from nda_core.data import cifar10_root, load_image_folder
from nda_core.metrics import auroc, separation
from nda_demo.config import JigsawConfig, validate_jigsaw
from nda_demo.gan import NDAGAN
from nda_demo.models import Discriminator, Generator
from nda_demo.training import fit_steps, seed_all

__all__ = ["JigsawConfig", "JigsawResult", "load_real_images", "run_jigsaw", "validate_jigsaw", "CORRUPTIONS"]

#: Corruptions scored against clean held-out images (name -> nda_core spec); jigsaw is the trained NDA.
CORRUPTIONS: dict[str, Any] = {
    "jigsaw": {"type": "jigsaw", "k": 2},
    "stitch": {"type": "stitch"},
    "cutout": {"type": "cutout"},
    "vflip": {"type": "vflip"},
    "mixup": {"type": "mixup"},
    "noise": {"type": "noise", "std": 0.2},
}
#: Seed of the held-out evaluation draws (same for every run).
EVAL_SEED = 12345


@dataclass
class JigsawResult:
    """What one run produced."""

    nda: bool
    seed: int
    separation: dict[str, float]
    anomaly_auroc: dict[str, float]
    fidkid: dict[str, float] | None
    seconds: float
    d_real: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    d_jigsaw: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    samples: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))

    def summary(self) -> dict[str, Any]:
        return {
            "nda": self.nda,
            "seed": self.seed,
            "separation": self.separation,
            "anomaly_auroc": self.anomaly_auroc,
            "fidkid": self.fidkid,
            "seconds": self.seconds,
        }


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1] (the generator's tanh range)."""
    return images.float().div(127.5).sub(1.0)


def load_real_images(config: JigsawConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out test) CIFAR-10 images as uint8 (N, 3, 32, 32)."""
    validate_jigsaw(config)
    root = cifar10_root(config.data)
    train, _, _ = load_image_folder(root / "train", per_class=config.train_per_class, seed=0)
    test, _, _ = load_image_folder(root / "test", per_class=config.eval_per_class, seed=0)
    return train, test


def score_corruptions(module: NDAGAN, clean: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """D scores of clean images and of each corruption of them (fixed draws)."""
    d_clean = module.score(clean)
    scores = {}
    for name, spec in CORRUPTIONS.items():
        corrupted = nda_core.build(spec)(clean, generator=torch.Generator().manual_seed(EVAL_SEED))
        scores[name] = module.score(corrupted)
    return d_clean, scores


def run_jigsaw(
    config: JigsawConfig,
    nda: bool,
    seed: int,
    train: torch.Tensor,
    test: torch.Tensor,
    real_features: torch.Tensor | None = None,
    extractor: Any = None,
    progress: bool = True,
) -> JigsawResult:
    """Train one GAN (plain or jigsaw-NDA) on ``train`` (uint8) and evaluate it on ``test``."""
    validate_jigsaw(config)
    check_bool(nda, "nda", "True trains with jigsaw negatives, False the plain GAN.")
    generator = seed_all(seed)
    images = to_unit_range(train)
    torch.manual_seed(seed)  # same initial weights for the plain and the NDA run
    module = NDAGAN(
        Generator(32, 3, width=config.width),
        Discriminator(32, 3, width=config.width),
        negatives=nda_core.build(CORRUPTIONS["jigsaw"]) if nda else None,
        lam=config.lam if nda else 1.0,
        kind=config.kind,
        d_steps=config.d_steps,
    )
    start = time.perf_counter()
    fit_steps(module, images, config.steps, config.batch_size, generator, progress=progress, device=config.device)
    seconds = time.perf_counter() - start
    clean = to_unit_range(test)
    d_clean, scores = score_corruptions(module, clean)
    fidkid = None
    samples = module.sample(max(config.fid_samples, 64))
    if config.fid_samples and extractor is not None and real_features is not None:
        from nda_core.fidkid import fid_kid

        fake_features = extractor.features(samples[: config.fid_samples], progress=progress)
        fidkid = fid_kid(real_features, fake_features)
    return JigsawResult(
        nda=nda,
        seed=seed,
        separation=separation(d_clean, scores["jigsaw"]),
        anomaly_auroc={name: auroc(d_clean, values) for name, values in scores.items()},
        fidkid=fidkid,
        seconds=seconds,
        d_real=d_clean,
        d_jigsaw=scores["jigsaw"],
        samples=samples[:64],
    )
