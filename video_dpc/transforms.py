"""Clip augmentation on uint8 frame tensors (K, C, H, W), built on torchvision.transforms.v2.

Geometric operations (resize, crop, flip) are drawn once per clip, so every frame gets the same;
DPC draws its colour augmentations per frame during pre-training (``consistent=False``) and per
clip during fine-tuning, so both are options. The defaults reproduce DPC's UCF-101 pipeline:
frames with a short side of 240 px, a 224 px crop scaled to 128 px, i.e. a short side of
``137 = 128 * 240 / 224`` and a 128 px crop.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import torch

from nda_core._checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_positive,
    check_probability,
    check_sequence,
)
from nda_core.errors import UsageError, UsageTypeError

__all__ = ["Augment", "CROPS", "ClipTransform", "ColorJitter", "IMAGENET_MEAN", "IMAGENET_STD", "RandomGray"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``random``: a fixed-size crop at a random place; ``resized``: a crop of 50-100% of the area
#: and aspect 3/4-4/3 scaled to ``size`` (DPC's fine-tuning); ``center``: the middle (testing).
CROPS = ("random", "resized", "center")
_RESIZED_SCALE = (0.5, 1.0)
_RESIZED_RATIO = (3.0 / 4.0, 4.0 / 3.0)
_FLIP_P = 0.5
_RGB = 3
_Options = TypeVar("_Options")


@dataclass
class ColorJitter:
    """Colour jitter (torchvision's ``ColorJitter`` factors) applied with probability ``p``.

    Args:
        brightness, contrast, saturation: jitter factors (>= 0).
        hue: hue jitter (0 to 0.5).
        p: probability of jittering a frame (``consistent``: the clip).
        consistent: one draw for the whole clip (DPC's fine-tuning) instead of one per frame (its pre-training).
    """

    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.25
    p: float = 1.0
    consistent: bool = False


@dataclass
class RandomGray:
    """DPC's RandomGray: copy one random colour channel to all three.

    Args:
        p: probability per frame (``consistent``: per clip).
        consistent: one draw for the whole clip instead of one per frame.
    """

    p: float = 0.5
    consistent: bool = False


@dataclass
class Augment:
    """The augmentation of a data module's clips (frame size and channels come from the model).

    Args:
        resize: short side before cropping (None: no resize; the frames already have the model's size).
        crop: ``random``, ``resized`` (DPC's fine-tuning) or ``center``; testing always centres.
        flip: horizontal flip of the whole clip with probability 0.5.
        color_jitter: colour jitter, or None.
        gray: random grey frames, or None.
        mean, std: normalisation per output channel (default ImageNet's for RGB).
    """

    resize: int | None = 137
    crop: Literal["random", "resized", "center"] = "random"
    flip: bool = True
    color_jitter: ColorJitter | None = None
    gray: RandomGray | None = None
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD


def _options(kind: type[_Options], value: Any, name: str) -> _Options:
    """``value`` as the dataclass ``kind`` (a mapping is checked key by key)."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, Mapping):
        raise UsageTypeError(f"{name} must be a {kind.__name__} or a mapping of its fields, got {value!r}.")
    known = [f.name for f in dataclasses.fields(kind)]
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageTypeError(f"{name} has an unknown key {key!r}{hint}; known keys: {sorted(known)}.")
    return kind(**value)


@dataclass
class ClipTransform:
    """Turns uint8 frames (K, C, H, W) into normalised float frames (K, channels, size, size).

    Args:
        size: output frame side (or [height, width]).
        resize: short side before cropping (None: no resize; frames already ``size``).
        crop: ``random``, ``resized`` or ``center`` (see ``CROPS``); testing always centres.
        flip: horizontal flip of the whole clip with probability 0.5.
        color_jitter: ``{brightness, contrast, saturation, hue, p, consistent}`` or None.
        gray: ``{p, consistent}``: copy one random colour channel to all three (DPC's RandomGray), or None.
        channels: output channels (1 converts RGB frames to grey).
        mean, std: normalisation per output channel.
        train: random augmentation (True) or the deterministic test pipeline (False).
    """

    size: int | Sequence[int] = 128
    resize: int | None = 137
    crop: str = "random"
    flip: bool = True
    color_jitter: ColorJitter | Mapping[str, Any] | None = None
    gray: RandomGray | Mapping[str, Any] | None = None
    channels: int = _RGB
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    train: bool = True
    _jitter: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from torchvision.transforms import v2

        if isinstance(self.size, int):
            self.size = (check_int(self.size, "augment.size", 1), self.size)
        else:
            self.size = tuple(check_int(s, "augment.size", 1) for s in self.size)
        if self.resize is not None:
            check_int(self.resize, "augment.resize", 1, hint="the short side before cropping, or null for no resize.")
        check_choice(self.crop, "augment.crop", CROPS)
        check_bool(self.flip, "augment.flip")
        check_bool(self.train, "train")
        self.channels = check_int(self.channels, "augment.channels", 1, hint="1 (grey) or 3 (RGB).", high=_RGB)
        self.mean = [
            check_number(m, "augment.mean[]")
            for m in check_sequence(self.mean, "augment.mean", "Give one value per channel.")
        ]
        self.std = [
            check_positive(v, "augment.std[]")
            for v in check_sequence(self.std, "augment.std", "Give one value per channel.")
        ]
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise UsageError(
                f"augment.mean and augment.std need {self.channels} values (one per channel), got "
                f"{list(self.mean)} and "
                f"{list(self.std)}."
            )
        if self.color_jitter is not None:
            jitter = self.color_jitter = _options(ColorJitter, self.color_jitter, "augment.color_jitter")
            self._jitter_p = check_probability(jitter.p, "augment.color_jitter.p")
            self._jitter_consistent = check_bool(jitter.consistent, "augment.color_jitter.consistent")
            factors = {key: getattr(jitter, key) for key in ("brightness", "contrast", "saturation", "hue")}
            for key, value in factors.items():
                check_number(value, f"augment.color_jitter.{key}", 0.0, 0.5 if key == "hue" else None)
            self._jitter = v2.ColorJitter(**factors)
        if self.gray is not None:
            gray = self.gray = _options(RandomGray, self.gray, "augment.gray")
            self._gray_p = check_probability(gray.p, "augment.gray.p")
            self._gray_consistent = check_bool(gray.consistent, "augment.gray.consistent")

    def _crop(self, frames: torch.Tensor) -> torch.Tensor:
        """Crop (or resized-crop) to ``size``; the same window for every frame."""
        from torchvision.transforms import v2
        from torchvision.transforms.v2 import functional as F

        height, width = frames.shape[-2:]
        out_h, out_w = self.size
        if self.train and self.crop == "resized":
            top, left, box_h, box_w = v2.RandomResizedCrop.get_params(
                frames, list(_RESIZED_SCALE), list(_RESIZED_RATIO)
            )
            return F.resized_crop(frames, top, left, box_h, box_w, [out_h, out_w], antialias=True)
        if (height, width) == (out_h, out_w):
            return frames
        if height < out_h or width < out_w:
            raise UsageError(
                f"frames of {height}x{width} are smaller than the {out_h}x{out_w} crop; set data.augment.resize to a "
                f"short side of at least {max(out_h, out_w)} (or resize the frames to {out_h}x{out_w})."
            )
        if not self.train or self.crop == "center":
            return F.center_crop(frames, [out_h, out_w])
        top = int(torch.randint(0, height - out_h + 1, ()))
        left = int(torch.randint(0, width - out_w + 1, ()))
        return F.crop(frames, top, left, out_h, out_w)

    def _colour(self, frames: torch.Tensor) -> torch.Tensor:
        if self._jitter is not None:
            if self._jitter_consistent:
                if float(torch.rand(())) < self._jitter_p:
                    frames = self._jitter(frames)
            else:
                frames = torch.stack([self._jitter(f) if float(torch.rand(())) < self._jitter_p else f for f in frames])
        if self.gray is not None and frames.shape[1] == _RGB:
            count = frames.shape[0]
            if self._gray_consistent:
                chosen = torch.full((count,), float(torch.rand(())) < self._gray_p)
                channel = torch.full((count,), int(torch.randint(0, _RGB, ())))
            else:
                chosen = torch.rand(count) < self._gray_p
                channel = torch.randint(0, _RGB, (count,))
            split = frames[torch.arange(count), channel].unsqueeze(1).expand_as(frames)
            frames = torch.where(chosen.view(-1, 1, 1, 1), split, frames)
        return frames

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        if frames.dtype != torch.uint8 or frames.dim() != 4:
            raise UsageError(
                f"ClipTransform expects uint8 frames (K, C, H, W), got {frames.dtype} {tuple(frames.shape)}."
            )
        if self.resize is not None:
            frames = F.resize(frames, [self.resize], antialias=True)
        frames = self._crop(frames)
        if self.train:
            if self.flip and float(torch.rand(())) < _FLIP_P:
                frames = F.horizontal_flip(frames)
            frames = self._colour(frames)
        if self.channels == 1 and frames.shape[1] == _RGB:
            frames = F.rgb_to_grayscale(frames)
        elif self.channels == _RGB and frames.shape[1] == 1:
            frames = frames.expand(-1, _RGB, -1, -1)
        out = frames.float().div_(255.0)
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return out.sub_(mean).div_(std)
