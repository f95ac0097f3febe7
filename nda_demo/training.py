"""Shared training helpers: a Lightning Trainer for a fixed number of GAN steps, seeding, threads."""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from nda_core._checks import check_int
from nda_demo.config import DEFAULT_THREADS, GANBudget
from nda_demo.gan import NDAGAN  # before Lightning: its import guard names the install command

import pytorch_lightning as pl

__all__ = ["GANBudget", "fit_steps", "seed_all", "set_threads", "DEFAULT_THREADS"]


def set_threads(threads: int | None) -> None:
    """Limit torch's intra-op threads (None keeps torch's default)."""
    if threads is None:
        return
    check_int(threads, "threads", 1, hint="threads is the number of CPU threads torch may use.")
    torch.set_num_threads(threads)


def seed_all(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (through Lightning) and return a CPU generator with ``seed``."""
    check_int(seed, "seed", 0, hint="seeds are whole numbers >= 0.")
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
    callbacks: Sequence[pl.Callback] = (),
) -> pl.Trainer:
    """Train ``module`` for exactly ``steps`` generator updates on batches drawn from ``images``.

    Each step reads ``batch_size * module.d_steps`` real images (with replacement), so every
    discriminator update sees its own real batch. Runs Lightning's Trainer on the CPU, with
    ``callbacks`` (Lightning callbacks) added to it.
    """
    check_int(steps, "steps", 1, hint="steps counts generator updates.")
    check_int(batch_size, "batch_size", 2, hint="batch_size counts real images per D update.")
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
        callbacks=list(callbacks),
    )
    trainer.fit(module, train_dataloaders=loader)
    return trainer
