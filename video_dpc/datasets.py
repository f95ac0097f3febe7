"""UCF-101 and HMDB-51 from their official split files, and clip datasets with DPC's sampling.

Layouts (the official downloads; ``root`` holds videos or extracted frames, one folder per class):

UCF-101::

    root/<Class>/v_<Class>_gXX_cYY.avi            (data.source: video)
    root/<Class>/v_<Class>_gXX_cYY/image_00001.jpg (data.source: frames)
    splits/classInd.txt                            "1 ApplyEyeMakeup", ...
    splits/trainlist0N.txt                         "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    splits/testlist0N.txt                          "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

HMDB-51::

    root/<action>/<video>.avi                      (or root/<action>/<video>/ of frames)
    splits/<action>_test_splitN.txt                "<video>.avi 1" (1: train, 2: test, 0: unused)
    splits/classInd.txt                            optional; else the 51 actions in sorted order

A :class:`ClipDataset` skips videos too short for the block layout and logs how many.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from nda_core._checks import check_choice, check_int
from nda_core.errors import UsageError
from video_dpc.sampling import BlockLayout
from video_dpc.video_io import FrameFolderReader, VideoFileReader, reader_for

__all__ = [
    "DATASETS",
    "MODES",
    "file_videos",
    "ClipDataset",
    "FileVideos",
    "VideoEntry",
    "hmdb51_entries",
    "read_class_index",
    "ucf101_entries",
]

LOG = logging.getLogger("video_dpc")
DATASETS = ("ucf101", "hmdb51", "moving_mnist")
#: ``train``: a random clip per video; ``val``: the centred clip; ``test``: every window.
MODES = ("train", "val", "test")
SPLITS = (1, 2, 3)
_HMDB_TRAIN, _HMDB_TEST = "1", "2"
_PROBE_THREADS = 8
_MISSING_SHOWN = 3


@dataclass(frozen=True)
class VideoEntry:
    """One video of a split: where it is, its class index and a readable name."""

    path: Path
    label: int
    name: str


class VideoSource(Protocol):
    """What :class:`ClipDataset` needs of a collection of videos."""

    classes: Sequence[str]

    def __len__(self) -> int: ...
    def frame_counts(self) -> list[int]: ...
    def read(self, index: int, indices: Sequence[int]) -> torch.Tensor: ...
    def label(self, index: int) -> int: ...
    def name(self, index: int) -> str: ...


def _require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise UsageError(f"{what} {str(path)!r} not found; {fix}")
    return path


def read_class_index(path: str | Path) -> list[str]:
    """Class names of a ``classInd.txt`` (``"<1-based index> <name>"`` per line) in index order."""
    path = Path(path)
    classes: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise UsageError(f"{str(path)}:{number}: expected '<index> <class name>', got {line!r}.")
        classes[int(parts[0])] = parts[1]
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise UsageError(f"{str(path)} must number its classes 1..N without gaps, got {sorted(classes)[:5]}...")
    return [classes[i] for i in range(1, len(classes) + 1)]


def _video_path(root: Path, relative: str, source: str) -> Path:
    """``root/relative`` for videos, the same without the extension (a frame folder) for frames."""
    path = root / relative
    return path.with_suffix("") if source == "frames" else path


def ucf101_entries(
    root: str | Path, splits: str | Path, split: int = 1, subset: str = "train", source: str = "video"
) -> tuple[list[VideoEntry], list[str]]:
    """The videos of UCF-101's ``trainlist0N.txt`` or ``testlist0N.txt`` and the class names."""
    check_choice(split, "data.split", SPLITS, "UCF-101 has splits 1, 2 and 3.")
    check_choice(subset, "subset", ("train", "test"))
    root, splits = Path(root), Path(splits)
    fix = (
        "data.splits must be the folder with classInd.txt, trainlist0N.txt and testlist0N.txt (ucfTrainTestlist "
        "of the UCF-101 download)."
    )
    classes = read_class_index(_require_file(splits / "classInd.txt", "UCF-101 class index", fix))
    listing = _require_file(splits / f"{subset}list{split:02d}.txt", f"UCF-101 {subset} split file", fix)
    lookup = {name.lower(): index for index, name in enumerate(classes)}
    entries = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        if not line.strip():
            continue
        relative = line.split()[0].replace("\\", "/")
        folder = relative.split("/")[0]
        if folder.lower() not in lookup:
            raise UsageError(f"{listing}:{number}: class folder {folder!r} is not in classInd.txt.")
        entries.append(VideoEntry(_video_path(root, relative, source), lookup[folder.lower()], Path(relative).stem))
    return entries, classes


def hmdb51_entries(
    root: str | Path, splits: str | Path, split: int = 1, subset: str = "train", source: str = "video"
) -> tuple[list[VideoEntry], list[str]]:
    """The videos that HMDB-51's ``<action>_test_splitN.txt`` files mark 1 (train) or 2 (test)."""
    check_choice(split, "data.split", SPLITS, "HMDB-51 has splits 1, 2 and 3.")
    check_choice(subset, "subset", ("train", "test"))
    root, splits = Path(root), Path(splits)
    files = sorted(splits.glob(f"*_test_split{split}.txt")) if splits.is_dir() else []
    if not files:
        raise UsageError(
            f"no HMDB-51 split files '*_test_split{split}.txt' under {str(splits)!r}; data.splits must be the folder "
            f"testTrainMulti_7030_splits of the HMDB-51 download."
        )
    suffix = f"_test_split{split}.txt"
    actions = [f.name[: -len(suffix)] for f in files]
    classes = read_class_index(splits / "classInd.txt") if (splits / "classInd.txt").is_file() else sorted(actions)
    lookup = {name: index for index, name in enumerate(classes)}
    wanted = _HMDB_TRAIN if subset == "train" else _HMDB_TEST
    entries = []
    for file, action in zip(files, actions):
        if action not in lookup:
            raise UsageError(f"split file {file.name} names action {action!r}, which classInd.txt does not list.")
        for line in file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == wanted:
                entries.append(
                    VideoEntry(_video_path(root, f"{action}/{parts[0]}", source), lookup[action], Path(parts[0]).stem)
                )
    return entries, classes


class FileVideos:
    """Videos on disk (files or frame folders) read by a PyAV or frame-folder reader."""

    def __init__(
        self, entries: Sequence[VideoEntry], classes: Sequence[str], reader: FrameFolderReader | VideoFileReader
    ) -> None:
        self.entries = list(entries)
        self.classes = list(classes)
        self.reader = reader
        if not self.entries:
            raise UsageError("the split lists no videos; check data.splits and data.split.")
        exists = (lambda p: p.is_dir()) if reader.kind == "frames" else (lambda p: p.is_file())
        missing = [e.path for e in self.entries if not exists(e.path)]
        if missing:
            kind = "frame folders" if reader.kind == "frames" else "video files"
            raise UsageError(
                f"{len(missing)} of {len(self.entries)} {kind} listed in the split are missing, e.g. "
                f"{[str(p) for p in missing[:_MISSING_SHOWN]]}; check data.root and data.source ('video' or 'frames')."
            )

    def __len__(self) -> int:
        return len(self.entries)

    def frame_counts(self) -> list[int]:
        with ThreadPoolExecutor(_PROBE_THREADS) as pool:
            return list(pool.map(lambda e: self.reader.num_frames(e.path), self.entries))

    def read(self, index: int, indices: Sequence[int]) -> torch.Tensor:
        return self.reader.read(self.entries[index].path, indices)

    def label(self, index: int) -> int:
        return self.entries[index].label

    def name(self, index: int) -> str:
        return self.entries[index].name


class ClipDataset(Dataset):
    """Clips of ``layout.num_seq`` blocks from a video source, as DPC samples them.

    Items are blocks (N, C, T, H, W) in ``train``/``val`` mode, all test windows
    (W, N, C, T, H, W) in ``test`` mode; with ``labels`` a ``(blocks, label)`` pair.

    Args:
        source: the videos (:class:`FileVideos` or :class:`~video_dpc.moving_mnist.MovingMNISTActions`).
        layout: blocks, frames per block and stride.
        mode: ``train`` (random start), ``val`` (centred clip) or ``test`` (every window).
        transform: uint8 frames (K, C, H, W) -> float frames, same for the whole clip.
        labels: return the class index too.
        window_stride: blocks between test windows (default ``num_seq // 2``).
        name: shown in the log line about skipped videos.
    """

    def __init__(
        self,
        source: VideoSource,
        layout: BlockLayout,
        mode: str = "train",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        labels: bool = False,
        window_stride: int | None = None,
        name: str = "videos",
    ) -> None:
        self.source = source
        self.layout = layout
        self.mode = check_choice(mode, "mode", MODES)
        self.transform = transform
        self.labels = labels
        self.window_stride = None if window_stride is None else check_int(window_stride, "window_stride", 1)
        self.counts = source.frame_counts()
        self.keep = [i for i, count in enumerate(self.counts) if layout.fits(count)]
        self.skipped = len(self.counts) - len(self.keep)
        if not self.keep:
            raise UsageError(
                f"none of the {len(self.counts)} {name} is long enough for {layout.num_seq} blocks of {layout.seq_len} "
                f"frames at stride ds={layout.ds} (more than {layout.span} frames needed, the longest has "
                f"{max(self.counts)}); lower model.num_seq, model.seq_len or data.ds."
            )
        if self.skipped:
            LOG.warning(
                "%s: skipped %d of %d videos with at most %d frames (num_seq %d x seq_len %d x ds %d); %d remain",
                name,
                self.skipped,
                len(self.counts),
                layout.span,
                layout.num_seq,
                layout.seq_len,
                layout.ds,
                len(self.keep),
            )
        else:
            LOG.info("%s: %d videos, none too short for %d frames", name, len(self.keep), layout.span)

    @property
    def classes(self) -> list[str]:
        return list(self.source.classes)

    def __len__(self) -> int:
        return len(self.keep)

    def indices(self, item: int) -> np.ndarray:
        """Frame indices of ``item``: (N, T) in train/val mode, (W, N, T) in test mode."""
        count = self.counts[self.keep[item]]
        if self.mode == "train":
            return self.layout.indices(self.layout.random_start(count))
        if self.mode == "val":
            return self.layout.indices(self.layout.center_start(count))
        return self.layout.test_windows(count, self.window_stride)

    def __getitem__(self, item: int) -> Any:
        index = self.keep[item]
        positions = self.indices(item)
        unique, inverse = np.unique(positions, return_inverse=True)
        frames = self.source.read(index, unique.tolist())
        if self.transform is not None:
            frames = self.transform(frames)
        frames = frames[torch.from_numpy(inverse.reshape(-1))]  # (W * N * T, C, H, W) or (N * T, ...)
        channels, height, width = frames.shape[1:]
        blocks = frames.view(*positions.shape, channels, height, width).transpose(-4, -3).contiguous()
        return (blocks, self.source.label(index)) if self.labels else blocks


def entries_for(
    dataset: str, root: str | Path, splits: str | Path, split: int, subset: str, source: str
) -> tuple[list[VideoEntry], list[str]]:
    """Entries of ``ucf101`` or ``hmdb51``."""
    builder = {"ucf101": ucf101_entries, "hmdb51": hmdb51_entries}[dataset]
    return builder(root, splits, split, subset, source)


def file_videos(dataset: str, root: str | Path, splits: str | Path, split: int, subset: str, source: str) -> FileVideos:
    """A :class:`FileVideos` of one subset of UCF-101 or HMDB-51."""
    entries, classes = entries_for(dataset, root, splits, split, subset, source)
    return FileVideos(entries, classes, reader_for(source))
