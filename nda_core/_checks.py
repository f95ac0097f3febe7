"""Input validation shared by the transforms, losses and metrics.

Every check raises :class:`nda_core.errors.UsageError` (a ``ValueError``; ``UsageTypeError``, also a
``TypeError``, for a wrong type) whose message names the argument, the value it got and how to fix it.
The number checks share one signature: ``check_int(value, name, low, high, *, hint)`` and
``check_number(value, name, low, high, *, low_open, high_open, hint)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from nda_core.errors import UsageError, UsageTypeError

IMAGE_RANK = 4  # (B, C, H, W)
CLIP_RANK = 5  # (B, C, T, H, W)


def check_tensor(x: Any, name: str = "x") -> torch.Tensor:
    """Raise ``TypeError`` unless ``x`` is a tensor."""
    if not isinstance(x, torch.Tensor):
        raise UsageTypeError(
            f"{name} must be a torch.Tensor of shape (B, C, H, W) or (B, C, T, H, W), "
            f"got {type(x).__name__}; convert it with torch.as_tensor(...)."
        )
    return x


def check_batch(x: Any, name: str = "x", min_batch: int = 1, why: str = "") -> torch.Tensor:
    """Check that ``x`` is an image batch (B,C,H,W) or a clip batch (B,C,T,H,W)."""
    check_tensor(x, name)
    if x.dim() not in (IMAGE_RANK, CLIP_RANK):
        raise UsageError(
            f"{name} must have shape (B, C, H, W) for images or (B, C, T, H, W) for clips, "
            f"got shape {tuple(x.shape)} (rank {x.dim()}); add a batch dimension with "
            f"{name}.unsqueeze(0) for a single image or clip."
        )
    if x.dtype not in (torch.uint8,) and not x.is_floating_point():
        raise UsageTypeError(
            f"{name} must be a floating-point or uint8 tensor, got dtype {x.dtype}; "
            f"convert it with {name}.float() or {name}.to(torch.uint8)."
        )
    if x.shape[0] < min_batch:
        raise UsageError(
            f"{name} has batch size {x.shape[0]}, but {why or 'this transform'} needs at least "
            f"{min_batch} samples so that every sample can be paired with a different one; "
            f"pass a larger batch or use a single-image NDA such as 'jigsaw' or 'cutout'."
        )
    if min(x.shape[-2:]) < 1:
        raise UsageError(f"{name} has an empty spatial size {tuple(x.shape[-2:])}; pass non-empty images.")
    if looks_channels_last(x.shape, strict=True):
        raise UsageError(channels_last_message(x.shape, name))
    return x


#: Channel counts of images: grey, RGB, RGBA.
IMAGE_CHANNELS = (1, 3, 4)


def looks_channels_last(shape: Sequence[int], strict: bool = False) -> bool:
    """Whether a batch ``shape`` looks like (B, H, W, C) or (B, T, H, W, C) rather than channels-first.

    The last axis holds 1, 3 or 4 values while axis 1 does not. ``strict`` also asks that axis 1
    and the next-to-last axis are longer than 4 (spatial sizes, not channels): a channels-first
    batch that passes that test would hold images at most 4 pixels wide with more than 4 channels.
    """
    if len(shape) not in (IMAGE_RANK, CLIP_RANK) or shape[-1] not in IMAGE_CHANNELS or shape[1] in IMAGE_CHANNELS:
        return False
    return not strict or (shape[1] > max(IMAGE_CHANNELS) and shape[-2] > max(IMAGE_CHANNELS))


def channels_last_message(shape: Sequence[int], name: str = "x") -> str:
    """How to turn a channels-last batch of ``shape`` into the channels-first layout NDAs take."""
    if len(shape) == IMAGE_RANK:
        layout, fix = "(B, H, W, C)", f"{name}.permute(0, 3, 1, 2)"
    else:
        layout, fix = "(B, T, H, W, C)", f"{name}.permute(0, 4, 1, 2, 3)"
    return (
        f"{name} has shape {tuple(shape)}, which looks channels-last {layout} (its last axis holds "
        f"{shape[-1]} values); NDA transforms take channels-first (B, C, H, W) images or (B, C, T, H, W) "
        f"clips: pass {fix}."
    )


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _fix(hint: str) -> str:
    return f" {hint}" if hint else ""


def check_int(value: Any, name: str, low: int | None = None, high: int | None = None, *, hint: str = "") -> int:
    """Check that ``value`` is an int (not a bool) in [``low``, ``high``] (either end optional)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageTypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).{_fix(hint)}")
    if low is not None and value < low:
        raise UsageError(f"{name} must be >= {low}, got {value}.{_fix(hint)}")
    if high is not None and value > high:
        raise UsageError(f"{name} must be <= {high}, got {value}.{_fix(hint)}")
    return value


def check_number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """Check that ``value`` is a finite real number (not a bool) in the interval from ``low`` to
    ``high`` (either end optional; ``low_open`` / ``high_open`` exclude the end). Returns a float."""
    interval = ("(" if low_open or low is None else "[") + f"{'-inf' if low is None else f'{low:g}'}, "
    interval += f"{'inf' if high is None else f'{high:g}'}" + (")" if high_open or high is None else "]")
    if not _is_number(value):
        raise UsageTypeError(
            f"{name} must be a number in {interval}, got {value!r} ({type(value).__name__}).{_fix(hint)}"
        )
    number = float(value)
    finite = -float("inf") < number < float("inf")
    low_ok = low is None or (number > low if low_open else number >= low)
    high_ok = high is None or (number < high if high_open else number <= high)
    if not (finite and low_ok and high_ok):
        raise UsageError(f"{name} must lie in {interval}, got {value!r}.{_fix(hint)}")
    return number


def check_probability(
    value: Any, name: str, *, low_open: bool = False, high_open: bool = False, hint: str = ""
) -> float:
    """Check that ``value`` is a number in [0, 1] (ends open where asked)."""
    return check_number(value, name, 0.0, 1.0, low_open=low_open, high_open=high_open, hint=hint)


def check_positive(value: Any, name: str, hint: str = "") -> float:
    """Check that ``value`` is a finite number > 0."""
    if not _is_number(value):
        raise UsageTypeError(f"{name} must be a positive number, got {value!r} ({type(value).__name__}).{_fix(hint)}")
    number = float(value)
    if not 0 < number < float("inf"):
        raise UsageError(f"{name} must be a finite number > 0, got {value!r}.{_fix(hint)}")
    return number


def check_bool(value: Any, name: str, hint: str = "") -> bool:
    """Check that ``value`` is a bool (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise UsageTypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).{_fix(hint)}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[Any], hint: str = "") -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise UsageError(f"{name} must be one of {list(choices)}, got {value!r}.{_fix(hint)}")
    return value


def check_sequence(value: Any, name: str, hint: str = "", min_length: int = 1) -> list[Any]:
    """Check that ``value`` is a list or tuple (not a string or a dict) of at least ``min_length`` items."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence) or len(value) < min_length:
        wanted = "a non-empty list" if min_length == 1 else f"a list of at least {min_length} items"
        raise UsageError(f"{name} must be {wanted}, got {value!r}.{_fix(hint)}")
    return list(value)


def check_weights(weights: Sequence[float], count: int, name: str = "weights") -> list[float]:
    """Check a list of non-negative mixture weights with a positive sum."""
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise UsageError(
            f"{name} has {len(weights)} entries but there are {count} transforms; give one weight per transform."
        )
    if any(not (w >= 0 and w < float("inf")) for w in weights) or sum(weights) <= 0:
        raise UsageError(
            f"{name} must be finite, non-negative and sum to more than 0, got {weights}; "
            f"for example pass equal weights [1.0] * {count}."
        )
    return weights


def check_generator(generator: Any) -> None:
    """Check that ``generator`` is None or a torch.Generator (any device)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise UsageTypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            f"create one with torch.Generator().manual_seed(0)."
        )


def spatial_multiple(size: int, k: int, axis: str, shape: Sequence[int] | None = None) -> None:
    """Raise unless ``size`` (H or W) is divisible by ``k``; ``shape`` (the batch's) adds a hint
    when the batch looks channels-last."""
    if size % k != 0:
        message = (
            f"jigsaw needs {axis} divisible by k: {axis}={size} and k={k} leave a remainder of "
            f"{size % k}; resize or crop the images to a multiple of {k} "
            f"(e.g. {size - size % k}), or choose a k that divides {size}."
        )
        if shape is not None and looks_channels_last(shape):
            message = f"{channels_last_message(shape)} (Read as channels-first: {message})"
        raise UsageError(message)
