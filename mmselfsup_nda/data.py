"""Subset lists for mmcls/mmpretrain ``CustomDataset`` (``ann_file``) from an image-folder tree."""

from __future__ import annotations

from pathlib import Path

from nda_core.data import class_files

__all__ = ["write_ann_file"]


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
