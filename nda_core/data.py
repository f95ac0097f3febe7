"""Loading real images for examples, tests and benchmarks: image-folder trees and archives.

Images are decoded with Pillow, imported only here (``pip install 'nda-plugins[eval]'``);
CIFAR-10's python version is read, checked and downloaded through torchvision
(``pip install torchvision``), imported only where it is needed.

Every folder this module prepares is written into a fresh hidden folder beside it and moved
into place when complete; it then holds a record (``.nda-plugins-manifest``) of every path the
tool wrote. Later calls delete only the paths in that record, and refuse to write into an
existing non-empty folder that has no record, so files of the user's are never deleted.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from nda_core.errors import UsageError

__all__ = [
    "cache_dir",
    "shared_data_dir",
    "extract_archive",
    "cifar10_default_root",
    "prepare_cifar10",
    "cifar10_root",
    "class_files",
    "load_image_folder",
    "AlreadyPreparedError",
    "DownloadError",
    "check_cifar10_source",
    "CIFAR10_DATASET",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CIFAR10_ARCHIVE = "cifar10-jpeg.tar.xz"
#: Environment variable that points configs, demos and examples at a CIFAR-10 image-folder root.
CIFAR10_ROOT_ENV = "NDA_CIFAR10_ROOT"
CIFAR10_FOLDER = "cifar10-jpeg"
#: The torchvision dataset class that checks (MD5), reads and downloads CIFAR-10's python version;
#: None means ``torchvision.datasets.CIFAR10`` with its official URL and checksums. Its ``url``,
#: ``filename``, ``tgz_md5``, ``base_folder``, ``train_list``, ``test_list`` and ``meta`` are used;
#: tests set a subclass that serves a small archive from 127.0.0.1 with that archive's checksums.
CIFAR10_DATASET: type | None = None
_SPLITS = ("train", "test")
_PREPARE_HINT = "nda data cifar10"
_MANIFEST = ".nda-plugins-manifest"  # first line: what was prepared; then every path the tool wrote
_UNPACKED = ".unpacked"  # inside a staging folder: an archive or download before conversion
_STAGING_SUFFIX = ".nda-partial"  # staging folders: .<dest name>.<random><suffix> beside dest
_LEGACY_DONE = ".extracted"  # older versions' finished marker: such folders are read, never deleted
_LEGACY_PARTIAL = ".incomplete"  # older versions' in-progress marker
_NAMED_PATHS = 3  # foreign paths named in a refusal
_BYTES_PER_MB = 1e6
_OFFICIAL_SOURCES = (
    "cifar10-jpeg.tar.xz, torchvision's official cifar-10-python.tar.gz or its cifar-10-batches-py folder, "
    "or a dataset root holding train/ and test/"
)


class DownloadError(OSError):
    """The official CIFAR-10 archive could not be downloaded, or did not match its MD5 (nothing was unpacked)."""


class AlreadyPreparedError(UsageError):
    """CIFAR-10 is ready at ``dest`` from ``held``, and another ``source`` was asked for without force."""

    def __init__(self, dest: Path, source: Path, held: str) -> None:
        self.dest, self.source, self.held = dest, source, held
        super().__init__(self.explain("pass force=True"))

    def explain(self, how: str) -> str:
        """The message, with ``how`` saying how to replace it (the API's argument or the CLI's flag)."""
        return (
            f"CIFAR-10 is already prepared at {self.dest} (from {self.held}); nothing was changed. To replace it "
            f"with {self.source}, {how}."
        )


def cache_dir() -> Path:
    """Folder for extracted data: ``$NDA_CACHE``, else ``$XDG_CACHE_HOME/nda-plugins``."""
    root = os.environ.get("NDA_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nda-plugins"
    return Path(root)


def shared_data_dir() -> Path:
    """The project's offline data folder: ``$NDA_DATA`` or ``../shared/data`` beside the checkout."""
    if os.environ.get("NDA_DATA"):
        return Path(os.environ["NDA_DATA"])
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _say(message: str) -> None:
    print(f"nda-plugins: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Folders the tool prepares: staged beside the target, moved into place, recorded path by path.


def _tree(root: Path) -> list[str]:
    """Every path under ``root`` (relative, POSIX, folders ending in ``/``), links never followed."""
    found: list[str] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                relative = Path(entry.path).relative_to(root).as_posix()
                if entry.is_dir(follow_symlinks=False):
                    found.append(relative + "/")
                    pending.append(Path(entry.path))
                else:
                    found.append(relative)
    return sorted(found)


def _record(dest: Path) -> tuple[str, list[str]] | None:
    """``(stamp, paths)`` from the manifest of a folder the tool prepared; None for any other folder."""
    manifest = dest / _MANIFEST
    if dest.is_symlink() or not manifest.is_file():
        return None
    stamp, *paths = manifest.read_text().splitlines()
    return stamp, paths


def _stamp(dest: Path) -> str | None:
    """What ``dest`` was prepared from: its manifest's stamp, or an older version's finished marker."""
    record = _record(dest)
    if record is not None:
        return record[0]
    legacy = dest / _LEGACY_DONE
    if not dest.is_symlink() and legacy.is_file() and not (dest / _LEGACY_PARTIAL).exists():
        return legacy.read_text()
    return None


def _examples(paths: list[str]) -> str:
    shown = ", ".join(paths[:_NAMED_PATHS])
    return shown + (f" and {len(paths) - _NAMED_PATHS} more" if len(paths) > _NAMED_PATHS else "")


def _ours(dest: Path, fix: str) -> list[str]:
    """The paths under ``dest`` that the tool wrote and may delete to prepare ``dest`` again.

    Raises ``ValueError`` (saying ``fix``) when ``dest`` holds anything else: a folder without a
    manifest that is not empty, a prepared folder the user added files to, a link or a file.
    """
    if dest.is_symlink():
        raise UsageError(
            f"{str(dest)!r} is a symbolic link that nda-plugins has no record of making; nothing was changed. "
            f"Remove the link itself (`rm {dest}` keeps the folder it points to), or {fix}."
        )
    if not dest.exists():
        return []
    if not dest.is_dir():
        raise UsageError(f"{str(dest)!r} is a file, not a folder; nothing was changed. Move it away, or {fix}.")
    present = [path for path in _tree(dest) if path != _MANIFEST]
    record = _record(dest)
    if record is None:
        if present:
            legacy = " (an older version's, which kept no record of what it wrote)" if _LEGACY_DONE in present else ""
            raise UsageError(
                f"{str(dest)!r} already exists and was not prepared by nda-plugins{legacy}; it holds "
                f"{_examples(present)}. Nothing was changed: nda-plugins writes only into a new or empty folder. "
                f"Move those files elsewhere, or {fix}."
            )
        return []
    written = set(record[1])
    foreign = [path for path in present if path not in written]
    if foreign:
        raise UsageError(
            f"{str(dest)!r} was prepared by nda-plugins but also holds files it did not write "
            f"({_examples(foreign)}); nothing was changed. Move those files elsewhere, or {fix}."
        )
    return present


def _prepare(dest: Path, stamp: str, fill: Callable[[Path], None], fix: str) -> Path:
    """Write a folder with ``fill(staging)`` and move it to ``dest``, replacing only what the tool wrote.

    ``staging`` is a fresh hidden folder beside ``dest``; a failure or interruption (Ctrl-C)
    removes it and leaves ``dest`` as it was. ``dest`` is checked before and after the work.
    """
    _ours(dest, fix)  # refuse before minutes of work
    dest.parent.mkdir(parents=True, exist_ok=True)
    for leftover in glob.glob(f"{glob.escape(str(dest.parent / ('.' + dest.name)))}.*{_STAGING_SUFFIX}"):
        _say(f"{leftover} is left from an interrupted preparation of {dest}; delete it to free its space.")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=_STAGING_SUFFIX, dir=dest.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # as a plain mkdir would make it, not mkdtemp's 0700
        fill(staging)
        paths = _tree(staging)
        (staging / _MANIFEST).write_text("\n".join([stamp, *paths]) + "\n")
        for path in sorted(_ours(dest, fix), reverse=True):  # children before their folders
            if path.endswith("/"):
                (dest / path).rmdir()
            else:
                (dest / path).unlink()  # a file, or a link (never followed)
        if dest.exists():
            (dest / _MANIFEST).unlink(missing_ok=True)
            dest.rmdir()  # empty now: what was in it was the tool's
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # made by mkdtemp above: everything in it is the tool's
        raise
    return dest


def _extract_tar(archive: Path, dest: Path, expected: str = "a .tar, .tar.gz or .tar.xz archive") -> None:
    """Unpack ``archive`` into ``dest`` with tarfile's ``data`` filter (no paths outside ``dest``)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise UsageError(f"{str(archive)!r} is not a readable tar archive ({error}); expected {expected}.") from error


def _archive_stamp(archive: Path) -> str:
    return f"{archive.name} {archive.stat().st_size}"


def extract_archive(archive: str | Path, dest: str | Path | None = None, force: bool = False) -> Path:
    """Extract a tar archive once into ``dest`` (default: the cache) and return that folder.

    The folder's manifest (archive name and size, and every path written) makes later calls
    free; one of a different archive, or any with ``force``, is extracted again, replacing only
    what the tool wrote. An existing non-empty folder the tool did not prepare is refused.
    Says on stderr what it is doing, since a large archive takes a while.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise UsageError(
            f"archive {str(archive)!r} does not exist; pass the path of a .tar/.tar.xz file "
            f"(the offline data lives in ../shared/data, or set NDA_DATA)."
        )
    fix = "set NDA_CACHE to another cache folder" if dest is None else "pass a new folder as dest"
    if dest is None:  # a fixed name, so that configs can point at it: ~/.cache/nda-plugins/cifar10-jpeg
        dest = cache_dir() / archive.name.split(".")[0]
    dest = Path(dest)
    stamp = _archive_stamp(archive)
    if not force and _stamp(dest) == stamp:
        return dest

    def fill(staging: Path) -> None:
        start = time.perf_counter()
        _say(f"extracting {archive.name} ({archive.stat().st_size / _BYTES_PER_MB:.1f} MB) to {dest} (once) ...")
        _extract_tar(archive, staging)
        _say(f"extracted in {time.perf_counter() - start:.0f} s.")

    return _prepare(dest, stamp, fill, fix)


# ----------------------------------------------------------------------------------------------
# CIFAR-10


def cifar10_default_root() -> Path:
    """Where configs, demos and examples read CIFAR-10: ``$NDA_CIFAR10_ROOT``, else
    ``cache_dir() / "cifar10-jpeg"`` (``$NDA_CACHE``, ``$XDG_CACHE_HOME/nda-plugins`` or
    ``~/.cache/nda-plugins``). The one source of truth for that path."""
    if os.environ.get(CIFAR10_ROOT_ENV):
        return Path(os.environ[CIFAR10_ROOT_ENV])
    return cache_dir() / CIFAR10_FOLDER


def _is_ready(root: Path) -> bool:
    """An image-folder root with ``train/`` and ``test/`` that no older version was still writing."""
    return all((root / split).is_dir() for split in _SPLITS) and not (root / _LEGACY_PARTIAL).exists()


def _cifar10_dataset() -> type:
    """:data:`CIFAR10_DATASET`, or torchvision's ``CIFAR10`` (imported here, not with nda_core)."""
    if CIFAR10_DATASET is not None:
        return CIFAR10_DATASET
    try:
        from torchvision.datasets import CIFAR10
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading or downloading CIFAR-10's python version needs torchvision: pip install torchvision"
        ) from error
    return CIFAR10


def _check_official(folder: Path, dataset: type, shown: Path | str) -> None:
    """Refuse (one line) unless every file of ``folder`` has the official MD5 that torchvision knows.

    Nothing is unpickled here or before: a pickle can run code, so only the official files are read.
    ``shown`` names the source in messages (the user's folder or archive, not a staging folder).
    """
    from torchvision.datasets.utils import calculate_md5

    expected = [(dataset.meta["filename"], dataset.meta["md5"]), *dataset.train_list, *dataset.test_list]
    names = ", ".join(name for name, _ in expected)
    for name, md5 in expected:
        path = folder / name
        if not path.is_file():
            raise UsageError(
                f"{str(shown)!r} is not CIFAR-10's python version: {name} is missing; expected {names} with "
                f"torchvision's MD5 checksums ({_OFFICIAL_SOURCES})."
            )
        actual = calculate_md5(str(path))
        if actual != md5:
            raise UsageError(
                f"refusing to read {name} of {str(shown)!r}: its MD5 is {actual}, not {md5} of the official "
                "CIFAR-10 file "
                f"(unpickling an unverified file can run code); expected the official {names} "
                f"({_OFFICIAL_SOURCES})."
            )


def _convert_python_version(root: Path, base_folder: str, dest: Path, shown: Path | str) -> None:
    """Write CIFAR-10's python version (``root/base_folder``) as PNG image folders under ``dest``.

    The files are checked against torchvision's MD5 checksums and read by torchvision's ``CIFAR10``
    (which checks them again before unpickling); images are numbered per class in file order.
    ``shown`` names the source in messages.
    """
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("converting CIFAR-10 needs Pillow: pip install 'nda-plugins[eval]'") from error
    dataset = _cifar10_dataset()
    _check_official(root / base_folder, dataset, shown)
    if base_folder != dataset.base_folder:  # the user's copy under another folder name
        dataset = type(dataset.__name__, (dataset,), {"base_folder": base_folder})
    _say(f"converting {shown} to PNG image folders (once; about a minute) ...")
    for split in _SPLITS:
        try:
            data = dataset(str(root), train=split == "train")
        except RuntimeError as error:  # its own integrity check: a file changed since ours
            raise UsageError(f"{str(shown)!r}: {error}; expected {_OFFICIAL_SOURCES}.") from error
        counts = [0] * len(data.classes)
        for image, label in zip(data.data, data.targets):
            folder = dest / split / data.classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{counts[label]:04d}.png")
            counts[label] += 1


def _image_root_in(folder: Path) -> Path | None:
    """``folder`` or its only sub-folder, whichever holds ``train/`` and ``test/``."""
    candidates = [folder, *sorted(path for path in folder.iterdir() if path.is_dir() and not path.is_symlink())]
    return next((candidate for candidate in candidates if _is_ready(candidate)), None)


def _python_folder_in(folder: Path, base_folder: str) -> Path | None:
    """The folder under ``folder`` (itself or one level down) that holds ``base_folder``."""
    candidates = [folder, *sorted(path for path in folder.iterdir() if path.is_dir() and not path.is_symlink())]
    return next((candidate for candidate in candidates if (candidate / base_folder).is_dir()), None)


def _fill_from_archive(archive: Path) -> Callable[[Path], None]:
    """Unpack an image-folder archive or torchvision's ``cifar-10-python.tar.gz`` into a staging folder."""

    def fill(staging: Path) -> None:
        unpacked = staging / _UNPACKED
        start = time.perf_counter()
        _say(f"extracting {archive.name} ({archive.stat().st_size / _BYTES_PER_MB:.1f} MB) (once) ...")
        _extract_tar(archive, unpacked, _OFFICIAL_SOURCES)
        images = _image_root_in(unpacked)
        base_folder = _cifar10_python_folder()
        python = None if images is not None else _python_folder_in(unpacked, base_folder)
        if images is not None:
            for split in _SPLITS:
                (images / split).rename(staging / split)
        elif python is not None:
            _convert_python_version(python, base_folder, staging, archive)
        else:
            raise UsageError(
                f"{str(archive)!r} holds neither train/ and test/ image folders nor {base_folder}/; expected "
                f"{_OFFICIAL_SOURCES}."
            )
        shutil.rmtree(unpacked)  # unpacked just now inside the staging folder: the tool's own
        _say(f"prepared in {time.perf_counter() - start:.0f} s.")

    return fill


def _cifar10_python_folder() -> str:
    """The folder name of CIFAR-10's python version, without importing torchvision when it is set."""
    return CIFAR10_DATASET.base_folder if CIFAR10_DATASET is not None else "cifar-10-batches-py"


def _download(staging: Path) -> None:
    """Download the official ``cifar-10-python.tar.gz`` through torchvision (MD5-checked) and convert it."""
    from torchvision.datasets.utils import download_and_extract_archive

    dataset = _cifar10_dataset()
    unpacked = staging / _UNPACKED
    _say(f"downloading {dataset.url} (checked against torchvision's MD5 {dataset.tgz_md5}) ...")
    try:
        download_and_extract_archive(dataset.url, str(unpacked), filename=dataset.filename, md5=dataset.tgz_md5)
    except RuntimeError as error:  # torchvision: "File not found or corrupted." (a wrong MD5)
        raise DownloadError(
            f"the file downloaded from {dataset.url} does not have the official MD5 {dataset.tgz_md5} ({error}); "
            f"nothing was unpacked. Try again, or use a CIFAR-10 you have: `{_PREPARE_HINT} --from PATH`."
        ) from error
    except OSError as error:  # urllib.error.URLError and other network failures
        raise DownloadError(
            f"could not download {dataset.url} ({error}); check the connection, or use a CIFAR-10 you have: "
            f"`{_PREPARE_HINT} --from PATH`."
        ) from error
    _convert_python_version(unpacked, dataset.base_folder, staging, dataset.url)
    shutil.rmtree(unpacked)  # downloaded just now inside the staging folder: the tool's own


def check_cifar10_source(source: str | Path, name: str = "source") -> Path:
    """``source`` as a path, or a ``UsageError`` naming ``name`` (``--from`` on the command line) when it is missing."""
    path = Path(source).expanduser()
    if not path.exists():
        raise UsageError(f"{name} {str(path)!r} does not exist; expected {_OFFICIAL_SOURCES}.")
    return path


def _plan(source: Path) -> tuple[str, Callable[[Path], None]]:
    """``(stamp, fill)`` that prepares the image folders from ``source``; a ``ValueError`` for anything else."""
    if source.is_dir() and _is_ready(source):
        target = source.resolve()

        def link(staging: Path) -> None:
            for split in _SPLITS:
                (staging / split).symlink_to(target / split, target_is_directory=True)
            _say(f"linked train/ and test/ of {target}")

        return f"links to {target}", link
    if source.is_dir():
        if (source / _cifar10_python_folder()).is_dir():
            root, base_folder = source, _cifar10_python_folder()
        elif (source / "batches.meta").is_file():  # the batches folder itself, whatever its name
            root, base_folder = source.parent, source.name
        else:
            raise UsageError(
                f"CIFAR-10 source {str(source)!r} is a folder with neither train/ and test/ nor CIFAR-10's python "
                f"files (batches.meta, data_batch_1 ... test_batch); expected {_OFFICIAL_SOURCES}."
            )

        def convert(staging: Path) -> None:
            _convert_python_version(root, base_folder, staging, source)

        return f"{(root / base_folder).resolve()} (CIFAR-10 python version)", convert
    if source.is_file():
        return _archive_stamp(source), _fill_from_archive(source)
    raise UsageError(f"CIFAR-10 source {str(source)!r} does not exist; expected {_OFFICIAL_SOURCES}.")


def prepare_cifar10(source: str | Path | None = None, dest: str | Path | None = None, force: bool = False) -> Path:
    """Make the CIFAR-10 image-folder tree (``train/<class>/*``, ``test/<class>/*``) at ``dest``.

    Args:
        source: ``cifar10-jpeg.tar.xz`` (or another archive of an image-folder root), torchvision's
            ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py`` folder (checked
            against torchvision's MD5 checksums, then converted to PNG files; anything else is
            refused, never unpickled), or an image-folder root with ``train/`` and ``test/`` (then
            ``dest`` holds links to them; nothing is copied). Default: the offline archive in
            :func:`shared_data_dir` where it exists, else the official archive downloaded
            through torchvision (see :data:`CIFAR10_DATASET`).
        dest: target folder (default :func:`cifar10_default_root`, where the configs read it). It
            must be new, empty, or prepared by this function: only what the tool wrote is replaced.
        force: prepare again even when ``dest`` is ready.

    Returns:
        ``dest``, which now holds ``train/`` and ``test/``.

    Raises:
        AlreadyPreparedError: ``dest`` is ready from another ``source`` and ``force`` is False.
        ValueError: ``source`` is missing or not CIFAR-10, or ``dest`` holds files the tool did not write.
        DownloadError: the download failed or did not match its checksum (an ``OSError``).
    """
    fix = (
        f"point {CIFAR10_ROOT_ENV} at a new folder for the prepared CIFAR-10"
        if dest is None
        else "pass a new folder as dest"
    )
    dest = Path(dest).expanduser() if dest is not None else cifar10_default_root()
    if source is None:
        if _is_ready(dest) and not force:
            return dest
        offline = shared_data_dir() / CIFAR10_ARCHIVE
        if offline.is_file():
            return _prepare(dest, _archive_stamp(offline), _fill_from_archive(offline), fix)
        return _prepare(dest, f"download of {_cifar10_dataset().url}", _download, fix)
    source = check_cifar10_source(source)
    stamp, fill = _plan(source)
    if _is_ready(source):
        fix += f", or read your own folder directly with {CIFAR10_ROOT_ENV}={source}"
    if source.is_dir() and dest.exists() and source.resolve() == dest.resolve():
        return dest  # the user's own root is already where configs read it
    if _is_ready(dest) and not force:
        held = _stamp(dest)
        if held == stamp:
            return dest
        _ours(dest, fix)  # a root the tool did not prepare: say so rather than suggest force
        raise AlreadyPreparedError(dest, source, held or "an unknown source")
    return _prepare(dest, stamp, fill, fix)


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
            raise UsageError(
                f"{CIFAR10_ROOT_ENV}={default} holds no train/ and test/ folders; point it at a CIFAR-10 "
                f"dataset root holding train/ and test/, or unset it and run `{_PREPARE_HINT}`."
            )
        if not (shared_data_dir() / CIFAR10_ARCHIVE).is_file():
            raise UsageError(
                f"CIFAR-10 is not prepared at {default} and the offline archive {shared_data_dir() / CIFAR10_ARCHIVE} "
                f"is missing; run `{_PREPARE_HINT} --from PATH` with a CIFAR-10 you have (cifar10-jpeg.tar.xz, "
                f"cifar-10-python.tar.gz or a dataset root holding train/ and test/), `{_PREPARE_HINT}` to download "
                f"it through torchvision, or set {CIFAR10_ROOT_ENV} to a prepared root."
            )
        return prepare_cifar10()
    path = Path(path)
    if path.is_dir():
        root = path
    elif path.is_file():
        root = extract_archive(path)
    else:
        raise UsageError(
            f"CIFAR-10 path {str(path)!r} does not exist; pass a dataset root holding train/ and test/ "
            f"(train/<class>/<image>, test/<class>/<image>) or cifar10-jpeg.tar.xz."
        )
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (candidate / "train").is_dir():
            return candidate
    raise UsageError(
        f"no train/ folder found under {str(root)!r}; pass the CIFAR-10 dataset root holding train/ and test/."
    )


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
        raise UsageError(f"{str(root)!r} holds no class folders; pass a folder laid out as root/<class>/<image>.")
    rng = np.random.default_rng(seed)
    picked: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if per_class is not None and per_class < len(files):
            chosen = range(per_class) if seed is None else sorted(rng.choice(len(files), per_class, replace=False))
            files = [files[i] for i in chosen]
        picked += [(file, label) for file in files]
    if not picked:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(root)!r}.")
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
