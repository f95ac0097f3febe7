"""nda_core.data: the one CIFAR-10 root, and `prepare_cifar10` from every source it accepts.

The torchvision conversion runs on a tiny batches folder written here in torchvision's format
(pickled dicts: ``data`` uint8 (N, 3072) with the R, G, B planes of each 32x32 image, ``labels``,
``batches.meta`` with ``label_names``), since no real torchvision CIFAR file exists offline.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nda_core import data as D

CLASSES = [f"class{i}" for i in range(10)]
PER_BATCH = 4  # images per fake batch file


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """Every test gets its own cache; NDA_CIFAR10_ROOT unset; the offline archive stays reachable."""
    for name in ("NDA_CACHE", "XDG_CACHE_HOME", D.CIFAR10_ROOT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))


def _write_batches(folder: Path, bytes_keys: bool = True) -> dict[str, np.ndarray]:
    """torchvision's cifar-10-batches-py with PER_BATCH images per file; returns the images per split.

    The real files are Python 2 pickles whose keys are byte strings; ``bytes_keys=False`` writes
    ``str`` keys as a re-pickled copy would have.
    """
    key = (lambda name: name.encode()) if bytes_keys else (lambda name: name)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    meta = {key("label_names"): [key(name) for name in CLASSES], key("num_cases_per_batch"): PER_BATCH, key("num_vis"): 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    images: dict[str, list] = {"train": [], "test": []}
    for split, names in D._TV_SPLITS.items():
        for index, name in enumerate(names):
            rows = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
            labels = [(index * PER_BATCH + i) % len(CLASSES) for i in range(PER_BATCH)]
            batch = {key("batch_label"): key(name), key("labels"): labels, key("data"): rows,
                     key("filenames"): [key(f"{name}_{i}.png") for i in range(PER_BATCH)]}
            (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
            images[split] += list(zip(rows, labels))
    return images


def _check_converted(root: Path, images: dict) -> None:
    for split, expected in images.items():
        counts = [0] * len(CLASSES)
        for row, label in expected:
            path = root / split / CLASSES[label] / f"{counts[label]:04d}.png"
            counts[label] += 1
            # CIFAR rows hold the R, G and B planes of a 32x32 image one after the other
            np.testing.assert_array_equal(np.asarray(Image.open(path)), row.reshape(3, 32, 32).transpose(1, 2, 0))
        assert sum(1 for _ in (root / split).rglob("*.png")) == len(expected)


def test_cache_and_default_root_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("NDA_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cifar10_default_root() == tmp_path / "home" / ".cache" / "nda-plugins" / "cifar10-jpeg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.cifar10_default_root() == tmp_path / "xdg" / "nda-plugins" / "cifar10-jpeg"
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "nda"))
    assert D.cifar10_default_root() == tmp_path / "nda" / "cifar10-jpeg"
    monkeypatch.setenv(D.CIFAR10_ROOT_ENV, str(tmp_path / "mine"))
    assert D.cifar10_default_root() == tmp_path / "mine"


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_torchvision_batches_folder_converts_to_lossless_image_folders(tmp_path, bytes_keys, capsys):
    images = _write_batches(tmp_path / "download" / "cifar-10-batches-py", bytes_keys)
    root = D.prepare_cifar10(tmp_path / "download")  # the folder that holds cifar-10-batches-py
    assert root == D.cifar10_default_root() and D.cifar10_root() == root
    _check_converted(root, images)
    assert "converting" in capsys.readouterr().err
    assert D.prepare_cifar10(tmp_path / "download" / "cifar-10-batches-py") == root  # ready: nothing redone
    assert "converting" not in capsys.readouterr().err


def test_torchvision_tar_gz_is_extracted_then_converted(tmp_path):
    images = _write_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _check_converted(D.prepare_cifar10(archive), images)


def _image_folder(root: Path) -> Path:
    for split in ("train", "test"):
        for name in CLASSES[:2]:
            (root / split / name).mkdir(parents=True)
            Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / split / name / "0000.png")
    return root


def test_an_image_folder_root_becomes_the_default_root_without_copying(tmp_path):
    mine = _image_folder(tmp_path / "my-cifar")
    root = D.prepare_cifar10(mine)
    assert root == D.cifar10_default_root() and root.is_symlink() and root.resolve() == mine.resolve()
    assert D.cifar10_root() == root and (root / "train" / "class0" / "0000.png").is_file()


def test_an_existing_folder_that_is_not_ours_is_never_replaced(tmp_path):
    (D.cifar10_default_root() / "notes").mkdir(parents=True)
    with pytest.raises(ValueError, match="already exists and was not prepared by nda-plugins.*NDA_CIFAR10_ROOT"):
        D.prepare_cifar10(_image_folder(tmp_path / "my-cifar"), force=True)
    assert (D.cifar10_default_root() / "notes").is_dir()


def _tiny_archive(tmp_path: Path, name: str = "cifar10-jpeg.tar.xz") -> Path:
    source = _image_folder(tmp_path / "archive-content")
    archive = tmp_path / "offline" / name
    archive.parent.mkdir()
    with tarfile.open(archive, "w:xz") as tar:
        for split in ("train", "test"):
            tar.add(source / split, arcname=split)
    return archive


def test_first_use_prepares_from_the_offline_archive_and_says_so(tmp_path, monkeypatch, capsys):
    archive = _tiny_archive(tmp_path)
    monkeypatch.setenv("NDA_DATA", str(archive.parent))
    root = D.cifar10_root()
    assert root == D.cifar10_default_root() and (root / "test" / "class1" / "0000.png").is_file()
    assert "extracting" in capsys.readouterr().err
    assert D.cifar10_root() == root and capsys.readouterr().err == ""  # once


def test_an_interrupted_extraction_is_redone_and_force_redoes_a_finished_one(tmp_path, monkeypatch, capsys):
    archive = _tiny_archive(tmp_path)
    monkeypatch.setenv("NDA_DATA", str(archive.parent))
    root = D.prepare_cifar10()
    (root / D._PARTIAL_MARKER).write_text("interrupted")  # as if killed half-way through
    (root / "test" / "class1" / "0000.png").unlink()
    assert D.cifar10_root() == root and (root / "test" / "class1" / "0000.png").is_file()
    capsys.readouterr()
    (root / "train" / "class0" / "0000.png").unlink()
    assert D.prepare_cifar10() == root and not (root / "train" / "class0" / "0000.png").exists()  # ready: kept
    D.prepare_cifar10(force=True)
    assert (root / "train" / "class0" / "0000.png").is_file() and "extracting" in capsys.readouterr().err


def test_missing_data_names_the_command_that_prepares_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NDA_DATA", str(tmp_path / "no-offline-data"))
    with pytest.raises(ValueError, match="CIFAR-10 is not prepared at .*run `nda data cifar10 --from PATH`"):
        D.cifar10_root()
    monkeypatch.setenv(D.CIFAR10_ROOT_ENV, str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="NDA_CIFAR10_ROOT=.*holds no train/ and test/.*`nda data cifar10`"):
        D.cifar10_root()
    with pytest.raises(ValueError, match="does not exist or is not a CIFAR-10 archive.*nda data cifar10 --from PATH"):
        D.prepare_cifar10(tmp_path / "nothing-here")
