"""CIFAR-10-C style corruptions at the highest severity, made offline from clean images.

The ten corruptions of Hendrycks & Dietterich (ICLR 2019) that need no external image assets,
with the constants of their CIFAR-10-C generator at severity 5 (the NDA paper's Fig. 8 and
Table 5 use CIFAR-10-C): Gaussian, shot, impulse and speckle noise, Gaussian and defocus blur,
JPEG, pixelate, contrast and brightness. Each maps a uint8 batch (N, C, H, W) to a uint8
batch of the same shape; the random ones draw from an explicit ``torch.Generator``.

Example:
    >>> import torch
    >>> x = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)
    >>> corrupt(x, "contrast").unique().tolist()   # a flat image keeps its mean
    [128]
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nda_core._checks import check_batch, check_choice, check_generator
from nda_core.errors import UsageError, UsageTypeError

__all__ = ["CORRUPTIONS", "SEVERITY5", "corrupt", "available"]

#: The constants of the CIFAR-10-C generator at severity 5.
SEVERITY5 = {
    "gaussian_noise": 0.10,  # standard deviation
    "shot_noise": 50.0,  # Poisson rate scale
    "impulse_noise": 0.07,  # salt-and-pepper amount
    "speckle_noise": 0.20,  # multiplicative standard deviation
    "gaussian_blur": 1.0,  # sigma in pixels
    "defocus_blur": (1.5, 0.1),  # disk radius, anti-alias sigma
    "jpeg_compression": 40,  # JPEG quality
    "pixelate": 0.65,  # down-sampling factor (box filter down and up)
    "contrast": 0.15,  # contrast factor around the image mean
    "brightness": 0.30,  # added to HSV value
}
_GAUSS_TRUNCATE = 4.0  # kernel radius in sigmas (scikit-image's default)
_DISK_HALF = 8  # the generator draws disks on a 17 x 17 grid
_SALT_FRACTION = 0.5
_NEGLIGIBLE = 1e-12  # kernel weights below this are dropped


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64) / 255.0


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def _gaussian_noise(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=g, dtype=torch.float64)
    return _to_uint8(_as_float(x) + SEVERITY5["gaussian_noise"] * noise)


def _shot_noise(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    scale = SEVERITY5["shot_noise"]
    return _to_uint8(torch.poisson(_as_float(x) * scale, generator=g) / scale)


def _impulse_noise(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    y = _as_float(x)
    hit = torch.rand(x.shape, generator=g, dtype=torch.float64) < SEVERITY5["impulse_noise"]
    salt = torch.rand(x.shape, generator=g, dtype=torch.float64) < _SALT_FRACTION
    return _to_uint8(torch.where(hit, salt.to(y.dtype), y))


def _speckle_noise(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    y = _as_float(x)
    return _to_uint8(y + y * SEVERITY5["speckle_noise"] * torch.randn(x.shape, generator=g, dtype=torch.float64))


def _filter(x: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-channel 2-D filtering of (N, C, H, W) with a (k, k) kernel and edge mode ``mode``."""
    channels = x.shape[1]
    radius = kernel.shape[-1] // 2
    padded = F.pad(x, (radius, radius, radius, radius), mode=mode)
    weight = kernel.to(x.dtype).expand(channels, 1, *kernel.shape)
    return F.conv2d(padded, weight, groups=channels)


def _gaussian_blur(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    sigma = SEVERITY5["gaussian_blur"]
    radius = int(_GAUSS_TRUNCATE * sigma + 0.5)
    grid = torch.arange(-radius, radius + 1, dtype=torch.float64)
    line = torch.exp(-0.5 * (grid / sigma) ** 2)
    line = line / line.sum()
    return _to_uint8(_filter(_as_float(x), torch.outer(line, line), "replicate"))


def _disk(radius: float, alias_sigma: float) -> torch.Tensor:
    """The generator's defocus kernel: a normalised disk on a 17 x 17 grid, smoothed by a 3 x 3
    Gaussian of ``alias_sigma``, cropped (symmetrically) to its non-negligible weights."""
    grid = torch.arange(-_DISK_HALF, _DISK_HALF + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    disk = ((xx**2 + yy**2) <= radius**2).to(torch.float64)
    taps = torch.exp(-0.5 * (torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64) / alias_sigma) ** 2)
    kernel = _filter((disk / disk.sum())[None, None], torch.outer(taps, taps) / taps.sum() ** 2, "reflect")[0, 0]
    offsets = (kernel > _NEGLIGIBLE).nonzero() - _DISK_HALF
    half = int(offsets.abs().max())
    return kernel[_DISK_HALF - half : _DISK_HALF + half + 1, _DISK_HALF - half : _DISK_HALF + half + 1]


def _defocus_blur(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return _to_uint8(_filter(_as_float(x), _disk(*SEVERITY5["defocus_blur"]), "reflect"))


def _per_image(x: torch.Tensor, fn: Callable) -> torch.Tensor:
    from PIL import Image

    out = []
    for image in x.permute(0, 2, 3, 1).numpy():
        result = fn(Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image))
        array = np.asarray(result.convert("L" if image.shape[-1] == 1 else "RGB"))
        out.append(array.reshape(image.shape))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _jpeg(image):
    from PIL import Image

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=SEVERITY5["jpeg_compression"])
    buffer.seek(0)
    return Image.open(buffer)


def _jpeg_compression(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return _per_image(x, _jpeg)


def _pixelate(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    from PIL import Image

    factor = SEVERITY5["pixelate"]

    def pixelate(image):
        width, height = image.size
        small = image.resize((int(width * factor), int(height * factor)), Image.BOX)
        return small.resize((width, height), Image.BOX)

    return _per_image(x, pixelate)


def _contrast(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    y = _as_float(x)
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    return _to_uint8((y - mean) * SEVERITY5["contrast"] + mean)


def _brightness(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    if x.shape[1] != 3:
        raise UsageError(f"brightness works on RGB images (3 channels), got {x.shape[1]} channels.")
    hsv = rgb_to_hsv(_as_float(x).permute(0, 2, 3, 1).numpy())
    hsv[..., 2] = np.clip(hsv[..., 2] + SEVERITY5["brightness"], 0.0, 1.0)
    return _to_uint8(torch.from_numpy(hsv_to_rgb(hsv)).permute(0, 3, 1, 2))


CORRUPTIONS: dict[str, Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur,
    "defocus_blur": _defocus_blur,
    "jpeg_compression": _jpeg_compression,
    "pixelate": _pixelate,
    "contrast": _contrast,
    "brightness": _brightness,
}


def available() -> list[str]:
    """Names of the corruptions, in the CIFAR-10-C order."""
    return list(CORRUPTIONS)


def corrupt(images: torch.Tensor, name: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt a uint8 batch (N, C, H, W) with ``name`` at severity 5 (CPU; returns uint8 on the input's device).

    Args:
        images: uint8 images, 3 channels (1 works for all but brightness).
        name: one of :func:`available`.
        generator: randomness of the noise corruptions (the global generator when None).
    """
    check_batch(images, "images")
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise UsageTypeError(
            f"images must be a uint8 batch (N, C, H, W), got {images.dtype} of shape {tuple(images.shape)}; "
            "pass the decoded images."
        )
    check_choice(name, "name", available(), "CIFAR-10-C corruptions that need no external image assets.")
    check_generator(generator)
    device = images.device
    return CORRUPTIONS[name](images.cpu(), generator).to(device)
