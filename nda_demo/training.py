"""Shared training helpers: a Lightning Trainer for a fixed number of GAN steps, seeding, threads."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from nda_core._checks import check_int
from nda_demo.config import DEFAULT_THREADS, GANBudget, resolve_device
from nda_demo.gan import NDAGAN  # before Lightning: its import guard names the install command

__all__ = ["GANBudget", "fit_steps", "full_float32", "seed_all", "set_threads", "DEFAULT_THREADS"]


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
    warnings.filterwarnings("ignore", r".*module\(s\) in eval mode.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")


@contextmanager
def full_float32() -> Iterator[None]:
    """cuDNN convolutions and CUDA matmuls in full float32 inside (no TF32, which torch allows for cuDNN by
    default), as on the CPU; the settings are restored afterwards."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9: mixing in the legacy flags is an error
        matmul = torch.backends.cuda.matmul
        saved = conv.fp32_precision, matmul.fp32_precision
        conv.fp32_precision = matmul.fp32_precision = "ieee"
        try:
            yield
        finally:
            conv.fp32_precision, matmul.fp32_precision = saved
        return
    saved_legacy = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved_legacy


def fit_steps(
    module: NDAGAN,
    images: torch.Tensor,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    progress: bool = True,
    callbacks: Sequence[pl.Callback] = (),
    device: str = "cpu",
) -> pl.Trainer:
    """Train ``module`` for exactly ``steps`` generator updates on batches drawn from ``images``.

    Each step reads ``batch_size * module.d_steps`` real images (with replacement), so every
    discriminator update sees its own real batch. Runs Lightning's Trainer on ``device`` (``cpu``,
    ``cuda`` or ``auto``, see :func:`nda_demo.config.resolve_device`) in full float32 (:func:`full_float32`),
    with ``callbacks``
    (Lightning callbacks) added to it. The batches are drawn on the CPU with ``generator`` on every
    device; Lightning moves the module back to the CPU when training ends.
    """
    check_int(steps, "steps", 1, hint="steps counts generator updates.")
    check_int(batch_size, "batch_size", 2, hint="batch_size counts real images per D update.")
    accelerator = resolve_device(device)
    _quiet_lightning()
    per_step = batch_size * module.d_steps
    sampler = RandomSampler(range(len(images)), replacement=True, num_samples=steps * per_step, generator=generator)
    loader = DataLoader(TensorDataset(images), batch_size=per_step, sampler=sampler, drop_last=True)
    trainer = pl.Trainer(
        accelerator=accelerator,
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
    with full_float32():
        trainer.fit(module, train_dataloaders=loader)
    return trainer
