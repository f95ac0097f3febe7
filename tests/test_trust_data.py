"""`nda data cifar10` trusts no data file and deletes nothing it did not write.

- CIFAR-10's python files are pickles: a crafted one runs code when unpickled. Only files with
  the official MD5 (torchvision's) are read; anything else is refused in one line, unread.
- A folder the user owns is never written into or deleted, with or without ``--force``, and an
  interrupted preparation leaves the target as it was.
- The official archive is downloaded through torchvision, checked against its MD5 (tested with
  a local HTTP server on 127.0.0.1 and a small archive whose checksums the test injects).

The CLI cases run the real ``nda`` command in a subprocess with its folders under tmp_path.
"""

from __future__ import annotations

import pickle
import re
import sys
import tarfile
from pathlib import Path

import pytest
from cifar10_helpers import (
    ARCHIVE_NAME,
    BASE_FOLDER,
    CODE_ROOT,
    check_converted,
    crafted_pickle,
    dataset_with_checksums_of,
    image_folder,
    image_folder_archive,
    nda,
    nda_environment,
    serve,
    write_archive,
    write_python_version,
)

from nda_core import cli
from nda_core import data as D

if sys.version_info >= (3, 11):
    import tomllib

TORCH_FLOOR = "torch>=2.6"  # weights_only=True can be bypassed on torch <= 2.5.1 (CVE-2025-32434)


@pytest.fixture(autouse=True)
def own_folders(tmp_path, monkeypatch):
    """In-process tests get their own cache, no offline archive and no NDA_CIFAR10_ROOT."""
    for name in ("XDG_CACHE_HOME", D.CIFAR10_ROOT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NDA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NDA_DATA", str(tmp_path / "no-offline-data"))


def _crafted_batches(tmp_path: Path, crafted: str, marker: Path) -> Path:
    """A cifar-10-batches-py whose file ``crafted`` is replaced by a pickle that creates ``marker``."""
    folder = tmp_path / "download" / BASE_FOLDER
    write_python_version(folder)
    (folder / crafted).write_bytes(crafted_pickle(marker))
    return folder


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_a_crafted_batches_meta_is_refused_unread_by_the_cli(tmp_path, form):
    probe = tmp_path / "probe"
    pickle.loads(crafted_pickle(probe), encoding="latin1")
    assert probe.exists()  # what is at stake: loading the crafted file runs its code
    marker = tmp_path / "code-ran"
    folder = _crafted_batches(tmp_path, "batches.meta", marker)
    source = folder if form == "folder" else write_archive(folder, tmp_path / "offer" / ARCHIVE_NAME)
    root = tmp_path / "cifar10"
    result = nda(["data", "cifar10", "--from", str(source)], nda_environment(tmp_path, root))
    assert result.returncode == 2, result.stderr
    assert not marker.exists(), "the crafted batches.meta was unpickled"
    errors = [line for line in result.stderr.splitlines() if line.startswith("nda data: error:")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr  # one line, the last
    assert errors[0].startswith(f"nda data: error: refusing to read batches.meta of '{source}'"), errors[0]
    assert "5ff9c542aee3614f3951f8cda6e48888" in errors[0]  # torchvision's MD5 of the official file
    assert "cifar-10-python.tar.gz" in errors[0]  # what was expected
    assert not root.exists() and not any(p.name.endswith(".nda-partial") for p in tmp_path.iterdir())


@pytest.mark.parametrize("crafted", ["batches.meta", "data_batch_3", "test_batch"])
def test_every_file_is_checked_even_when_the_others_match(tmp_path, monkeypatch, crafted):
    """The other files carry the checksums the reader expects; the one crafted file is still refused."""
    marker = tmp_path / "code-ran"
    folder = tmp_path / "download" / BASE_FOLDER
    write_python_version(folder)
    monkeypatch.setattr(D, "CIFAR10_DATASET", dataset_with_checksums_of(folder), raising=False)
    (folder / crafted).write_bytes(crafted_pickle(marker))
    with pytest.raises(
        ValueError,
        match=f"refusing to read {crafted} of '{re.escape(str(folder))}': its MD5 is .*not .* of the official",
    ) as error:
        D.prepare_cifar10(folder)
    assert "\n" not in str(error.value) and not marker.exists()
    assert not D.cifar10_default_root().exists()


def test_a_users_folder_is_refused_with_the_fix_and_survives_force(tmp_path):
    """The reported case: NDA_CIFAR10_ROOT names a folder with the user's files; then --force."""
    root = tmp_path / "mine"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "thesis.txt").write_text("years of work")
    env = nda_environment(tmp_path, root)
    archive = image_folder_archive(tmp_path / "archive-content", tmp_path / "offline" / "cifar10-jpeg.tar.xz")
    result = nda(["data", "cifar10", "--from", str(archive)], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nda data: error: '{root}' already exists and was not prepared")
    assert "notes/" in lines[0] and "Move those files elsewhere, or point NDA_CIFAR10_ROOT at a new folder" in lines[0]
    result = nda(["data", "cifar10", "--from", str(image_folder(tmp_path / "my-images")), "--force"], env)
    assert result.returncode == 2 and "was not prepared by nda-plugins" in result.stderr, result.stderr
    assert not root.is_symlink() and (root / "notes" / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in root.iterdir()) == ["notes"]  # nothing written into it either


def test_files_added_to_a_prepared_folder_survive_force(tmp_path):
    root = tmp_path / "cifar10"
    archive = image_folder_archive(tmp_path / "archive-content", tmp_path / "offline" / "cifar10-jpeg.tar.xz")
    D.prepare_cifar10(archive, root)
    (root / "train" / "class0" / "mine.png").write_bytes(b"the user's")
    images = image_folder(tmp_path / "my-images")
    result = nda(["data", "cifar10", "--from", str(images), "--force"], nda_environment(tmp_path, root))
    assert result.returncode == 2 and "train/class0/mine.png" in result.stderr, result.stderr
    assert (root / "train" / "class0" / "mine.png").read_bytes() == b"the user's"
    assert (root / "test" / "class1" / "0000.png").is_file()  # the tool's own files are kept as well
    (root / "train" / "class0" / "mine.png").unlink()  # the user moves it away: now --force replaces the tool's files
    assert D.prepare_cifar10(images, root, force=True) == root and (root / "train").is_symlink()


def test_an_interrupted_preparation_in_a_users_folder_deletes_nothing(tmp_path):
    """An older version's `.incomplete` marker beside the user's files does not make the folder the tool's."""
    root = tmp_path / "mine"
    (root / "train").mkdir(parents=True)
    (root / ".incomplete").write_text("interrupted")
    (root / "keep.txt").write_text("the user's")
    result = nda(
        ["data", "cifar10", "--from", str(image_folder(tmp_path / "my-images"))], nda_environment(tmp_path, root)
    )
    assert result.returncode == 2 and "was not prepared by nda-plugins" in result.stderr, result.stderr
    assert not root.is_symlink() and (root / "keep.txt").read_text() == "the user's" and (root / "train").is_dir()


def test_a_failed_preparation_leaves_the_prepared_folder_as_it_was(tmp_path):
    archive = image_folder_archive(tmp_path / "archive-content", tmp_path / "offline" / "cifar10-jpeg.tar.xz")
    root = D.prepare_cifar10(archive)
    broken = tmp_path / "broken" / "cifar10-jpeg.tar.xz"
    broken.parent.mkdir()
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # cut off, as by a failed copy
    with pytest.raises(ValueError, match="is not a readable tar archive"):
        D.prepare_cifar10(broken, force=True)
    assert D.cifar10_root() == root and (root / "test" / "class1" / "0000.png").is_file()
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no staging folder left behind


def test_download_through_torchvision_from_a_local_server(tmp_path, monkeypatch, capsys):
    """No offline archive, no --from: the archive is downloaded, checked against its MD5 and converted."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "upstream" / BASE_FOLDER
    images = write_python_version(folder)
    served = tmp_path / "served"
    archive = write_archive(folder, served / ARCHIVE_NAME)
    with serve(served) as (base_url, requested):
        local = dataset_with_checksums_of(folder, archive, url=f"{base_url}/{ARCHIVE_NAME}")
        monkeypatch.setattr(D, "CIFAR10_DATASET", local, raising=False)
        assert cli.main(["data", "cifar10"]) == 0
    assert f"/{ARCHIVE_NAME}" in requested
    root = D.cifar10_default_root()
    check_converted(root, images)
    assert D.cifar10_root() == root and f"downloading {base_url}/{ARCHIVE_NAME}" in capsys.readouterr().err
    assert sorted(p.name for p in root.iterdir()) == [".nda-plugins-manifest", "test", "train"]  # no download left


def test_a_download_with_the_wrong_checksum_is_refused_unread(tmp_path, monkeypatch, capsys):
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    marker = tmp_path / "code-ran"
    folder = tmp_path / "upstream" / BASE_FOLDER
    write_python_version(folder)
    served = tmp_path / "served"
    expected = dataset_with_checksums_of(folder, write_archive(folder, tmp_path / "genuine" / ARCHIVE_NAME))
    (folder / "batches.meta").write_bytes(crafted_pickle(marker))  # what the server now sends instead
    write_archive(folder, served / ARCHIVE_NAME)
    with serve(served) as (base_url, _):
        local = type("LocalCIFAR10", (expected,), {"url": f"{base_url}/{ARCHIVE_NAME}"})
        monkeypatch.setattr(D, "CIFAR10_DATASET", local, raising=False)
        assert cli.main(["data", "cifar10"]) == 1
    error = capsys.readouterr().err
    assert (
        f"nda data: error: the file downloaded from {base_url}/{ARCHIVE_NAME} does not have the official MD5" in error
    )
    assert not marker.exists() and not D.cifar10_default_root().exists()
    assert not any(D.cache_dir().glob(".*.nda-partial"))


def test_from_a_path_that_does_not_exist_is_an_error(tmp_path):
    """Even with a ready root, `--from nowhere` names the path and what is expected, and exits 2."""
    root = image_folder(tmp_path / "ready")
    result = nda(["data", "cifar10", "--from", str(tmp_path / "nowhere")], nda_environment(tmp_path, root))
    assert result.returncode == 2 and "ready" not in result.stdout, result.stdout
    expected = f"nda data: error: --from '{tmp_path / 'nowhere'}' does not exist; expected cifar10-jpeg.tar.xz"
    assert expected in result.stderr


def test_the_cli_says_its_own_flag_when_another_source_is_already_prepared(tmp_path):
    root = tmp_path / "cifar10"
    archive = image_folder_archive(tmp_path / "archive-content", tmp_path / "offline" / "cifar10-jpeg.tar.xz")
    assert D.prepare_cifar10(archive, root) == root
    assert D.prepare_cifar10(archive, root) == root  # the same source again: nothing to do, no error
    other = image_folder(tmp_path / "my-images")
    with pytest.raises(D.AlreadyPreparedError, match="pass force=True"):
        D.prepare_cifar10(other, root)
    result = nda(["data", "cifar10", "--from", str(other)], nda_environment(tmp_path, root))
    assert result.returncode == 2 and "run again with --force" in result.stderr and "force=True" not in result.stderr


def test_extracting_another_archive_does_not_speak_of_cifar10(tmp_path, capsys):
    content = tmp_path / "MNIST" / "raw"
    content.mkdir(parents=True)
    (content / "t10k-labels-idx1-ubyte").write_bytes(bytes(8))
    archive = tmp_path / "mnist-raw.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(tmp_path / "MNIST", arcname="MNIST")
    assert (D.extract_archive(archive) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()
    message = capsys.readouterr().err
    assert "CIFAR" not in message and "extracting mnist-raw.tar.xz" in message


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_torch_floor_excludes_versions_whose_weights_only_can_be_bypassed():
    dependencies = tomllib.loads((CODE_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert TORCH_FLOOR in dependencies, dependencies
