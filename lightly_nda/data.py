"""``ImageFolderData``: the image folders of ``nda lightly train`` as a ``LightningDataModule``.

A dataset root holds split folders laid out for torchvision's ``ImageFolder``
(``root/train/<class>/<image>``, ``root/test/<class>/<image>``), as the CIFAR-10 folder that
``nda data cifar10`` prepares does. Training batches are lightly's: two ``MoCoV2Transform`` views
per image and the label (used only by the online linear classifier); validation batches are
centre-cropped images and labels for that classifier's held-out accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torchvision.datasets import ImageFolder

from nda_core._checks import check_int
from nda_core.data import class_files
from nda_core.errors import UsageError

__all__ = ["ImageFolderData", "image_folder", "NO_VALIDATION", "TRAIN_SPLIT", "VAL_SPLIT"]

#: The split folders of a dataset root.
TRAIN_SPLIT, VAL_SPLIT = "train", "test"
#: ``val_dir`` value that switches the online linear evaluation off.
NO_VALIDATION = "none"
_MAX_WORKERS = 4
_MIN_BATCH = 2  # the smallest batch MoCo trains on


class _FirstPerClassFolder(ImageFolder):
    """``ImageFolder`` of the first ``per_class`` images (by name) of each class."""

    def __init__(self, root: str, transform: Any, per_class: int) -> None:
        self.per_class = per_class
        super().__init__(root, transform=transform)

    def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        files, _ = class_files(directory, self.per_class, seed=None)  # nda_core's one subset picker
        return [(str(path), label) for path, label in files]


def image_folder(root: str | Path, transform: Any, per_class: int | None = None) -> ImageFolder:
    """torchvision ``ImageFolder`` of ``root``, or of the first ``per_class`` images (by name) of each class."""
    if not Path(root).is_dir():
        raise UsageError(f"image folder {str(root)!r} does not exist; pass a folder laid out as root/<class>/<image>.")
    if per_class is None:
        return ImageFolder(str(root), transform=transform)
    return _FirstPerClassFolder(str(root), transform, per_class)


class ImageFolderData(pl.LightningDataModule):
    """Training and validation image folders for MoCo with lightly (``--data.*`` of ``nda lightly train``).

    Args:
        root: dataset root holding ``train/`` and ``test/`` image folders (default: CIFAR-10, prepared from the
            offline archive on first use, see ``nda data cifar10``).
        train_dir: training image folder ``<class>/<image>`` (default: ``root/train``).
        val_dir: held-out image folder for the online linear accuracy (default: ``root/test`` when it
            exists), or ``"none"`` for no validation (a smoke run; ``--trainer.limit_val_batches 0`` does the same).
        per_class: use only the first this many images (by name) of each class, in both folders (default: all).
        input_size: crop size of ``MoCoV2Transform`` and of the validation centre crop.
        batch_size: images per batch and device (MoCo drops the incomplete batch).
        num_workers: dataloader worker processes.
    """

    def __init__(
        self,
        root: str | None = None,
        train_dir: str | None = None,
        val_dir: str | None = None,
        per_class: int | None = None,
        input_size: int = 32,
        batch_size: int = 128,
        num_workers: int = min(_MAX_WORKERS, os.cpu_count() or 1),
    ) -> None:
        super().__init__()
        if per_class is not None:
            check_int(per_class, "per_class", 1, hint="or None for every image.")
        self.per_class = per_class
        self.input_size = check_int(input_size, "input_size", 1, hint="32 for CIFAR-10.")
        self.batch_size = check_int(
            batch_size, "batch_size", _MIN_BATCH, hint="MoCo needs at least 2 images per batch."
        )
        self.num_workers = check_int(num_workers, "num_workers", 0)
        self.train_dir = self._train_dir(root, train_dir)
        self.val_dir = self._val_dir(root, val_dir)
        self.train_set: ImageFolder | None = None
        self.val_set: ImageFolder | None = None

    @staticmethod
    def _train_dir(root: str | None, train_dir: str | None) -> Path:
        if train_dir is not None:
            return Path(train_dir)
        if root is None:
            from nda_core.data import cifar10_root

            return cifar10_root() / TRAIN_SPLIT
        folder = Path(root) / TRAIN_SPLIT
        if not folder.is_dir():
            raise UsageError(
                f"root={root!r} holds no {TRAIN_SPLIT}/ folder; pass a dataset root with {TRAIN_SPLIT}/ and "
                f"{VAL_SPLIT}/ "
                f"image folders (--data.root), or the training image folder itself (--data.train_dir {root})."
            )
        return folder

    def _val_dir(self, root: str | None, val_dir: str | None) -> Path | None:
        if val_dir is not None:
            return None if val_dir.strip().lower() == NO_VALIDATION else Path(val_dir)
        folder = (Path(root) if root is not None else self.train_dir.parent) / VAL_SPLIT
        return folder if folder.is_dir() else None

    @property
    def num_classes(self) -> int:
        """Classes of the training folder (the online linear classifier's outputs)."""
        if self.train_set is not None:
            return len(self.train_set.classes)
        if not self.train_dir.is_dir():
            raise UsageError(
                f"train_dir {str(self.train_dir)!r} does not exist; pass a folder laid out as <class>/<image>."
            )
        from torchvision.datasets.folder import find_classes

        return len(find_classes(str(self.train_dir))[0])

    def setup(self, stage: str | None = None) -> None:
        """Read the folders once; a training folder smaller than one batch is an error (no step would be trained)."""
        if self.train_set is not None:
            return
        from lightly.transforms import MoCoV2Transform

        # two augmented views per image (lightly's MoCo-v2 recipe; no blur on 32 px images)
        self.train_set = image_folder(
            self.train_dir, MoCoV2Transform(input_size=self.input_size, gaussian_blur=0.0), self.per_class
        )
        images = len(self.train_set)
        if images < self.batch_size:
            subset = f" (per_class={self.per_class})" if self.per_class is not None else ""
            fix = (
                f"pass batch_size={images} or fewer (--data.batch_size {images})"
                if images >= _MIN_BATCH
                else "add images"
            )
            raise UsageError(
                f"train_dir {self.train_dir} gives {images} images{subset}, fewer than one batch of "
                f"batch_size={self.batch_size}; "
                f"the incomplete batch is dropped, so no step would be trained: {fix}, or more images."
            )
        if self.val_dir is not None:
            self.val_set = image_folder(self.val_dir, self._eval_transform(), self.per_class)

    def _eval_transform(self) -> Any:
        from lightly.transforms.utils import IMAGENET_NORMALIZE
        from torchvision import transforms as T

        size = self.input_size
        return T.Compose(
            [
                T.Resize(size),
                T.CenterCrop(size),
                T.ToTensor(),
                T.Normalize(IMAGENET_NORMALIZE["mean"], IMAGENET_NORMALIZE["std"]),
            ]
        )

    def _loader(self, dataset: ImageFolder, train: bool) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        self.setup("fit")
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> Any:
        """The held-out images, or ``[]`` (no validation) without a validation folder."""
        self.setup("fit")
        return [] if self.val_set is None else self._loader(self.val_set, train=False)
