"""A generated action dataset where only motion tells the classes apart: moving MNIST actions.

Every video shows one MNIST digit (from MNIST's training set for the ``train`` split, from its
test set for ``test``) moving on a black canvas. The class is defined by the motion alone:

* axis: ``horizontal`` or ``vertical`` (the sign of the initial direction is random);
* speed: ``slow`` (2 px per frame) or ``fast`` (4 px per frame);
* pattern: ``bounce`` (reflect at the canvas borders only) or ``turn`` (also reverse every
  4 frames, at a random phase, wherever the digit is).

That makes 8 classes. The digit, its start position and the direction's sign are random and
independent of the class, and every class keeps the digit inside the canvas, so a single frame
carries no information about the class: speed and axis need two frames, the pattern needs
the timing of the turns. Videos are generated on the fly from ``(seed, split, index)``, so
the dataset costs no disk and is the same on every machine.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from nda_core._checks import check_int
from nda_core.errors import UsageError

__all__ = ["CLASSES", "SPEEDS", "TURN_PERIOD", "MovingMNISTActions", "load_mnist_digits", "trajectory"]

AXES = ("horizontal", "vertical")
#: Pixels per frame.
SPEEDS = {"slow": 2.0, "fast": 4.0}
PATTERNS = ("bounce", "turn")
#: Frames between two turns of the ``turn`` pattern.
TURN_PERIOD = 4
CLASSES = [f"{axis}-{speed}-{pattern}" for axis, speed, pattern in itertools.product(AXES, SPEEDS, PATTERNS)]
MNIST_ARCHIVE = "mnist-raw.tar.xz"
DIGIT_SIDE = 28
_SPLITS = {"train": 0, "test": 1}


def load_mnist_digits(train: bool, root: str | Path | None = None) -> torch.Tensor:
    """MNIST digits (N, 28, 28) uint8 from ``root`` (a folder holding ``MNIST/raw`` or the
    ``mnist-raw.tar.xz`` archive); by default the offline archive in ``../shared/data``."""
    from torchvision.datasets import MNIST

    from nda_core.data import extract_archive, shared_data_dir

    path = Path(root) if root is not None else shared_data_dir() / MNIST_ARCHIVE
    if path.is_file():
        path = extract_archive(path)
    if not (path / "MNIST" / "raw").is_dir():
        raise UsageError(
            f"no MNIST found at {str(path)!r}: data.mnist must be a folder holding MNIST/raw/*-ubyte (torchvision's "
            f"layout) or the {MNIST_ARCHIVE} archive (default: {shared_data_dir() / MNIST_ARCHIVE}, or set NDA_DATA)."
        )
    return MNIST(str(path), train=train, download=False).data


def trajectory(label: int, frames: int, travel: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 2) integer (row, col) top-left positions of the digit for class ``label``."""
    axis, speed, pattern = CLASSES[label].split("-")
    velocity = SPEEDS[speed] * rng.choice((-1.0, 1.0))
    along = rng.uniform(0, travel)
    across = rng.uniform(0, travel)
    phase = int(rng.integers(TURN_PERIOD))
    positions = np.empty(frames)
    for t in range(frames):
        positions[t] = along
        if pattern == "turn" and (t + phase) % TURN_PERIOD == TURN_PERIOD - 1:
            velocity = -velocity
        along += velocity
        if along < 0:
            along, velocity = -along, -velocity
        elif along > travel:
            along, velocity = 2 * travel - along, -velocity
    moving = np.rint(positions).astype(np.int64)
    fixed = np.full(frames, int(round(across)))
    return np.stack([fixed, moving] if axis == "horizontal" else [moving, fixed], axis=1)


class MovingMNISTActions:
    """Moving MNIST actions as a video source for :class:`~video_dpc.datasets.ClipDataset`.

    Args:
        split: ``train`` (MNIST training digits) or ``test`` (MNIST test digits).
        num_videos: videos in the split; labels cycle through the 8 classes (balanced).
        frames: frames per video. size: canvas side in pixels (the digit is 28 px).
        seed: seed of the generation (digits, starts, directions).
        mnist: MNIST location for :func:`load_mnist_digits`.
    """

    classes = CLASSES

    def __init__(
        self,
        split: str = "train",
        num_videos: int = 4000,
        frames: int = 32,
        size: int = 64,
        seed: int = 0,
        mnist: str | Path | None = None,
    ) -> None:
        if split not in _SPLITS:
            raise UsageError(f"split must be one of {list(_SPLITS)}, got {split!r}.")
        self.split = split
        self.num_videos = check_int(num_videos, "num_videos", 1)
        self.frames = check_int(frames, "frames", 2, hint="moving MNIST videos need at least 2 frames to show motion.")
        self.size = check_int(
            size, "size", DIGIT_SIDE + 1, hint=f"the canvas must be larger than the {DIGIT_SIDE} px digit."
        )
        self.seed = check_int(seed, "seed", 0)
        self.digits = load_mnist_digits(split == "train", mnist)

    def __len__(self) -> int:
        return self.num_videos

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLITS[self.split], index])

    def label(self, index: int) -> int:
        return index % len(CLASSES)

    def name(self, index: int) -> str:
        return f"{self.split}-{index:05d}-{CLASSES[self.label(index)]}"

    def frame_counts(self) -> list[int]:
        return [self.frames] * self.num_videos

    def video(self, index: int) -> torch.Tensor:
        """The whole video (frames, 1, size, size) uint8."""
        if not 0 <= index < self.num_videos:
            raise IndexError(f"video {index} of a split with {self.num_videos} videos.")
        rng = self._rng(index)
        digit = self.digits[int(rng.integers(len(self.digits)))].numpy()
        positions = trajectory(self.label(index), self.frames, self.size - DIGIT_SIDE, rng)
        canvas = np.zeros((self.frames, self.size, self.size), dtype=np.uint8)
        for t, (row, col) in enumerate(positions):
            canvas[t, row : row + DIGIT_SIDE, col : col + DIGIT_SIDE] = digit
        return torch.from_numpy(canvas).unsqueeze(1)

    def read(self, index: int, indices) -> torch.Tensor:
        return self.video(index)[torch.as_tensor(np.asarray(indices), dtype=torch.long)]
