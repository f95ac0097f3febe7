"""CIFAR-10 image folders for mmcls/mmpretrain ``CustomDataset``: subset lists and a clear error for a missing root.

The CIFAR-10 configs read their root from ``$NDA_CIFAR10_ROOT`` (default ``data/cifar10`` under the
folder a run starts from; plain mmengine substitution in ``_base_/datasets/cifar10.py``). Their
dataset is ``CIFAR10Folder``, mmcls's / mmpretrain's ``CustomDataset`` unchanged except that building
it without that folder raises a :class:`~nda_core.errors.UsageError` naming ``NDA_CIFAR10_ROOT`` and
``nda data cifar10`` instead of a ``FileNotFoundError`` from deep inside the first iteration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nda_core.data import CIFAR10_ROOT_ENV, class_files
from nda_core.errors import UsageError

__all__ = ["CIFAR10_DEFAULT_ROOT", "CIFAR10FolderMixin", "check_cifar10_root", "write_ann_file"]

#: The configs' root when ``$NDA_CIFAR10_ROOT`` is not set (relative to the folder a run starts from).
CIFAR10_DEFAULT_ROOT = "data/cifar10"
#: Prepares CIFAR-10 (once) and points the configs at it.
PREPARE_COMMAND = f"export {CIFAR10_ROOT_ENV}=$(nda data cifar10 --print-root)"


def write_ann_file(split_root: str | Path, per_class: int, out: str | Path) -> Path:
    """Write ``<class>/<file> <label>`` lines for the first ``per_class`` images of every class.

    The lines are relative to ``split_root`` (e.g. ``cifar10/train``), so a config sets
    ``data_root`` to that folder and ``ann_file`` to ``out``; the choice is by file name and so
    the same on every machine.
    """
    split_root = Path(split_root)
    files, _ = class_files(split_root, per_class, seed=None)
    out = Path(out)
    out.write_text("".join(f"{file.relative_to(split_root).as_posix()} {label}\n" for file, label in files))
    return out


def check_cifar10_root(data_root: str | os.PathLike, data_prefix: str | dict = "") -> None:
    """Raise a one-line :class:`UsageError` unless ``data_root/<prefix>`` is a folder.

    ``data_prefix`` is the dataset's (``'train'``, ``'test'`` or ``dict(img_path=...)``).
    """
    prefix = data_prefix.get("img_path", "") if isinstance(data_prefix, dict) else data_prefix
    folder = Path(data_root or ".") / (prefix or "")
    if folder.is_dir():
        return
    variable = os.environ.get(CIFAR10_ROOT_ENV)
    source = f"{CIFAR10_ROOT_ENV} is {variable!r}" if variable else f"{CIFAR10_ROOT_ENV} is not set"
    raise UsageError(
        f"CIFAR-10 is not prepared at data_root={str(data_root)!r}: {str(folder)!r} is not a folder ({source}; "
        f"without it the CIFAR-10 configs read {CIFAR10_DEFAULT_ROOT} under the folder you run from). Run "
        f"`{PREPARE_COMMAND}` to prepare CIFAR-10 once and point the configs at it, or set {CIFAR10_ROOT_ENV} "
        f"to a CIFAR-10 image-folder root (train/<class>/*, test/<class>/*)."
    )


class CIFAR10FolderMixin:
    """Checks ``data_root`` with :func:`check_cifar10_root` before the framework's ``CustomDataset`` reads it."""

    def __init__(self, data_root: str = "", data_prefix: str | dict = "", **kwargs: Any) -> None:
        check_cifar10_root(data_root, data_prefix)
        super().__init__(data_root=data_root, data_prefix=data_prefix, **kwargs)  # the framework's CustomDataset
