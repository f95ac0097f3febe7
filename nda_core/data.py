"""Loading real images for examples, tests and benchmarks: image-folder trees and archives.

Images are decoded with Pillow, imported only here (``pip install 'nda-plugins[eval]'``).
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

__all__ = [
    "cache_dir",
    "shared_data_dir",
    "extract_archive",
    "cifar10_default_root",
    "prepare_cifar10",
    "cifar10_root",
    "class_files",
    "load_image_folder",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CIFAR10_ARCHIVE = "cifar10-jpeg.tar.xz"
#: Environment variable that points configs, demos and examples at a CIFAR-10 image-folder root.
CIFAR10_ROOT_ENV = "NDA_CIFAR10_ROOT"
CIFAR10_FOLDER = "cifar10-jpeg"
# torchvision's python version of CIFAR-10 (cifar-10-python.tar.gz) and its batch files.
_TV_FOLDER = "cifar-10-batches-py"
_TV_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR_SIDE = 32
_PREPARE_HINT = "nda data cifar10"
_DONE_MARKER = ".extracted"  # finished: holds the stamp of what was prepared
_PARTIAL_MARKER = ".incomplete"  # written first, removed last: an interrupted preparation is redone


def cache_dir() -> Path:
    """Folder for extracted data: ``$NDA_CACHE``, else ``$XDG_CACHE_HOME/nda-plugins``."""
    root = os.environ.get("NDA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nda-plugins"
    return Path(root)


def shared_data_dir() -> Path:
    """The project's offline data folder: ``$NDA_DATA`` or ``../shared/data`` beside the checkout."""
    if os.environ.get("NDA_DATA"):
        return Path(os.environ["NDA_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def extract_archive(archive: str | Path, dest: str | Path | None = None, force: bool = False) -> Path:
    """Extract a tar archive once into ``dest`` (default: the cache) and return that folder.

    A marker file (archive name and size) makes later calls free; a half-finished extraction
    (interrupted: its in-progress marker is still there), one of a different archive, or any
    with ``force`` is redone. Says on stderr what it is doing, since a large archive takes a while.
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
    stamp = f"{archive.name} {archive.stat().st_size}"
    if not force and _finished(dest, stamp):
        return dest
    with _preparing(dest, stamp):
        start = time.perf_counter()
        _say(f"extracting {archive} to {dest} (once; about 10 s for CIFAR-10) ...")
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
        _say(f"extracted in {time.perf_counter() - start:.0f} s.")
    return dest


def _say(message: str) -> None:
    print(f"nda-plugins: {message}", file=sys.stderr, flush=True)


def _finished(dest: Path, stamp: str | None = None) -> bool:
    """True when ``dest`` holds a finished preparation (of ``stamp``, if given)."""
    marker = dest / _DONE_MARKER
    if not marker.is_file() or (dest / _PARTIAL_MARKER).exists():
        return False
    return stamp is None or marker.read_text() == stamp


@contextmanager
def _preparing(dest: Path, stamp: str) -> Iterator[None]:
    """Mark ``dest`` as in progress while the body writes into it, finished after it."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / _DONE_MARKER).unlink(missing_ok=True)
    (dest / _PARTIAL_MARKER).write_text(stamp)
    yield
    (dest / _DONE_MARKER).write_text(stamp)
    (dest / _PARTIAL_MARKER).unlink()


def cifar10_default_root() -> Path:
    """Where configs, demos and examples read CIFAR-10: ``$NDA_CIFAR10_ROOT``, else
    ``cache_dir() / "cifar10-jpeg"`` (``$NDA_CACHE``, ``$XDG_CACHE_HOME/nda-plugins`` or
    ``~/.cache/nda-plugins``). The one source of truth for that path."""
    if os.environ.get(CIFAR10_ROOT_ENV):
        return Path(os.environ[CIFAR10_ROOT_ENV])
    return cache_dir() / CIFAR10_FOLDER


def _is_ready(root: Path) -> bool:
    """An image-folder root with ``train/`` and ``test/`` that no preparation is still writing."""
    return (root / "train").is_dir() and (root / "test").is_dir() and not (root / _PARTIAL_MARKER).exists()


def _unpickle(path: Path) -> dict:
    """A CIFAR python batch: Python 2 pickles (torchvision reads them with latin1) whose keys may be
    ``str`` or ``bytes``; keys come back as ``str``."""
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="latin1")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}


def _convert_torchvision_batches(batches: Path, dest: Path) -> None:
    """Write torchvision's pickled CIFAR-10 batches as PNG image folders under ``dest``."""
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("converting CIFAR-10 needs Pillow: pip install 'nda-plugins[eval]'") from error
    classes = [name.decode() if isinstance(name, bytes) else name for name in _unpickle(batches / "batches.meta")["label_names"]]
    with _preparing(dest, f"converted {batches}"):
        _say(f"converting {batches} to PNG image folders in {dest} (once; about a minute) ...")
        for split, names in _TV_SPLITS.items():
            counts = [0] * len(classes)
            for name in names:
                batch = _unpickle(batches / name)
                images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
                for image, label in zip(images, batch["labels"]):
                    folder = dest / split / classes[label]
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(image).save(folder / f"{counts[label]:04d}.png")
                    counts[label] += 1


def _link_image_folder(source: Path, dest: Path) -> None:
    """Make ``dest`` (the default root) a link to the user's image-folder root ``source``."""
    ours = (dest / _DONE_MARKER).exists() or (dest / _PARTIAL_MARKER).exists()
    if dest.is_symlink():
        dest.unlink()  # our own earlier link
    elif dest.exists() and ours:
        shutil.rmtree(dest)  # our own earlier (or interrupted) preparation
    elif dest.exists() and any(dest.iterdir()):
        raise ValueError(
            f"{str(dest)!r} already exists and was not prepared by nda-plugins; remove it, or point configs at "
            f"{str(source)!r} with {CIFAR10_ROOT_ENV}={source}."
        )
    elif dest.exists():
        dest.rmdir()  # an empty folder
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(source.resolve(), target_is_directory=True)
    _say(f"linked {dest} -> {source.resolve()}")


def prepare_cifar10(source: str | Path | None = None, dest: str | Path | None = None, force: bool = False) -> Path:
    """Make the CIFAR-10 image-folder tree (``train/<class>/*``, ``test/<class>/*``) at ``dest``.

    Args:
        source: the offline ``cifar10-jpeg.tar.xz`` (default: the one in :func:`shared_data_dir`),
            torchvision's ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py``
            folder (converted to PNG files), or an image-folder root that already has ``train/``
            and ``test/`` (then ``dest`` becomes a link to it; nothing is copied).
        dest: target folder (default :func:`cifar10_default_root`, where the configs read it).
        force: prepare again even when ``dest`` is ready.

    Returns:
        ``dest``, which now holds ``train/`` and ``test/``.
    """
    source = Path(source).expanduser() if source is not None else shared_data_dir() / CIFAR10_ARCHIVE
    dest = Path(dest).expanduser() if dest is not None else cifar10_default_root()
    if source.is_dir() and _is_ready(source):
        if source.resolve() == dest.resolve():
            return dest
        if _is_ready(dest) and not force:
            _say(f"CIFAR-10 is already prepared at {dest}; pass --force (force=True) to use {source} there instead.")
            return dest
        _link_image_folder(source, dest)
        return dest
    if _is_ready(dest) and not force:
        return dest
    if dest.is_symlink():
        dest.unlink()  # a link to an image-folder root given earlier: write here, not into that folder
    if source.is_dir() and (source / "batches.meta").is_file():
        _convert_torchvision_batches(source, dest)
    elif source.is_dir() and (source / _TV_FOLDER / "batches.meta").is_file():
        _convert_torchvision_batches(source / _TV_FOLDER, dest)
    elif source.is_file() and source.name.startswith("cifar-10-python"):
        unpacked = extract_archive(source, cache_dir() / "cifar-10-python", force=force)
        _convert_torchvision_batches(unpacked / _TV_FOLDER, dest)
    elif source.is_file():
        extract_archive(source, dest, force=force)
    else:
        raise ValueError(
            f"CIFAR-10 source {str(source)!r} does not exist or is not a CIFAR-10 archive or folder; pass "
            f"`{_PREPARE_HINT} --from PATH` with cifar10-jpeg.tar.xz, torchvision's cifar-10-python.tar.gz or "
            f"cifar-10-batches-py folder, or an image-folder root with train/ and test/."
        )
    if not _is_ready(dest):
        raise ValueError(f"{str(source)!r} did not give train/ and test/ folders under {str(dest)!r}; is it CIFAR-10?")
    return dest


def cifar10_root(path: str | Path | None = None) -> Path:
    """Root of the CIFAR-10 image-folder tree (``train/<class>/*.jpg``, ``test/...``).

    ``path`` may be that folder or the ``cifar10-jpeg.tar.xz`` archive. By default it is
    :func:`cifar10_default_root`, prepared from the offline archive on first use when that
    archive exists (with a message on stderr); otherwise a ``ValueError`` says to run
    ``nda data cifar10 --from PATH``.
    """
    if path is None:
        default = cifar10_default_root()
        if _is_ready(default):
            return default
        if os.environ.get(CIFAR10_ROOT_ENV):
            raise ValueError(
                f"{CIFAR10_ROOT_ENV}={default} holds no train/ and test/ folders; point it at a CIFAR-10 "
                f"image-folder root, or unset it and run `{_PREPARE_HINT}`."
            )
        if not (shared_data_dir() / CIFAR10_ARCHIVE).is_file():
            raise ValueError(
                f"CIFAR-10 is not prepared at {default} and the offline archive {shared_data_dir() / CIFAR10_ARCHIVE} "
                f"is missing; run `{_PREPARE_HINT} --from PATH` with a CIFAR-10 you have (cifar10-jpeg.tar.xz, "
                f"cifar-10-python.tar.gz or an image-folder root), or set {CIFAR10_ROOT_ENV} to a prepared root."
            )
        return prepare_cifar10()
    path = Path(path)
    if path.is_dir():
        root = path
    elif path.is_file():
        root = extract_archive(path)
    else:
        raise ValueError(f"CIFAR-10 path {str(path)!r} does not exist; pass an image-folder root or cifar10-jpeg.tar.xz.")
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
