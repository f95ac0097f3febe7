"""Shared training helpers: a Lightning Trainer for a fixed number of GAN steps, seeding, threads."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import pytorch_lightning as pl

from nda_demo.gan import NDAGAN

__all__ = ["GANBudget", "fit_steps", "seed_all", "set_threads", "DEFAULT_THREADS"]

#: CPU threads the demo uses by default (the target machine is a 2-core laptop).
DEFAULT_THREADS = 2


@dataclass
class GANBudget:
    """Training settings shared by the demo's experiments: the same for the plain and the NDA run."""

    steps: int = 1000  # generator steps
    batch_size: int = 32
    lam: float = 0.25  # weight of G's samples in the fake mixture; 1 - lam goes to the NDA images
    d_steps: int = 1  # discriminator steps per generator step
    kind: str = "hinge"  # adversarial loss (nda_core.losses)
    width: int = 16  # base channel width of G and D


def set_threads(threads: int | None) -> None:
    """Limit torch's intra-op threads (None keeps torch's default)."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}.")
    torch.set_num_threads(threads)


def seed_all(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (through Lightning) and return a CPU generator with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
    pl.seed_everything(seed, verbose=False)
    return torch.Generator().manual_seed(seed)


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*GPU available but not used.*")
    warnings.filterwarnings("ignore", ".*module\(s\) in eval mode.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")


def fit_steps(
    module: NDAGAN,
    images: torch.Tensor,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    progress: bool = True,
) -> pl.Trainer:
    """Train ``module`` for exactly ``steps`` generator updates on batches drawn from ``images``.

    Each step reads ``batch_size * module.d_steps`` real images (with replacement), so every
    discriminator update sees its own real batch. Runs Lightning's Trainer on the CPU.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1 (generator updates), got {steps!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2, got {batch_size!r}.")
    _quiet_lightning()
    per_step = batch_size * module.d_steps
    sampler = RandomSampler(range(len(images)), replacement=True, num_samples=steps * per_step, generator=generator)
    loader = DataLoader(TensorDataset(images), batch_size=per_step, sampler=sampler, drop_last=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=steps,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    return trainer
