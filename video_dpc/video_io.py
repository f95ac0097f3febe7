"""Reading frames from video files (PyAV) and from folders of extracted frames (Pillow).

Both readers return the frames asked for as a uint8 tensor (K, 3, H, W) in RGB, in the order
asked (indices may repeat). A frame folder holds one image per frame, named so that a natural
sort gives the frame order (DPC's ``image_00001.jpg`` ...).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nda_core.errors import UsageError
from video_dpc import INSTALL_HINT

__all__ = ["FRAME_SUFFIXES", "FrameFolderReader", "FrameIndex", "VideoFileReader", "natural_key", "reader_for"]

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
        raise UsageError(f"frame folder {str(path)!r} does not exist; extract the video's frames there first.")
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
                raise UsageError(f"frame {index} asked of {str(path)!r}, which holds {len(names)} frames.")
            with Image.open(path / names[index]) as image:
                frames[index] = np.asarray(image.convert("RGB"))
        return _stack(frames, indices)


_BY_TIMESTAMP, _BY_COUNT, _SEQUENTIAL = "timestamp", "count", "sequential"
#: Containers whose timestamps only count frames in decoding order (the decoder's frame timestamps
#: are not presentation times when they hold B-frames): frames are found by counting from a key frame.
_COUNTED_FORMATS = frozenset({"avi"})
#: Seek within a read only when the next key frame lies this many frames past the last one taken:
#: a seek restarts the decoder (its reordering delay and threads), which costs more than a few frames.
_SEEK_AFTER = 8
_DECODE_ALL, _DECODE_REFERENCES = "DEFAULT", "NONREF"
#: Frame indices cached per process (a few kB per video: all of UCF-101's 13,320 and HMDB-51's 6,766).
_INDICES_KEPT = 16384


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Where the frames of a video file are, from one pass over its packets (nothing decoded).

    Attributes:
        num_frames: frames in the first video stream (its packets that hold data).
        mode: ``"timestamp"``: frame ``i`` is the one whose pts is ``pts[i]`` (presentation order);
            ``"count"`` (AVI): frames are counted from a key frame, placed by the rank of its packet's
            pts; ``"sequential"``: no usable timestamps, decode from the first frame.
        pts: (num_frames,) presentation timestamps in order (``"timestamp"`` mode, else empty).
        key_frames: ascending frame indices of the key frames.
        key_seek: for each key frame, the timestamps to seek to, tried in turn until the seek lands at
            or before it, (K, 2): ``"timestamp"``: its pts (MP4, MOV, MKV), then the smaller of its pts
            and dts (MPEG-TS, whose seeking goes by dts); ``"count"``: its dts twice.
        key_dts: for each key frame, its packet's dts (``"count"``: the first packet after the seek).
    """

    num_frames: int
    mode: str
    pts: np.ndarray
    key_frames: np.ndarray
    key_seek: np.ndarray
    key_dts: np.ndarray

    def seek_to(self, key: int, attempt: int) -> int:
        """Timestamp of the ``attempt``-th seek to key frame ``key``."""
        return int(self.key_seek[key, attempt])

    def key_before(self, frame: int) -> int:
        """Position in ``key_frames`` of the last key frame at or before ``frame`` (-1: none)."""
        return int(np.searchsorted(self.key_frames, frame, side="right")) - 1


@functools.lru_cache(maxsize=_INDICES_KEPT)
def _frame_index(path: str, mtime_ns: int, size: int) -> FrameIndex:
    """Demux the first video stream of ``path`` once (``mtime_ns`` and ``size`` renew the cache)."""
    with VideoFileReader._open(path) as container:
        if not container.streams.video:
            raise UsageError(f"{path!r} has no video stream.")
        stream = container.streams.video[0]
        packets = [(p.pts, p.dts, p.is_keyframe) for p in container.demux(stream) if p.size > 0]
        counted = bool(_COUNTED_FORMATS & set(container.format.name.split(",")))
    if not packets:
        raise UsageError(f"video {path!r} holds no video frames.")
    pts = [p[0] for p in packets]
    dts = [p[1] for p in packets]
    keys = [i for i, p in enumerate(packets) if p[2]]
    empty = np.zeros(0, dtype=np.int64)
    if keys and None not in pts and len(set(pts)) == len(pts):
        order = np.sort(np.array(pts, dtype=np.int64))
        key_frames = np.searchsorted(order, [pts[i] for i in keys]).astype(np.int64)
        if counted and None not in dts:
            # AVI: the decoder's frame timestamps are not presentation times; count from the key frame.
            key_dts = np.array([dts[i] for i in keys], dtype=np.int64)
            return FrameIndex(len(packets), _BY_COUNT, empty, key_frames, np.stack([key_dts, key_dts], 1), key_dts)
        if not counted:
            early = [pts[i] if dts[i] is None else min(pts[i], dts[i]) for i in keys]
            key_seek = np.array([[pts[i], e] for i, e in zip(keys, early)], dtype=np.int64)
            key_dts = np.array([-1 if dts[i] is None else dts[i] for i in keys], dtype=np.int64)
            return FrameIndex(len(packets), _BY_TIMESTAMP, order, key_frames, key_seek, key_dts)
    return FrameIndex(len(packets), _SEQUENTIAL, empty, empty, np.zeros((0, 2), dtype=np.int64), empty)


def _rgb(frame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _decode_seeking(container, stream, index: FrameIndex, wanted: Sequence[int]) -> dict[int, np.ndarray] | None:
    """Frames ``wanted`` (ascending, unique), seeking to the key frame before each run of them.

    Returns ``None`` when the video does not decode as its index says (a seek that lands
    elsewhere, a frame whose timestamp is not in the index, a stream that ends early), so the
    caller can decode from the first frame instead.
    """
    wanted_set = set(wanted)
    wanted_pts = frozenset(int(index.pts[i]) for i in wanted) if index.mode == _BY_TIMESTAMP else frozenset()
    frames: dict[int, np.ndarray] = {}
    position = -1  # index of the last frame taken in the current run
    decoded = None
    for target in wanted:
        key = index.key_before(target)
        if key < 0:
            return None
        key_frame = int(index.key_frames[key])
        if decoded is None or key_frame > position + _SEEK_AFTER:  # decoding on would pass many frames not wanted
            decoded = _seek(container, stream, index, key, wanted_pts)
            if decoded is None:
                return None
            position = key_frame - 1  # frames shown before the key frame (an open GOP's) are not taken
        while position < target:
            item = next(decoded, None)
            if item is None:
                return None
            frame_index, frame = item
            if frame_index is None:
                return None
            if frame_index <= position:
                continue
            if frame_index > target and target not in frames:
                return None
            if frame_index in wanted_set:
                frames[frame_index] = _rgb(frame)
            position = frame_index
    return frames


def _seek(container, stream, index: FrameIndex, key: int, wanted_pts: frozenset[int]):
    """Seek to key frame ``key``; the decoded frames from there, or ``None`` if no seek lands at or before it."""
    for attempt in range(index.key_seek.shape[1]):
        container.seek(index.seek_to(key, attempt), stream=stream, backward=True, any_frame=False)
        decoded = _frames_after_seek(container, stream, index, key, wanted_pts)
        first = next(decoded, None)
        if first is not None and first[0] is not None and first[0] <= int(index.key_frames[key]):
            return itertools.chain([first], decoded)
    return None


def _frames_after_seek(container, stream, index: FrameIndex, key: int, wanted_pts: frozenset[int]):
    """Yield ``(frame index or None, frame)`` for the frames decoded after seeking to key frame ``key``.

    By timestamp, the packets of frames not wanted are decoded only if other frames refer to them
    (FFmpeg's ``skip_frame = NONREF``): a wanted frame skipped by mistake would be missing, which
    the caller detects.
    """
    if index.mode == _BY_TIMESTAMP:
        context = stream.codec_context
        for packet in container.demux(stream):
            if packet.pts is not None:
                context.skip_frame = _DECODE_ALL if packet.pts in wanted_pts else _DECODE_REFERENCES
            for frame in packet.decode():
                if frame.pts is None:
                    yield None, frame
                    continue
                at = int(np.searchsorted(index.pts, frame.pts))
                yield (at if at < index.num_frames and index.pts[at] == frame.pts else None), frame
        return
    # _BY_COUNT: the first packet must be the key frame's; frames before the first key frame out of
    # the decoder (an open GOP's leading frames, shown before the key frame) are skipped.
    count = None
    landed = False
    for packet in container.demux(stream):
        if not landed and packet.size > 0:
            if packet.dts != int(index.key_dts[key]):
                yield None, None
                return
            landed = True
        for frame in packet.decode():
            if count is None:
                if not frame.key_frame:
                    continue
                count = int(index.key_frames[key])
            yield count, frame
            count += 1


class VideoFileReader:
    """Video files decoded with PyAV (``av``): frame ``i`` is the ``i``-th frame of a full decode.

    A read seeks to the key frame at or before each run of wanted frames and decodes forward
    from there, so a clip costs about the same wherever it lies in the video. Frames are found
    by their timestamps (MP4, MOV, MKV, WebM, ...) or, in AVI, whose timestamps only number the
    frames in decoding order, by counting from the key frame. Where a container has neither
    (e.g. a raw ``.h264`` stream), or a video does not decode as its packets said, the video is
    decoded from its first frame (the latter logged as a warning). Frame indices are built from
    one pass over a file's packets and cached per file, like the frame-folder listings.
    """

    kind = "video"

    @staticmethod
    def _open(path: str | Path):
        import av

        if not Path(path).is_file():
            raise UsageError(f"video file {str(path)!r} does not exist.")
        try:
            return av.open(str(path))
        except av.error.FFmpegError as error:
            raise UsageError(f"cannot open video {str(path)!r} with PyAV: {error}") from None

    def frame_index(self, path: str | Path) -> FrameIndex:
        """The :class:`FrameIndex` of ``path``, cached per file (renewed when the file changes)."""
        if not Path(path).is_file():
            raise UsageError(f"video file {str(path)!r} does not exist.")
        stat = Path(path).stat()
        return _frame_index(str(path), stat.st_mtime_ns, stat.st_size)

    def num_frames(self, path: str | Path) -> int:
        """Frames in the first video stream (its packets that hold data): the valid indices are 0..n-1."""
        return self.frame_index(path).num_frames

    def read(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        """The frames ``indices`` (any order, repeats allowed) as uint8 (K, 3, H, W), RGB."""
        index = self.frame_index(path)
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            raise UsageError(f"no frame indices given for {str(path)!r}; pass at least one.")
        if wanted[0] < 0 or wanted[-1] >= index.num_frames:
            bad = wanted[0] if wanted[0] < 0 else wanted[-1]
            raise UsageError(
                f"frame {bad} asked of {str(path)!r}, which holds {index.num_frames} frames "
                f"(0..{index.num_frames - 1})."
            )
        frames = None
        if index.mode != _SEQUENTIAL:
            with self._open(path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = _decode_seeking(container, stream, index, wanted)
            if frames is None:
                LOG.warning(
                    "%s did not decode as its packets said after a seek; decoding it from the first frame", path
                )
        if frames is None:
            frames = self._decode_from_start(path, wanted)
        return _stack(frames, indices)

    def _decode_from_start(self, path: str | Path, wanted: Sequence[int]) -> dict[int, np.ndarray]:
        """Decode from the first frame up to the last one wanted, counting frames in output order."""
        frames: dict[int, np.ndarray] = {}
        wanted_set = set(wanted)
        last, decoded = None, 0
        with self._open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for position, frame in enumerate(container.decode(stream)):
                if position in wanted_set:
                    frames[position] = _rgb(frame)
                last, decoded = frame, position + 1
                if position >= wanted[-1]:
                    break
        missing = [i for i in wanted if i not in frames]
        if missing:
            if last is None:
                raise UsageError(f"video {str(path)!r} decoded no frames.")
            # The packets can outnumber the frames that decode (a damaged tail): repeat the last frame.
            LOG.warning(
                "%s decoded only %d frames, fewer than its packets; repeating the last frame for %d indices",
                path,
                decoded,
                len(missing),
            )
            tail = _rgb(last)
            frames.update({i: tail for i in missing})
        return frames


def reader_for(kind: str) -> FrameFolderReader | VideoFileReader:
    """``"video"``: PyAV; ``"frames"``: frame folders."""
    if kind == "video":
        return VideoFileReader()
    if kind == "frames":
        return FrameFolderReader()
    raise UsageError(
        f"data.source must be 'video' (decode the video files) or 'frames' (folders of frames), got {kind!r}."
    )
