"""Input validation shared by the transforms, losses and metrics.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message names
the argument, the value it got and how to fix it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

IMAGE_RANK = 4  # (B, C, H, W)
CLIP_RANK = 5  # (B, C, T, H, W)


def check_tensor(x: Any, name: str = "x") -> torch.Tensor:
    """Raise ``TypeError`` unless ``x`` is a tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, C, H, W) or (B, C, T, H, W), "
            f"got {type(x).__name__}; convert it with torch.as_tensor(...)."
        )
    return x


def check_batch(x: Any, name: str = "x", min_batch: int = 1, why: str = "") -> torch.Tensor:
    """Check that ``x`` is an image batch (B,C,H,W) or a clip batch (B,C,T,H,W)."""
    check_tensor(x, name)
    if x.dim() not in (IMAGE_RANK, CLIP_RANK):
        raise ValueError(
            f"{name} must have shape (B, C, H, W) for images or (B, C, T, H, W) for clips, "
            f"got shape {tuple(x.shape)} (rank {x.dim()}); add a batch dimension with "
            f"{name}.unsqueeze(0) for a single image or clip."
        )
    if x.dtype not in (torch.uint8,) and not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point or uint8 tensor, got dtype {x.dtype}; "
            f"convert it with {name}.float() or {name}.to(torch.uint8)."
        )
    if x.shape[0] < min_batch:
        raise ValueError(
            f"{name} has batch size {x.shape[0]}, but {why or 'this transform'} needs at least "
            f"{min_batch} samples so that every sample can be paired with a different one; "
            f"pass a larger batch or use a single-image NDA such as 'jigsaw' or 'cutout'."
        )
    if min(x.shape[-2:]) < 1:
        raise ValueError(f"{name} has an empty spatial size {tuple(x.shape[-2:])}; pass non-empty images.")
    return x


def check_int(value: Any, name: str, minimum: int, hint: str = "") -> int:
    """Check that ``value`` is an integer at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}). {hint}".rstrip())
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}. {hint}".rstrip())
    return value


def check_probability(value: Any, name: str, low_open: bool = False, high_open: bool = False) -> float:
    """Check that ``value`` is a number in [0, 1] (ends open where asked)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r} ({type(value).__name__}).")
    value = float(value)
    lo_ok = value > 0 if low_open else value >= 0
    hi_ok = value < 1 if high_open else value <= 1
    if not (lo_ok and hi_ok):
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {interval}, got {value}; pass a value in {interval}.")
    return value


def check_positive(value: Any, name: str, hint: str = "") -> float:
    """Check that ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value}. {hint}".rstrip())
    return value


def check_weights(weights: Sequence[float], count: int, name: str = "weights") -> list[float]:
    """Check a list of non-negative mixture weights with a positive sum."""
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(
            f"{name} has {len(weights)} entries but there are {count} transforms; "
            f"give one weight per transform."
        )
    if any(not (w >= 0 and w < float("inf")) for w in weights) or sum(weights) <= 0:
        raise ValueError(
            f"{name} must be finite, non-negative and sum to more than 0, got {weights}; "
            f"for example pass equal weights [1.0] * {count}."
        )
    return weights


def check_generator(generator: Any) -> None:
    """Check that ``generator`` is None or a torch.Generator (any device)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            f"create one with torch.Generator().manual_seed(0)."
        )


def spatial_multiple(size: int, k: int, axis: str) -> None:
    """Raise unless ``size`` (H or W) is divisible by ``k``."""
    if size % k != 0:
        raise ValueError(
            f"jigsaw needs {axis} divisible by k: {axis}={size} and k={k} leave a remainder of "
            f"{size % k}; resize or crop the images to a multiple of {k} "
            f"(e.g. {size - size % k}), or choose a k that divides {size}."
        )
