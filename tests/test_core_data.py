"""nda_core.data: the one CIFAR-10 root, and `prepare_cifar10` from every source it accepts.

The torchvision conversion runs on a tiny cifar-10-batches-py written in torchvision's format
(tests/cifar10_helpers.py), read through torchvision's CIFAR10 with that folder's checksums.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from cifar10_helpers import BASE_FOLDER, check_converted, dataset_with_checksums_of, image_folder, write_python_version

from nda_core import data as D


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """Every test gets its own cache; NDA_CIFAR10_ROOT unset; the offline archive stays reachable."""
    for name in ("NDA_CACHE", "XDG_CACHE_HOME", D.CIFAR10_ROOT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))


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


def test_torchvision_batches_folder_converts_to_lossless_image_folders(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "download" / BASE_FOLDER
    images = write_python_version(folder)
    monkeypatch.setattr(D, "CIFAR10_DATASET", dataset_with_checksums_of(folder))
    root = D.prepare_cifar10(tmp_path / "download")  # the folder that holds cifar-10-batches-py
    assert root == D.cifar10_default_root() and D.cifar10_root() == root
    check_converted(root, images)
    assert "converting" in capsys.readouterr().err
    assert D.prepare_cifar10(tmp_path / "download") == root  # ready from the same source: nothing redone
    assert "converting" not in capsys.readouterr().err
    renamed = folder.rename(tmp_path / "my-copy")  # the batches folder itself, under another name
    check_converted(D.prepare_cifar10(renamed, tmp_path / "second"), images)


def test_torchvision_tar_gz_is_extracted_then_converted(tmp_path, monkeypatch):
    folder = tmp_path / "src" / BASE_FOLDER
    images = write_python_version(folder)
    monkeypatch.setattr(D, "CIFAR10_DATASET", dataset_with_checksums_of(folder))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=BASE_FOLDER)
    root = D.prepare_cifar10(archive)
    check_converted(root, images)
    assert sorted(p.name for p in root.iterdir()) == [D._MANIFEST, "test", "train"]  # the extraction is gone


def test_an_image_folder_root_is_linked_without_copying(tmp_path):
    mine = image_folder(tmp_path / "my-cifar")
    root = D.prepare_cifar10(mine)
    assert root == D.cifar10_default_root() and D.cifar10_root() == root
    for split in ("train", "test"):
        assert (root / split).is_symlink() and (root / split).resolve() == (mine / split).resolve()
    assert (root / "train" / "class0" / "0000.png").is_file()
    D.prepare_cifar10(mine, force=True)  # replacing its own links leaves the user's folder alone
    assert (mine / "train" / "class0" / "0000.png").is_file() and (root / "train").is_symlink()


def test_an_existing_folder_that_is_not_ours_is_never_replaced(tmp_path):
    (D.cifar10_default_root() / "notes").mkdir(parents=True)
    with pytest.raises(ValueError, match="already exists and was not prepared by nda-plugins.*NDA_CIFAR10_ROOT"):
        D.prepare_cifar10(image_folder(tmp_path / "my-cifar"), force=True)
    assert sorted(p.name for p in D.cifar10_default_root().iterdir()) == ["notes"]
    (D.cifar10_default_root() / "notes").rmdir()  # an empty folder may be prepared into
    assert (D.prepare_cifar10(tmp_path / "my-cifar") / "train").is_symlink()


def _tiny_archive(tmp_path: Path, name: str = "cifar10-jpeg.tar.xz") -> Path:
    source = image_folder(tmp_path / "archive-content")
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


def test_a_ready_folder_is_kept_and_force_redoes_it(tmp_path, monkeypatch, capsys):
    archive = _tiny_archive(tmp_path)
    monkeypatch.setenv("NDA_DATA", str(archive.parent))
    root = D.prepare_cifar10()
    capsys.readouterr()
    (root / "train" / "class0" / "0000.png").unlink()
    assert D.prepare_cifar10() == root and not (root / "train" / "class0" / "0000.png").exists()  # ready: kept
    D.prepare_cifar10(force=True)
    assert (root / "train" / "class0" / "0000.png").is_file() and "extracting" in capsys.readouterr().err


def test_a_folder_of_an_older_version_is_read_but_never_replaced(tmp_path, monkeypatch):
    """Older versions marked their folders with `.extracted` (a stamp, no record of the files written)."""
    archive = _tiny_archive(tmp_path)
    root = D.cifar10_default_root()
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    (root / D._LEGACY_DONE).write_text(f"{archive.name} {archive.stat().st_size}")
    assert D.extract_archive(archive) == root and D.cifar10_root() == root  # finished: used as it is
    with pytest.raises(ValueError, match="an older version's, which kept no record"):
        D.extract_archive(archive, force=True)
    assert (root / "train" / "class0" / "0000.png").is_file()


def test_missing_data_names_the_command_that_prepares_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NDA_DATA", str(tmp_path / "no-offline-data"))
    with pytest.raises(
        ValueError,
        match="CIFAR-10 is not prepared at .*run `nda data cifar10 --from PATH`.*`nda data cifar10` to download",
    ):
        D.cifar10_root()
    monkeypatch.setenv(D.CIFAR10_ROOT_ENV, str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="NDA_CIFAR10_ROOT=.*holds no train/ and test/.*`nda data cifar10`"):
        D.cifar10_root()
    with pytest.raises(ValueError, match="does not exist; expected cifar10-jpeg.tar.xz, torchvision's"):
        D.prepare_cifar10(tmp_path / "nothing-here")
    (tmp_path / "some-folder").mkdir()
    with pytest.raises(ValueError, match="is a folder with neither train/ and test/ nor CIFAR-10's python files"):
        D.prepare_cifar10(tmp_path / "some-folder")
