"""Numerosity images (paper, Appendix A): canvases with an exact number of non-touching dots.

The generator places each dot in its own cell of a regular grid (cells drawn without
replacement, a random offset inside the cell), so dots never touch and the count of every
image is exact. :func:`count_dots` counts the dots of any image, real or generated, as the
8-connected components (``scipy.ndimage.label``) of the thresholded image that are at least
``min_pixels`` large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nda_core._checks import check_int, check_number, check_tensor
from nda_core.errors import UsageError, UsageTypeError

__all__ = [
    "DEFAULT_SIZE",
    "DEFAULT_RADIUS",
    "DotsConfig",
    "max_dots",
    "make_dots",
    "make_count_mixture",
    "label_components",
    "component_sizes",
    "count_dots",
    "check_counts",
]

#: Canvas side in pixels.
DEFAULT_SIZE = 32
#: Dot radius in pixels.
DEFAULT_RADIUS = 2.5
#: Background pixels kept between a dot and the border of its grid cell (so dots never touch).
CELL_MARGIN = 1
#: Smallest canvas side and dot radius the generator accepts.
MIN_SIZE = 4
MIN_RADIUS = 0.5
#: Pixel values of the images the generator makes: background and dot (the GAN's tanh range).
BACKGROUND_VALUE = -1.0
DOT_VALUE = 1.0
#: A pixel is "ink" when its value is above this (midway between background and dot).
INK_THRESHOLD = 0.0
#: Components smaller than this many pixels are speckle, not dots (a real dot has about 21).
MIN_DOT_PIXELS = 4
#: scipy.ndimage.label structure for (B, H, W): 8-connected within an image, never across images.
_EIGHT_NEIGHBOURS_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_EIGHT_NEIGHBOURS_IN_PLANE[1] = True


class DotsConfig:
    """Geometry of the numerosity canvas: ``size`` x ``size`` pixels, dots of ``radius``."""

    def __init__(self, size: int = DEFAULT_SIZE, radius: float = DEFAULT_RADIUS) -> None:
        check_int(size, "size", MIN_SIZE, hint="size is the canvas side in pixels (32 in the demo).")
        check_number(radius, "radius", MIN_RADIUS, size / 2, hint="radius is the dot radius in pixels, at most size/2.")
        self.size = size
        self.radius = float(radius)
        self.cell = int(math.ceil(2 * self.radius)) + 2 * CELL_MARGIN
        self.cells_per_side = size // self.cell

    @property
    def capacity(self) -> int:
        """The most dots that fit on the canvas (one per grid cell)."""
        return self.cells_per_side**2

    def __repr__(self) -> str:
        return f"DotsConfig(size={self.size}, radius={self.radius}, capacity={self.capacity})"


def max_dots(size: int = DEFAULT_SIZE, radius: float = DEFAULT_RADIUS) -> int:
    """The largest count :func:`make_dots` can draw on a ``size`` canvas with dots of ``radius``."""
    return DotsConfig(size, radius).capacity


def check_counts(counts: Sequence[int] | int, name: str, config: DotsConfig, minimum: int = 0) -> list[int]:
    """Validate dot counts: ints in ``[minimum, config.capacity]``; returns them as a list."""
    if isinstance(counts, torch.Tensor):
        counts = counts.tolist()
    single = not isinstance(counts, (list, tuple, range))
    values = [counts] if single else list(counts)
    if not values:
        raise UsageError(f"{name} is empty; give at least one dot count.")
    for index, value in enumerate(values):
        check_int(value, name if single else f"{name}[{index}]", minimum, hint="use whole numbers of dots, e.g. 6.")
        if value > config.capacity:
            raise UsageError(
                f"{name} holds {value}, but at most {config.capacity} dots of radius {config.radius} fit on a "
                f"{config.size}x{config.size} canvas without touching; use a smaller count, a smaller radius "
                f"or a larger size."
            )
    return values


def make_dots(
    count: int,
    n: int,
    config: DotsConfig | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` images (n, 1, size, size) in [-1, 1], each with exactly ``count`` dots.

    Example:
        >>> images = make_dots(6, 4, generator=torch.Generator().manual_seed(0))
        >>> images.shape, count_dots(images).tolist()
        (torch.Size([4, 1, 32, 32]), [6, 6, 6, 6])
    """
    config = config or DotsConfig()
    check_counts(count, "count", config)
    check_int(n, "n", 0, hint="n is the number of images to draw.")
    size, cell, per_side = config.size, config.cell, config.cells_per_side
    images = torch.full((n, 1, size, size), BACKGROUND_VALUE)
    if n == 0 or count == 0:
        return images
    # choose `count` distinct cells per image
    cells = torch.rand(n, config.capacity, generator=generator).argsort(dim=1)[:, :count]
    rows, cols = cells // per_side, cells % per_side
    # the grid is centred on the canvas; the dot centre moves freely inside its cell's margin
    offset = (size - per_side * cell) / 2
    free = cell - 2 * CELL_MARGIN - 2 * config.radius
    jitter = torch.rand(n, count, 2, generator=generator) * free
    low = CELL_MARGIN + config.radius
    centre_y = offset + rows * cell + low + jitter[..., 0]
    centre_x = offset + cols * cell + low + jitter[..., 1]
    pixel = torch.arange(size, dtype=torch.float32) + 0.5
    dist_y = (pixel.view(1, 1, size, 1) - centre_y.view(n, count, 1, 1)).pow(2)
    dist_x = (pixel.view(1, 1, 1, size) - centre_x.view(n, count, 1, 1)).pow(2)
    inside = (dist_y + dist_x <= config.radius**2).any(dim=1)
    images[:, 0][inside] = DOT_VALUE
    return images


def make_count_mixture(
    counts: Sequence[int],
    n: int,
    config: DotsConfig | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images whose dot counts are drawn uniformly from ``counts``; returns (images, counts)."""
    config = config or DotsConfig()
    values = check_counts(counts, "counts", config)
    picks = torch.randint(0, len(values), (n,), generator=generator)
    labels = torch.tensor(values)[picks]
    images = torch.empty(n, 1, config.size, config.size)
    for value in values:
        index = (labels == value).nonzero().flatten()
        images[index] = make_dots(value, index.numel(), config, generator)
    return images, labels


def _scipy_label() -> Any:
    try:
        from scipy import ndimage
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("count_dots labels components with scipy: pip install 'nda-plugins[eval]'") from error
    return ndimage.label


def _check_mask(mask: Any) -> torch.Tensor:
    check_tensor(mask, "mask")
    if mask.dim() != 3 or mask.dtype != torch.bool:
        raise UsageError(
            f"mask must be a bool tensor (B, H, W), got {mask.dtype} of shape {tuple(mask.shape)}; "
            f"threshold images first, e.g. images[:, 0] > 0."
        )
    return mask


def _components(mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scipy labels of a (B, H, W) bool batch, and the image and pixel count of each label 1..n.

    scipy numbers the components in raster order over the whole batch, so the labels of image
    b follow those of images 0..b-1 and ``owner`` is sorted.
    """
    labels, total = _scipy_label()(mask.detach().cpu().numpy(), structure=_EIGHT_NEIGHBOURS_IN_PLANE)
    owner = np.zeros(total + 1, dtype=np.int64)
    owner[labels] = np.arange(mask.shape[0]).reshape(-1, 1, 1)
    sizes = np.bincount(labels.ravel(), minlength=total + 1)
    return labels, owner[1:], sizes[1:]


def label_components(mask: torch.Tensor) -> torch.Tensor:
    """8-connected component labels of a boolean batch (B, H, W): 0 is background, 1..n per image.

    ``scipy.ndimage.label`` with a 3x3 neighbourhood inside each image (diagonal neighbours
    touch; no component crosses from one image to the next).
    """
    _check_mask(mask)
    labels, owner, _ = _components(mask)
    first = np.searchsorted(owner, np.arange(mask.shape[0]))  # labels before each image
    local = np.where(labels > 0, labels - first.reshape(-1, 1, 1), 0)
    return torch.from_numpy(local).long()


def component_sizes(mask: torch.Tensor) -> list[torch.Tensor]:
    """Per image of a bool batch (B, H, W), the pixel counts of its 8-connected components."""
    _check_mask(mask)
    if mask.shape[0] == 0:
        return []
    _, owner, sizes = _components(mask)
    ends = np.searchsorted(owner, np.arange(1, mask.shape[0]))
    return [torch.from_numpy(part).long() for part in np.split(sizes, ends)]


def count_dots(
    images: torch.Tensor, threshold: float = INK_THRESHOLD, min_pixels: int = MIN_DOT_PIXELS
) -> torch.Tensor:
    """Number of dots in each image of (B, 1, H, W) or (B, H, W): components of at least ``min_pixels``.

    Args:
        images: values in [-1, 1] (dots bright); generated images are thresholded at ``threshold``.
        threshold: a pixel is part of a dot when its value exceeds this.
        min_pixels: smaller components are speckle and not counted.

    Returns:
        (B,) int64 counts.
    """
    if not isinstance(images, torch.Tensor):
        raise UsageTypeError(f"images must be a torch.Tensor (B, 1, H, W), got {type(images).__name__}.")
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise UsageError(f"images must have one channel (B, 1, H, W), got shape {tuple(images.shape)}.")
        images = images[:, 0]
    if images.dim() != 3:
        raise UsageError(f"images must be (B, 1, H, W) or (B, H, W), got shape {tuple(images.shape)}.")
    check_number(threshold, "threshold", hint="pixels above it are ink; the demo's images lie in [-1, 1].")
    check_int(min_pixels, "min_pixels", 1, hint="smaller components are speckle; a dot of radius 2.5 has 21 pixels.")
    _, owner, sizes = _components(images.detach().float().cpu() > threshold)
    return torch.from_numpy(np.bincount(owner[sizes >= min_pixels], minlength=images.shape[0])).long()
