"""Shared fixtures: real CIFAR-10 images from the offline data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nda_core.data import CIFAR10_ARCHIVE, cifar10_root, load_image_folder, shared_data_dir

IMAGES_PER_CLASS = 8


def _require_shared_archive() -> Path:
    archive = shared_data_dir() / CIFAR10_ARCHIVE
    if not archive.is_file():
        pytest.fail(
            f"real test data missing: {archive} not found; the tests read CIFAR-10 from ../shared/data "
            f"(or set NDA_DATA to the folder holding {CIFAR10_ARCHIVE})."
        )
    return archive


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """Root of the extracted CIFAR-10 image-folder tree (train/, test/)."""
    return cifar10_root(_require_shared_archive())


@pytest.fixture(scope="session")
def cifar_batch(cifar_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """80 real CIFAR-10 training images (uint8, 8 per class) and their labels."""
    images, labels, _ = load_image_folder(cifar_root / "train", per_class=IMAGES_PER_CLASS, seed=0)
    return images, labels


@pytest.fixture(scope="session")
def cifar_float(cifar_batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The same images as float32 in [0, 1]."""
    return cifar_batch[0].float() / 255.0
