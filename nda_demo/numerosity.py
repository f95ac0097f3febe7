"""The paper's numerosity experiment (Appendix A, Fig. 6) at CPU scale.

A GAN is trained on images with exactly ``target`` dots, twice with the same seed and budget:
plain, and with images of other counts (``negatives``) as NDA negatives through nda_core's
``other_dataset`` NDA and :func:`nda_core.losses.nda_discriminator_loss`. We count the dots of
many generated samples (exact connected-component counter) and also score fresh real images
with each discriminator: the NDA discriminator should rank target-count images above
negative-count ones, including counts it never saw (``heldout``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

import nda_core
from nda_core._checks import check_bool
from nda_core.metrics import auroc
from nda_demo.config import NumerosityConfig, validate_numerosity
from nda_demo.dots import count_dots, make_count_mixture, make_dots
from nda_demo.gan import NDAGAN
from nda_demo.models import Discriminator, Generator
from nda_demo.training import fit_steps, seed_all

__all__ = ["NumerosityConfig", "RunResult", "run_numerosity", "validate_numerosity"]


@dataclass
class RunResult:
    """What one trained run produced."""

    nda: bool
    seed: int
    counts: list[int]  # count of each generated sample
    histogram: dict[int, int]
    fraction_target: float
    mean_count: float
    auroc_negatives: float  # D: target-count vs negative-count real images (trained counts)
    auroc_heldout: float | None  # D: target-count vs held-out counts (never shown)
    seconds: float
    cpu_seconds: float
    samples: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("samples")
        out.pop("counts")
        return out


def run_numerosity(config: NumerosityConfig, nda: bool, seed: int, progress: bool = True) -> RunResult:
    """Train one GAN (plain or NDA) on target-count images and evaluate it."""
    dots = validate_numerosity(config)
    check_bool(nda, "nda", "True trains with the other counts as negatives, False the plain GAN.")
    generator = seed_all(seed)
    images = make_dots(config.target, config.train_images, dots, generator)
    bank, _ = make_count_mixture(list(config.negatives), config.negative_bank, dots, generator)
    # fresh real images for scoring the discriminator (same for both runs of a seed)
    score_target = make_dots(config.target, config.score_images, dots, generator)
    score_negatives, _ = make_count_mixture(list(config.negatives), config.score_images, dots, generator)
    score_heldout = (
        make_count_mixture(list(config.heldout), config.score_images, dots, generator)[0] if config.heldout else None
    )
    torch.manual_seed(seed)  # same initial weights for the plain and the NDA run
    module = NDAGAN(
        Generator(config.size, 1, width=config.width),
        Discriminator(config.size, 1, width=config.width),
        negatives=nda_core.build("other_dataset", images=bank) if nda else None,
        lam=config.lam if nda else 1.0,
        kind=config.kind,
        d_steps=config.d_steps,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    fit_steps(module, images, config.steps, config.batch_size, generator, progress=progress, device=config.device)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    samples = module.sample(config.eval_samples)
    counts = count_dots(samples)
    values, freq = counts.unique(return_counts=True)
    d_target = module.score(score_target)
    return RunResult(
        nda=nda,
        seed=seed,
        counts=counts.tolist(),
        histogram={int(v): int(f) for v, f in zip(values, freq)},
        fraction_target=float((counts == config.target).double().mean()),
        mean_count=float(counts.double().mean()),
        auroc_negatives=auroc(d_target, module.score(score_negatives)),
        auroc_heldout=auroc(d_target, module.score(score_heldout)) if score_heldout is not None else None,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        samples=samples[:64],
    )
