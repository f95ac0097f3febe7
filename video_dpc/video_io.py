"""Reading frames from video files (PyAV) and from folders of extracted frames (Pillow).

Both readers return the frames asked for as a uint8 tensor (K, 3, H, W) in RGB, in the order
asked (indices may repeat). A frame folder holds one image per frame, named so that a natural
sort gives the frame order (DPC's ``image_00001.jpg`` ...).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from video_dpc import INSTALL_HINT

__all__ = ["FRAME_SUFFIXES", "FrameFolderReader", "VideoFileReader", "natural_key", "reader_for"]

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
LOG = logging.getLogger("video_dpc")
#: Frame folder listings cached per process (about 15 MB for folders of ~190 frames, as UCF-101's).
_LISTINGS_KEPT = 1024


def natural_key(name: str) -> list:
    """Sort key that orders ``img_2`` before ``img_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _stack(frames: dict[int, np.ndarray], indices: Sequence[int]) -> torch.Tensor:
    return torch.from_numpy(np.stack([frames[int(i)] for i in indices])).permute(0, 3, 1, 2).contiguous()


@functools.lru_cache(maxsize=_LISTINGS_KEPT)
def _frame_names(path: Path) -> tuple[str, ...]:
    """File names of a folder's frame images in natural order: listed and sorted once, then cached."""
    if not path.is_dir():
        raise ValueError(f"frame folder {str(path)!r} does not exist; extract the video's frames there first.")
    return tuple(sorted((p.name for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=natural_key))


class FrameFolderReader:
    """Frames stored as images in one folder per video."""

    kind = "frames"

    def num_frames(self, path: str | Path) -> int:
        return len(_frame_names(Path(path)))

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        try:
            from PIL import Image
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(f"reading frame folders needs Pillow: {INSTALL_HINT}") from error
        path = Path(path)
        names = _frame_names(path)
        frames = {}
        for index in sorted(set(int(i) for i in indices)):
            if not 0 <= index < len(names):
                raise ValueError(f"frame {index} asked of {str(path)!r}, which holds {len(names)} frames.")
            with Image.open(path / names[index]) as image:
                frames[index] = np.asarray(image.convert("RGB"))
        return _stack(frames, indices)


class VideoFileReader:
    """Video files decoded with PyAV (``av``), frames counted from the container."""

    kind = "video"

    @staticmethod
    def _open(path: str | Path):
        import av

        if not Path(path).is_file():
            raise ValueError(f"video file {str(path)!r} does not exist.")
        try:
            return av.open(str(path))
        except av.error.FFmpegError as error:
            raise ValueError(f"cannot open video {str(path)!r} with PyAV: {error}") from None

    def num_frames(self, path: str | Path) -> int:
        """Frames in the first video stream (the container's count, else its packets)."""
        with self._open(path) as container:
            if not container.streams.video:
                raise ValueError(f"{str(path)!r} has no video stream.")
            stream = container.streams.video[0]
            if stream.frames > 0:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size > 0)

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        """Decode the frames ``indices`` (in decoding order), stopping after the last one needed."""
        wanted = sorted(set(int(i) for i in indices))
        frames: dict[int, np.ndarray] = {}
        last, decoded = None, 0
        with self._open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for position, frame in enumerate(container.decode(stream)):
                if position in wanted:
                    frames[position] = frame.to_ndarray(format="rgb24")
                last, decoded = frame, position + 1
                if position >= wanted[-1]:
                    break
        missing = [i for i in wanted if i not in frames]
        if missing:
            if last is None:
                raise ValueError(f"video {str(path)!r} decoded no frames.")
            # The container's frame count can exceed what decodes (a damaged tail): repeat the last frame.
            LOG.warning("%s decoded only %d frames, fewer than its container reports; repeating the last frame for %d indices",
                        path, decoded, len(missing))
            tail = last.to_ndarray(format="rgb24")
            frames.update({i: tail for i in missing})
        return _stack(frames, indices)


def reader_for(kind: str) -> FrameFolderReader | VideoFileReader:
    """``"video"``: PyAV; ``"frames"``: frame folders."""
    if kind == "video":
        return VideoFileReader()
    if kind == "frames":
        return FrameFolderReader()
    raise ValueError(f"data.source must be 'video' (decode the video files) or 'frames' (folders of frames), got {kind!r}.")
