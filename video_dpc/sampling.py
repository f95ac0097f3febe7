"""DPC's clip sampling: ``num_seq`` blocks of ``seq_len`` frames, every ``ds``-th frame.

Training (``dpc/dataset_3d.py``): a video of ``n`` frames is used only when ``n > span`` with
``span = num_seq * seq_len * ds``; a start ``s`` is drawn uniformly from ``[0, n - span)`` and
block ``i`` holds frames ``s + i * seq_len * ds + j * ds`` for ``j < seq_len``, so consecutive
blocks tile the clip without gaps or overlap.

Testing (``eval/dataset_3d_lc.py``): every ``ds``-th frame of the whole video is cut into
consecutive blocks of ``seq_len`` frames, and windows of ``num_seq`` blocks start every
``window_stride`` blocks (DPC: ``num_seq // 2``, half-overlapping); the class scores of all
windows are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nda_core._checks import check_int
from nda_core.errors import UsageError

__all__ = ["BlockLayout"]


@dataclass(frozen=True)
class BlockLayout:
    """Where the frames of a training clip and of the test windows come from.

    Args:
        num_seq: blocks per clip (DPC: 8). seq_len: frames per block (DPC: 5).
        ds: temporal stride between sampled frames (DPC: 3 on UCF-101, 25 fps).
    """

    num_seq: int
    seq_len: int
    ds: int = 1

    def __post_init__(self) -> None:
        check_int(self.num_seq, "num_seq", 1, hint="DPC uses 8 blocks.")
        check_int(self.seq_len, "seq_len", 1, hint="DPC uses 5 frames per block.")
        check_int(self.ds, "ds", 1, hint="DPC samples every 3rd frame on UCF-101 (ds=3).")

    @property
    def span(self) -> int:
        """Frames a clip covers; a video needs more than this many frames (DPC's rule)."""
        return self.num_seq * self.seq_len * self.ds

    def fits(self, num_frames: int) -> bool:
        """Whether a video of ``num_frames`` frames is long enough (DPC: ``n - span > 0``)."""
        return num_frames > self.span

    def _check_fits(self, num_frames: int) -> None:
        if not self.fits(num_frames):
            raise UsageError(
                f"a video of {num_frames} frames is too short for {self.num_seq} blocks of {self.seq_len} frames at "
                f"stride ds={self.ds}: it needs more than {self.span} frames; lower num_seq, seq_len or ds, or skip it."
            )

    def indices(self, start: int) -> np.ndarray:
        """(num_seq, seq_len) frame indices of the clip that starts at frame ``start``."""
        blocks = np.arange(self.num_seq).reshape(-1, 1) * (self.seq_len * self.ds)
        return start + blocks + np.arange(self.seq_len).reshape(1, -1) * self.ds

    def random_start(self, num_frames: int, generator: torch.Generator | None = None) -> int:
        """A start drawn uniformly from ``[0, num_frames - span)``."""
        self._check_fits(num_frames)
        return int(torch.randint(0, num_frames - self.span, (), generator=generator))

    def center_start(self, num_frames: int) -> int:
        """The start that centres the clip in the video (deterministic validation clips)."""
        self._check_fits(num_frames)
        return (num_frames - self.span) // 2

    def test_windows(self, num_frames: int, window_stride: int | None = None) -> np.ndarray:
        """(W, num_seq, seq_len) frame indices of the test windows over the whole video."""
        self._check_fits(num_frames)
        stride = max(1, self.num_seq // 2) if window_stride is None else check_int(window_stride, "window_stride", 1)
        frames = np.arange(0, num_frames, self.ds)
        usable = len(frames) // self.seq_len
        blocks = frames[: usable * self.seq_len].reshape(usable, self.seq_len)
        starts = range(0, usable - self.num_seq + 1, stride)
        return np.stack([blocks[s : s + self.num_seq] for s in starts])
