"""Pure NDA operations: no randomness, every parameter is an argument.

All functions take a batch ``x`` of images (B, C, H, W) or clips (B, C, T, H, W), float or
uint8, on any device, and return a new tensor of the same shape, dtype and device. Spatial
parameters act on the last two axes, so a clip gets the same operation on every frame.

Two-image operations read their second image from ``source[partner[i]]``; ``source``
defaults to ``x`` itself. A separate ``source`` lets a policy transform a subset of a batch
while pairing with any sample of the full batch.

Example:
    >>> import torch
    >>> from nda_core import functional as F
    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> F.jigsaw(x, torch.tensor([[3, 2, 1, 0]]), k=2)[0, 0]
    tensor([[10., 11.,  8.,  9.],
            [14., 15., 12., 13.],
            [ 2.,  3.,  0.,  1.],
            [ 6.,  7.,  4.,  5.]])
"""

from __future__ import annotations

from typing import Sequence

import torch

from nda_core._checks import check_batch, spatial_multiple

__all__ = [
    "jigsaw",
    "stitch",
    "stitch_mask",
    "box_mask",
    "cutout",
    "cutmix",
    "mixup",
    "vflip",
    "gaussian_noise",
    "paste_from_partner",
]


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a (B,) tensor so that it broadcasts over every other axis of ``x``."""
    return values.view((x.shape[0],) + (1,) * (x.dim() - 1))


def _check_partner(partner: torch.Tensor, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    if partner.shape != (x.shape[0],):
        raise ValueError(
            f"partner must have shape ({x.shape[0]},), one source index per sample, "
            f"got {tuple(partner.shape)}."
        )
    if source.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"source must hold samples of the same shape as x, got {tuple(source.shape[1:])} "
            f"and {tuple(x.shape[1:])}; pass the batch that x was taken from."
        )
    return partner.to(device=x.device, dtype=torch.long)


def jigsaw(x: torch.Tensor, permutation: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Rearrange the k x k patches of every image (and every frame of every clip).

    Args:
        x: (B, C, H, W) or (B, C, T, H, W); H and W divisible by ``k``.
        permutation: (B, k*k) integer tensor; output patch ``p`` (row-major) of sample ``b``
            is input patch ``permutation[b, p]``.
        k: patches per side.

    Returns:
        Tensor like ``x``. A non-identity permutation changes every image whose patches differ
        from each other (every natural image); an image with repeated patches (a constant
        image, say) can come out unchanged.
    """
    check_batch(x)
    height, width = x.shape[-2:]
    spatial_multiple(height, k, "H")
    spatial_multiple(width, k, "W")
    batch = x.shape[0]
    if permutation.shape != (batch, k * k):
        raise ValueError(
            f"permutation must have shape ({batch}, {k * k}) for k={k}, got {tuple(permutation.shape)}."
        )
    permutation = permutation.to(device=x.device, dtype=torch.long)
    planes = x[0, ..., 0, 0].numel()  # channels (times frames)
    ph, pw = height // k, width // k
    # View every image as rows of pw contiguous pixels indexed (b, plane, patch_row, r, patch_col)
    # and gather whole rows at once: one read and one write of the data. The row index is a
    # per-patch offset (b, patch_row, patch_col) plus a per-row offset (plane, r).
    device = x.device
    patch_rows = (permutation // k).view(batch, 1, k, 1, k)
    patch_cols = (permutation % k).view(batch, 1, k, 1, k)
    sample_rows = planes * height * k  # rows of pw pixels per sample
    per_patch = torch.arange(batch, device=device).view(batch, 1, 1, 1, 1) * sample_rows + patch_rows * (ph * k) + patch_cols
    per_row = (
        torch.arange(planes, device=device).view(1, planes, 1, 1, 1) * (height * k)
        + torch.arange(ph, device=device).view(1, 1, 1, ph, 1) * k
    )
    rows = per_patch + per_row
    flat = x.contiguous().view(-1, pw)
    return flat.index_select(0, rows.reshape(-1)).view(x.shape)


def _stitch_table(height: int, width: int, device: torch.device, keep_own: bool) -> torch.Tensor:
    """(4, H * W) bool masks of the partner's (or the own) pixels for code = 2 * vertical + own_first."""
    rows = (torch.arange(height, device=device) >= height // 2).view(height, 1).expand(height, width)
    cols = (torch.arange(width, device=device) >= width // 2).view(1, width).expand(height, width)
    masks = [rows if vertical else cols for vertical in (False, True) for _ in (False, True)]
    own_first = torch.tensor([False, True, False, True], device=device).view(4, 1, 1)
    take_partner = torch.stack(masks) == own_first
    return (take_partner != keep_own).view(4, height * width)


def _stitch_masks(
    shape: Sequence[int], vertical: torch.Tensor, own_first: torch.Tensor, keep_own: bool, dtype: torch.dtype
) -> torch.Tensor:
    code = vertical.long() * 2 + own_first.long()
    table = _stitch_table(shape[-2], shape[-1], vertical.device, keep_own).to(dtype)
    return table.index_select(0, code).view(-1, shape[-2], shape[-1])


def stitch_mask(shape: Sequence[int], vertical: torch.Tensor, own_first: torch.Tensor) -> torch.Tensor:
    """Boolean (B, H, W) map of the pixels a stitch takes from the partner.

    ``vertical[b]`` False splits the width (left | right), True splits the height
    (top / bottom). The split is at W // 2 (or H // 2). ``own_first[b]`` True keeps the
    sample's own left (or top) part and takes the rest from the partner.
    """
    return _stitch_masks(shape, vertical, own_first, keep_own=False, dtype=torch.bool)


def _box_indicators(shape: Sequence[int], boxes: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Row (B, H, 1) and column (B, 1, W) indicators of every box ``[top, left, h, w]``."""
    height, width = shape[-2:]
    boxes = boxes.long()
    rows = torch.arange(height, device=boxes.device).view(1, height)
    cols = torch.arange(width, device=boxes.device).view(1, width)
    in_rows = (rows >= boxes[:, :1]) & (rows < boxes[:, :1] + boxes[:, 2:3])
    in_cols = (cols >= boxes[:, 1:2]) & (cols < boxes[:, 1:2] + boxes[:, 3:4])
    return in_rows.to(dtype).unsqueeze(2), in_cols.to(dtype).unsqueeze(1)


def box_mask(shape: Sequence[int], boxes: torch.Tensor) -> torch.Tensor:
    """Boolean (B, H, W) map of the box ``[top, left, height, width]`` of every sample."""
    in_rows, in_cols = _box_indicators(shape, boxes, torch.bool)
    return in_rows & in_cols


def _flat(x: torch.Tensor) -> torch.Tensor:
    """View of a contiguous batch as (B, planes, H * W)."""
    return x.view(x.shape[0], -1, x.shape[-2] * x.shape[-1])


def _select(base: torch.Tensor, other: torch.Tensor, take_other: torch.Tensor, inplace: bool) -> torch.Tensor:
    """``where(take_other, other, base)`` without ``torch.where``'s slow broadcasting CPU path.

    ``base``: contiguous (B, P, N); ``other`` broadcasts to it; ``take_other``: (B, 1, N) of
    0 and 1 in ``base``'s dtype. Floats use ``lerp`` with weights 0 and 1, which returns
    either end exactly for finite values; uint8 uses bit masks. ``inplace`` writes into ``base``.
    """
    if base.is_floating_point():
        return base.lerp_(other, take_other) if inplace else torch.lerp(base, other, take_other)
    bits = take_other.neg()  # 0 or all bits set
    diff = torch.bitwise_xor(base, other).bitwise_and_(bits)
    return base.bitwise_xor_(diff) if inplace else torch.bitwise_xor(base, diff)


def _paste(x: torch.Tensor, keep_own: torch.Tensor, partner: torch.Tensor, source: torch.Tensor | None) -> torch.Tensor:
    """``x`` where ``keep_own`` (B, H, W, 0/1 in x's dtype) is 1, else ``source[partner]``."""
    source = x if source is None else source
    partner = _check_partner(partner, x, source)
    out = source.index_select(0, partner)
    _select(_flat(out), _flat(x.contiguous()), keep_own.view(x.shape[0], 1, -1), inplace=True)
    return out


def paste_from_partner(
    x: torch.Tensor, mask: torch.Tensor, partner: torch.Tensor, source: torch.Tensor | None = None
) -> torch.Tensor:
    """Take the pixels where ``mask`` (B, H, W) is True from ``source[partner]``, the rest from ``x``."""
    return _paste(x, mask.to(x.device).logical_not().to(x.dtype), partner, source)


def stitch(
    x: torch.Tensor,
    partner: torch.Tensor,
    vertical: torch.Tensor,
    own_first: torch.Tensor,
    source: torch.Tensor | None = None,
) -> torch.Tensor:
    """Join one half of every sample with the other half of ``source[partner]``.

    Args:
        x: (B, C, H, W) or (B, C, T, H, W).
        partner: (B,) index into ``source`` (default ``x``) of the image giving the other half.
        vertical: (B,) bool; False: left | right halves, True: top / bottom halves.
        own_first: (B,) bool; True keeps the sample's left (top) half.
        source: batch the partner halves come from.
    """
    check_batch(x)
    keep_own = _stitch_masks(x.shape, vertical.to(x.device), own_first.to(x.device), keep_own=True, dtype=x.dtype)
    return _paste(x, keep_own, partner, source)


def _box_sums(x: torch.Tensor, mask_rows: torch.Tensor, mask_cols: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-plane sum of ``x`` over a box given by row and column indicators."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    planes = x[0, ..., 0, 0].numel()
    values = x.reshape(batch, planes * height, width)
    per_row = torch.bmm(values, mask_cols.view(batch, width, 1)).view(batch, planes, height)
    return (per_row * mask_rows.view(batch, 1, height)).sum(-1)


def cutout(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Fill a box of every image (the same box on every frame) with its own mean.

    The fill is the per-channel (and per-frame) mean of the pixels inside the box; for
    uint8 input the mean is rounded to the nearest integer.

    Args:
        x: (B, C, H, W) or (B, C, T, H, W).
        boxes: (B, 4) integer ``[top, left, height, width]``, inside the image.
    """
    check_batch(x)
    boxes = boxes.to(x.device).long()
    # Sum in float32 (float64 for float64 input): 16-bit sums lose precision, uint8 cannot.
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    in_rows, in_cols = _box_indicators(x.shape, boxes, work_dtype)
    sums = _box_sums(x.to(work_dtype), in_rows, in_cols)
    means = sums / (boxes[:, 2] * boxes[:, 3]).to(work_dtype).view(-1, 1)
    if not x.is_floating_point():
        means = means.round()
    fill = means.to(x.dtype).view(x.shape[0], -1, 1)
    in_box = (in_rows * in_cols).to(x.dtype).view(x.shape[0], 1, -1)
    return _select(_flat(x.contiguous()), fill, in_box, inplace=False).view(x.shape)


def cutmix(
    x: torch.Tensor, boxes: torch.Tensor, partner: torch.Tensor, source: torch.Tensor | None = None
) -> torch.Tensor:
    """Replace a box of every sample with the same box of ``source[partner]``.

    Args:
        x: (B, C, H, W) or (B, C, T, H, W).
        boxes: (B, 4) integer ``[top, left, height, width]``.
        partner: (B,) index into ``source`` (default ``x``).
    """
    check_batch(x)
    in_rows, in_cols = _box_indicators(x.shape, boxes.to(x.device), x.dtype)
    keep_own = (in_rows * in_cols).neg_().add_(1)  # 1 - in_box (wraps correctly for uint8 too)
    return _paste(x, keep_own, partner, source)


def mixup(
    x: torch.Tensor, weight: torch.Tensor, partner: torch.Tensor, source: torch.Tensor | None = None
) -> torch.Tensor:
    """Blend every sample with another: ``weight * x + (1 - weight) * source[partner]``.

    Args:
        x: (B, C, H, W) or (B, C, T, H, W).
        weight: (B,) mixing weight of the sample itself, in [0, 1].
        partner: (B,) index into ``source`` (default ``x``).

    uint8 input is blended in float32 and rounded back.
    """
    check_batch(x)
    source = x if source is None else source
    partner = _check_partner(partner, x, source)
    out = source.index_select(0, partner)
    if x.is_floating_point():  # out = other + weight * (x - other)
        return out.lerp_(x, _per_sample(weight.to(x.device, x.dtype), x))
    blended = torch.lerp(out.float(), x.float(), _per_sample(weight.to(x.device, torch.float32), x))
    return blended.round_().to(x.dtype)


def vflip(x: torch.Tensor) -> torch.Tensor:
    """Flip every image (every frame) upside down."""
    check_batch(x)
    return x.flip(-2)


def gaussian_noise(x: torch.Tensor, noise: torch.Tensor, std: float) -> torch.Tensor:
    """Add ``std * noise`` to ``x``; for uint8 ``std`` is scaled by 255 and the result clamped.

    ``noise`` has the shape of ``x`` or, for clips, (B, C, 1, H, W): one field on every frame.
    """
    check_batch(x)
    if torch.broadcast_shapes(noise.shape, x.shape) != x.shape or noise.dim() != x.dim():
        raise ValueError(
            f"noise must broadcast to the shape of x {tuple(x.shape)} (one field per clip may have T=1), "
            f"got {tuple(noise.shape)}."
        )
    if x.is_floating_point():
        return torch.add(x, noise.to(x.device, x.dtype), alpha=std)
    noisy = x.float() + (255.0 * std) * noise.to(x.device, torch.float32)
    return noisy.round_().clamp_(0, 255).to(x.dtype)
