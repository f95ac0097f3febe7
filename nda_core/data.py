"""Loading real images for examples, tests and benchmarks: image-folder trees and archives.

Images are decoded with Pillow, imported only here (``pip install 'nda-plugins[eval]'``).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["cache_dir", "shared_data_dir", "extract_archive", "cifar10_root", "class_files", "load_image_folder"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CIFAR10_ARCHIVE = "cifar10-jpeg.tar.xz"


def cache_dir() -> Path:
    """Folder for extracted data: ``$NDA_CACHE``, else ``$XDG_CACHE_HOME/nda-plugins``."""
    root = os.environ.get("NDA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nda-plugins"
    return Path(root)


def shared_data_dir() -> Path:
    """The project's offline data folder: ``$NDA_DATA`` or ``../shared/data`` beside the checkout."""
    if os.environ.get("NDA_DATA"):
        return Path(os.environ["NDA_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def extract_archive(archive: str | Path, dest: str | Path | None = None) -> Path:
    """Extract a tar archive once into ``dest`` (default: the cache) and return that folder.

    A marker file (archive name and size) makes later calls free; a half-finished extraction,
    or one of a different archive, is redone.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise ValueError(
            f"archive {str(archive)!r} does not exist; pass the path of a .tar/.tar.xz file "
            f"(the offline data lives in ../shared/data, or set NDA_DATA)."
        )
    if dest is None:  # a fixed name, so that configs can point at it: ~/.cache/nda-plugins/cifar10-jpeg
        dest = cache_dir() / archive.name.split(".")[0]
    dest = Path(dest)
    marker = dest / ".extracted"
    stamp = f"{archive.name} {archive.stat().st_size}"
    if marker.exists() and marker.read_text() == stamp:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    marker.write_text(stamp)
    return dest


def cifar10_root(path: str | Path | None = None) -> Path:
    """Root of the CIFAR-10 image-folder tree (``train/<class>/*.jpg``, ``test/...``).

    ``path`` may be that folder or the ``cifar10-jpeg.tar.xz`` archive; by default the
    archive in the shared data folder is extracted to the cache.
    """
    path = Path(path) if path is not None else shared_data_dir() / CIFAR10_ARCHIVE
    if path.is_dir():
        root = path
    else:
        root = extract_archive(path)
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (candidate / "train").is_dir():
            return candidate
    raise ValueError(f"no train/ folder found under {str(root)!r}; pass the CIFAR-10 image-folder root.")


def class_files(
    root: str | Path, per_class: int | None = None, seed: int | None = 0
) -> tuple[list[tuple[Path, int]], list[str]]:
    """The image files of an image-folder tree ``root/<class>/<image>`` with their labels.

    Args:
        root: folder with one sub-folder per class (labels follow the sorted class names).
        per_class: images per class (default: all); drawn at random with ``seed``, or the first
            ``per_class`` by file name when ``seed`` is None (the same on every machine).

    Returns:
        ``(files, classes)``: ``(path, label)`` pairs and the class names.
    """
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not classes:
        raise ValueError(f"{str(root)!r} holds no class folders; pass a folder laid out as root/<class>/<image>.")
    rng = np.random.default_rng(seed)
    picked: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if per_class is not None and per_class < len(files):
            chosen = range(per_class) if seed is None else sorted(rng.choice(len(files), per_class, replace=False))
            files = [files[i] for i in chosen]
        picked += [(file, label) for file in files]
    if not picked:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(root)!r}.")
    return picked, classes


def load_image_folder(
    root: str | Path,
    per_class: int | None = None,
    seed: int | None = 0,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read an image-folder tree ``root/<class>/<image>`` into a uint8 tensor.

    Args:
        root: folder with one sub-folder per class.
        per_class: images per class (default: all), chosen as in :func:`class_files`.
        seed: random choice of the images, or None for the first ``per_class`` by name.

    Returns:
        ``(images, labels, classes)``: (N, C, H, W) uint8, (N,) int64 and the class names.
    """
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("reading images needs Pillow: pip install 'nda-plugins[eval]'") from error
    files, classes = class_files(root, per_class, seed)
    images = []
    for file, _ in files:
        with Image.open(file) as image:
            images.append(np.asarray(image.convert("RGB")))
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return stacked, torch.tensor([label for _, label in files], dtype=torch.long), classes
