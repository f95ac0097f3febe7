"""A small CIFAR-10 in torchvision's python format, the ``nda`` command in a subprocess, a local server.

The batch files are pickled dicts as torchvision reads them (``data`` uint8 (N, 3072) with the
R, G, B planes of each 32x32 image, ``labels``; ``batches.meta`` with ``label_names``). Their MD5
checksums are not the official ones, so tests that need them read put a torchvision ``CIFAR10``
subclass holding these checksums into ``nda_core.data.CIFAR10_DATASET``; the real default stays
torchvision's official checksums, which refuse these files.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import pickle
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

import nda_core

CLASSES = [f"class{i}" for i in range(10)]
PER_BATCH = 4  # images per batch file
SIDE = 32
BASE_FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
ARCHIVE_NAME = "cifar-10-python.tar.gz"
# The code under test: the checkout whose nda_core this process imported (the subprocess imports the same).
CODE_ROOT = Path(nda_core.__file__).resolve().parents[1]
COMMAND_TIMEOUT_S = 120


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_python_version(folder: Path) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Write ``folder`` (a cifar-10-batches-py) with PER_BATCH images per file; returns (row, label) per split."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    meta = {"label_names": CLASSES, "num_cases_per_batch": PER_BATCH, "num_vis": SIDE * SIDE * 3}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    images: dict[str, list[tuple[np.ndarray, int]]] = {"train": [], "test": []}
    for split, names in SPLIT_FILES.items():
        for index, name in enumerate(names):
            rows = rng.integers(0, 256, (PER_BATCH, SIDE * SIDE * 3), dtype=np.uint8)
            labels = [(index * PER_BATCH + i) % len(CLASSES) for i in range(PER_BATCH)]
            batch = {
                "batch_label": name,
                "labels": labels,
                "data": rows,
                "filenames": [f"{name}_{i}.png" for i in range(PER_BATCH)],
            }
            (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
            images[split] += list(zip(rows, labels))
    return images


def write_archive(folder: Path, archive: Path) -> Path:
    """``archive`` (.tar.gz) holding ``folder`` as cifar-10-batches-py/, as the official archive does."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=BASE_FOLDER)
    return archive


def dataset_with_checksums_of(
    folder: Path, archive: Path | None = None, url: str = "http://127.0.0.1:1/none.tar.gz"
) -> type:
    """torchvision's CIFAR10 with the MD5s of the files in ``folder`` (and of ``archive``) and ``url``."""
    from torchvision.datasets import CIFAR10

    assert [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] == SPLIT_FILES["train"] + SPLIT_FILES["test"]
    assert CIFAR10.base_folder == BASE_FOLDER, "these files would not be torchvision's layout"
    attributes = {
        "url": url,
        "filename": ARCHIVE_NAME,
        "tgz_md5": md5(archive) if archive is not None else "0" * 32,
        "train_list": [[name, md5(folder / name)] for name in SPLIT_FILES["train"]],
        "test_list": [[name, md5(folder / name)] for name in SPLIT_FILES["test"]],
        "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5(folder / "batches.meta")},
    }
    return type("LocalCIFAR10", (CIFAR10,), attributes)


class CreatesFile:
    """Unpickling this opens ``path`` for writing: a harmless stand-in for code a crafted pickle runs."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_pickle(marker: Path) -> bytes:
    """A batches.meta-shaped pickle that creates ``marker`` when loaded."""
    return pickle.dumps({"label_names": CreatesFile(marker)}, protocol=2)


def check_converted(root: Path, images: dict[str, list[tuple[np.ndarray, int]]]) -> None:
    """The PNGs under ``root`` are exactly the rows, per class in file order."""
    for split, expected in images.items():
        counts = [0] * len(CLASSES)
        for row, label in expected:
            path = root / split / CLASSES[label] / f"{counts[label]:04d}.png"
            counts[label] += 1
            # CIFAR rows hold the R, G and B planes of a 32x32 image one after the other
            np.testing.assert_array_equal(np.asarray(Image.open(path)), row.reshape(3, SIDE, SIDE).transpose(1, 2, 0))
        assert sum(1 for _ in (root / split).rglob("*.png")) == len(expected)


def image_folder(root: Path, classes: list[str] = CLASSES[:2]) -> Path:
    """An image-folder root with one black 32x32 PNG per class in train/ and test/."""
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(root / split / name / "0000.png")
    return root


def image_folder_archive(root: Path, archive: Path) -> Path:
    """``archive`` (.tar.xz) of an image-folder root with train/ and test/ at its top."""
    source = image_folder(root)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:xz") as tar:
        for split in ("train", "test"):
            tar.add(source / split, arcname=split)
    return archive


def nda_environment(tmp: Path, cifar_root: Path) -> dict[str, str]:
    """Environment for the ``nda`` command: the code under test, folders under ``tmp``, no offline data."""
    env = {key: value for key, value in os.environ.items() if key not in ("XDG_CACHE_HOME", "NDA_DATA")}
    env.update(
        PYTHONPATH=str(CODE_ROOT),
        HOME=str(tmp / "home"),
        NDA_CACHE=str(tmp / "cache"),
        NDA_DATA=str(tmp / "no-offline-data"),  # never the real offline archive, never a download
        NDA_CIFAR10_ROOT=str(cifar_root),
        OMP_NUM_THREADS="1",
    )
    return env


def nda(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the installed ``nda`` console command (``python -m nda_core.cli`` where it is not installed)."""
    script = Path(sys.executable).parent / "nda"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "nda_core.cli"]
    return subprocess.run(
        command + args, check=False, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )


@contextmanager
def serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` over HTTP on 127.0.0.1 in a thread; yields the base URL and the paths requested."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
