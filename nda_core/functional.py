"""Pure NDA operations: no randomness, every parameter is an argument.

All functions take a batch ``x`` of images (B, C, H, W) or clips (B, C, T, H, W), float or
uint8, on any device, and return a new tensor of the same shape, dtype and device. Spatial
parameters act on the last two axes, so a clip gets the same operation on every frame.

Two-image operations read their second image from ``source[partner[i]]``; ``source``
defaults to ``x`` itself. A separate ``source`` lets a policy transform a subset of a batch
while pairing with any sample of the full batch.

Every function is a fixed sequence of tensor operations on ``x``'s device: no value is read
on the host and no Python branch depends on one, so all of them trace with
``torch.compile(fullgraph=True)`` and never synchronise a GPU. Parameters on another device
are copied to ``x``'s device first. Only in eager mode on a CPU, large batches take faster
paths with the same results: mixup and the pastes (cutmix, stitch from a ``source``) run in
cache-sized blocks, and cutout reads the height of its tallest box to sum only box rows.

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

from collections.abc import Callable, Sequence
from typing import Any

import torch

from nda_core._checks import check_batch, spatial_multiple
from nda_core.errors import UsageError

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

# Index maps and masks that depend only on shapes are kept for reuse (a few kB each).
_CONSTANTS: dict[tuple[Any, ...], Any] = {}
_CONSTANTS_MAX = 64
_HALVES = 2  # a stitch joins two halves
#: On a CPU, the two-step NDAs (gather then blend: mixup, cutmix, stitch with a source; box mean then
#: fill: cutout) run block by block over a large batch: each block (about this many bytes of the batch per
#: intra-op thread) is still in the cores' L2 caches when the second step reads it, so the batch crosses
#: memory once.
_BLOCK_BYTES = 512 * 1024
#: Block edges fall on multiples of this many elements, where a whole-batch kernel's SIMD loop also
#: has them: each element goes through the same vector (or scalar tail) code, so results are unchanged.
_BLOCK_ALIGN = 1024
_BLOCKED_MIN_BLOCKS = 8
#: Images at least this wide have cutout's box sums gathered row by row on a CPU.
_ROW_SUM_MIN_WIDTH = 64


def _constant(key: tuple[Any, ...], device: torch.device, make: Callable[[], Any]) -> Any:
    """``make()``, tensors on ``device`` that depend only on ``key`` (shapes), cached in eager mode.

    Made afresh (not cached) while ``torch.compile`` traces, so that it becomes part of the graph,
    and while a CUDA graph is being captured, whose memory pool must not back a cached tensor.
    """
    if torch.compiler.is_compiling() or (device.type == "cuda" and torch.cuda.is_current_stream_capturing()):
        return make()
    key = key + (device,)
    value = _CONSTANTS.get(key)
    if value is None:
        if len(_CONSTANTS) >= _CONSTANTS_MAX:
            _CONSTANTS.clear()
        with torch.inference_mode(False), torch.no_grad():  # usable inside and outside inference mode
            value = _CONSTANTS[key] = make()
    return value


def _block_bytes() -> int:
    """Bytes of the batch per block: ``_BLOCK_BYTES`` per intra-op thread (each thread has its own L2)."""
    return _BLOCK_BYTES * torch.get_num_threads()


def _blocked(x: torch.Tensor) -> bool:
    """Whether ``x`` is processed in cache-sized blocks: eager mode on a CPU, batches of more than
    ``_BLOCKED_MIN_BLOCKS`` blocks (a smaller batch is cheaper in one piece than in blocks)."""
    return (
        x.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and x.numel() * x.element_size() > _BLOCKED_MIN_BLOCKS * _block_bytes()
    )


def _block_edges(size: int, width: int) -> list[int]:
    """Inner edges that cut ``range(size)`` into pieces of ``width`` (the last one shorter)."""
    return list(range(width, size, width))


def _column_blocks(rows: int, columns: int, element_size: int) -> list[int]:
    """Inner edges of column blocks of a (rows, columns) batch: about ``_BLOCK_BYTES`` each, aligned."""
    width = max(_BLOCK_ALIGN, _block_bytes() // (rows * element_size) // _BLOCK_ALIGN * _BLOCK_ALIGN)
    return _block_edges(columns, width)


def _plane_groups(x: torch.Tensor) -> list[int] | None:
    """Edges of blocks of whole planes (channels, frames) of a batch, about ``_BLOCK_BYTES`` per thread
    each; None when one plane of the whole batch is larger than a block (then no blocks)."""
    plane_bytes, block_bytes = x.shape[0] * x.shape[-2] * x.shape[-1] * x.element_size(), _block_bytes()
    return _block_edges(_planes(x), block_bytes // plane_bytes) if plane_bytes <= block_bytes else None


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a (B,) tensor so that it broadcasts over every other axis of ``x``."""
    return values.view((x.shape[0],) + (1,) * (x.dim() - 1))


def _check_partner(partner: torch.Tensor, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    if partner.shape != (x.shape[0],):
        raise UsageError(
            f"partner must have shape ({x.shape[0]},), one source index per sample, got {tuple(partner.shape)}."
        )
    if source.shape[1:] != x.shape[1:]:
        raise UsageError(
            f"source must hold samples of the same shape as x, got {tuple(source.shape[1:])} "
            f"and {tuple(x.shape[1:])}; pass the batch that x was taken from."
        )
    return partner.to(device=x.device, dtype=torch.long)


def _planes(x: torch.Tensor) -> int:
    """Channels (times frames) of every sample."""
    return x[0, ..., 0, 0].numel()


def _jigsaw_row_offsets(k: int, planes: int, height: int, device: torch.device) -> torch.Tensor:
    """(planes, k * ph * k): offset of every output row of a sample, in the order (i, r, j)."""
    ph = height // k
    per_plane = torch.arange(planes, device=device).view(planes, 1, 1, 1) * (height * k)
    per_row = torch.arange(ph, device=device).view(1, 1, ph, 1) * k
    return (per_plane + per_row).expand(planes, k, ph, k).reshape(planes, k * ph * k)


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
    spatial_multiple(height, k, "H", x.shape)
    spatial_multiple(width, k, "W", x.shape)
    batch = x.shape[0]
    if permutation.shape != (batch, k * k):
        raise UsageError(f"permutation must have shape ({batch}, {k * k}) for k={k}, got {tuple(permutation.shape)}.")
    permutation = permutation.to(device=x.device, dtype=torch.long)
    planes, ph, pw = _planes(x), height // k, width // k
    # View every sample as rows of pw contiguous pixels indexed (plane, patch_row i, r, patch_col j)
    # and gather whole rows at once: one read and one write of the data. Output row (i, r, j) of
    # sample b is input row  b * rows + plane * H * k + (si * ph + r) * k + sj  with
    # (si, sj) = divmod(permutation[b, i * k + j], k): a per-patch part (b, i, j) plus a per-row
    # part (plane, r) that depends only on the shape.
    sample_rows = planes * height * k
    per_patch = permutation + (permutation // k) * (ph * k - k)  # si * ph * k + sj, (B, k*k)
    if x.device.type == "cpu":
        rows = _jigsaw_rows_by_matmul(per_patch, k, planes, height, sample_rows)
    else:
        rows = _jigsaw_rows(per_patch, k, planes, height, sample_rows)
    return x.contiguous().view(-1, pw).index_select(0, rows).view(x.shape)


def _jigsaw_rows(per_patch: torch.Tensor, k: int, planes: int, height: int, sample_rows: int) -> torch.Tensor:
    """Input row of every output row, in integers: the per-patch offset spread over its rows."""
    batch, ph = per_patch.shape[0], height // k
    first_row = torch.arange(0, batch * sample_rows, sample_rows, device=per_patch.device).view(batch, 1)
    spread = (per_patch + first_row).view(batch, k, 1, k).expand(batch, k, ph, k).reshape(batch, 1, k * ph * k)
    per_row = _constant(
        ("jigsaw", k, planes, height),
        per_patch.device,
        lambda: _jigsaw_row_offsets(k, planes, height, per_patch.device),
    )
    return (spread + per_row).view(-1)


def _jigsaw_spread(k: int, planes: int, height: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(k*k + 1, rows) float64 map from [per-patch offsets, first row] to every row of a sample, and
    the (rows,) per-row offsets: ``rows = [per_patch, first_row] @ map + offsets``."""
    ph = height // k
    patch_of_row = torch.arange(k, device=device).view(k, 1, 1) * k + torch.arange(k, device=device).view(1, 1, k)
    patch_of_row = patch_of_row.expand(k, ph, k).reshape(1, -1).repeat(1, planes)  # (1, rows): patch i*k+j
    spread = patch_of_row == torch.arange(k * k, device=device).view(k * k, 1)
    spread = torch.cat([spread, torch.ones_like(spread[:1])]).to(torch.float64)
    return spread, _jigsaw_row_offsets(k, planes, height, device).reshape(-1).to(torch.float64)


def _jigsaw_rows_by_matmul(per_patch: torch.Tensor, k: int, planes: int, height: int, sample_rows: int) -> torch.Tensor:
    """``_jigsaw_rows`` as one small float64 matrix product, which spreads the offsets over the rows
    about twice as fast on a CPU. Exact: every value is an integer far below 2**53, and float64
    products are untouched by the TF32 / bfloat16 settings of float32 matmuls."""
    batch, device = per_patch.shape[0], per_patch.device
    spread, per_row = _constant(
        ("jigsaw-spread", k, planes, height), device, lambda: _jigsaw_spread(k, planes, height, device)
    )
    first_row = torch.arange(0, batch * sample_rows, sample_rows, device=device, dtype=torch.float64).view(batch, 1)
    rows = torch.addmm(per_row, torch.cat([per_patch.to(torch.float64), first_row], dim=1), spread)
    return rows.to(torch.int32 if batch * sample_rows < 2**31 else torch.long).view(-1)


def _stitch_keep_table(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(4, H * W): 1 where a stitch keeps the sample's own pixel, row ``2 * vertical + own_first``."""
    second_rows = (torch.arange(height, device=device) >= height // 2).view(height, 1).expand(height, width)
    second_cols = (torch.arange(width, device=device) >= width // 2).view(1, width).expand(height, width)
    # own_first False keeps the second part (right or bottom), True keeps the first part
    table = torch.stack([second_cols, ~second_cols, second_rows, ~second_rows])
    return table.to(dtype).view(4, height * width)


def _stitch_keep(
    shape: Sequence[int], vertical: torch.Tensor, own_first: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """(B, H * W) in ``dtype``: 1 where the sample keeps its own pixel."""
    height, width, device = shape[-2], shape[-1], vertical.device
    table = _constant(
        ("stitch", height, width, dtype), device, lambda: _stitch_keep_table(height, width, device, dtype)
    )
    return table.index_select(0, vertical.long() * 2 + own_first.long())


def stitch_mask(shape: Sequence[int], vertical: torch.Tensor, own_first: torch.Tensor) -> torch.Tensor:
    """Boolean (B, H, W) map of the pixels a stitch takes from the partner.

    ``vertical[b]`` False splits the width (left | right), True splits the height
    (top / bottom). The split is at W // 2 (or H // 2). ``own_first[b]`` True keeps the
    sample's own left (or top) part and takes the rest from the partner.
    """
    keep = _stitch_keep(shape, vertical, own_first.to(vertical.device), torch.bool)
    return keep.logical_not().view(-1, shape[-2], shape[-1])


def _box_inside(
    shape: Sequence[int], boxes: torch.Tensor, dtype: torch.dtype, outside: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row (B, H, 1) and column (B, 1, W) indicators in ``dtype`` of the box ``[top, left, h, w]``
    of every sample (of everything outside it if ``outside``)."""
    height, width = shape[-2:]
    boxes = boxes.long()
    size, device = max(height, width), boxes.device
    position = _constant(("positions", size), device, lambda: torch.arange(size, device=device))
    offset = position - boxes[:, :2].unsqueeze(2)  # (B, 2, size): rows, columns
    inside = (offset >= 0) & (offset < boxes[:, 2:].unsqueeze(2))
    flags = (inside.logical_not_() if outside else inside).to(dtype)
    return flags[:, 0, :height].unsqueeze(2), flags[:, 1, :width].unsqueeze(1)


def box_mask(shape: Sequence[int], boxes: torch.Tensor) -> torch.Tensor:
    """Boolean (B, H, W) map of the box ``[top, left, height, width]`` of every sample."""
    in_rows, in_cols = _box_inside(shape, boxes, torch.bool)
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
    """``x`` where ``keep_own`` (B, H * W, 0/1 in x's dtype) is 1, else ``source[partner]``."""
    source = x if source is None else source
    partner = _check_partner(partner, x, source)
    keep_own = keep_own.view(x.shape[0], 1, -1)
    edges = _plane_groups(x) if _blocked(x) else None
    if edges is not None:  # per block of planes: the partners' pixels, then the sample's own where kept, while in cache
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        blocks = (_flat(t).tensor_split(edges, dim=1) for t in (out, x.contiguous(), source.contiguous()))
        for out_block, own, other in zip(*blocks):
            torch.index_select(other, 0, partner, out=out_block)
            _select(out_block, own, keep_own, inplace=True)
        return out
    out = source.index_select(0, partner).view(x.shape)  # a new contiguous batch
    _select(_flat(out), _flat(x.contiguous()), keep_own, inplace=True)
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

    Every output pixel is a pixel of ``x`` or of ``source[partner]``, copied unchanged: for an even
    W and partners from ``x`` itself, as one gather of half rows (one read and one write of the data).
    """
    check_batch(x)
    if (source is None or source is x) and x.shape[-1] % _HALVES == 0:
        return _stitch_by_rows(x, _check_partner(partner, x, x), vertical.to(x.device), own_first.to(x.device))
    keep_own = _stitch_keep(x.shape, vertical.to(x.device), own_first.to(x.device), x.dtype)
    return _paste(x, keep_own, partner, source)


def _stitch_unit_keep_table(height: int, device: torch.device) -> torch.Tensor:
    """(4, H * 2) bool: 1 where a stitch keeps the sample's own half row ``(r, half)``, row
    ``2 * vertical + own_first`` (the half-row version of :func:`_stitch_keep_table`)."""
    second_rows = (torch.arange(height, device=device) >= height // 2).view(height, 1).expand(height, _HALVES)
    second_cols = (torch.arange(_HALVES, device=device) >= 1).view(1, _HALVES).expand(height, _HALVES)
    return torch.stack([second_cols, ~second_cols, second_rows, ~second_rows]).reshape(4, height * _HALVES)


def _stitch_by_rows(
    x: torch.Tensor, partner: torch.Tensor, vertical: torch.Tensor, own_first: torch.Tensor
) -> torch.Tensor:
    """:func:`stitch` of a batch with even W as one gather of half rows (W // 2 contiguous pixels):
    every output half row is the half row at the same place of the sample or of its partner, so
    the data is read and written once, whatever the dtype."""
    batch, height, device = x.shape[0], x.shape[-2], x.device
    units = height * _HALVES  # half rows per plane
    sample_units = _planes(x) * units
    table = _constant(("stitch-units", height), device, lambda: _stitch_unit_keep_table(height, device))
    own_start, unit_offsets = _constant(
        ("stitch-offsets", batch, _planes(x), height),
        device,
        lambda: (
            torch.arange(0, batch * sample_units, sample_units, device=device).view(batch, 1),
            torch.arange(sample_units, device=device).view(1, _planes(x), units),
        ),
    )
    keep = table.index_select(0, vertical.long() * 2 + own_first.long())  # (B, units)
    start = torch.where(keep, own_start, partner.view(batch, 1) * sample_units)  # first half row of the source sample
    rows = (start.view(batch, 1, units) + unit_offsets).view(-1)
    return x.contiguous().view(-1, x.shape[-1] // _HALVES).index_select(0, rows).view(x.shape)


def _box_sums(flat: torch.Tensor, in_box: torch.Tensor) -> torch.Tensor:
    """(B, planes) sums over the box: exact integers for uint8, float32 or wider for floats."""
    if not flat.is_floating_point():
        return (flat * in_box).sum(-1)  # 0/1 mask: the product cannot overflow; int64 sums
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        # one batched matrix-vector product reads the batch once; kept off GPUs, where matmuls
        # may run in TF32 (torch.set_float32_matmul_precision) and lose the sums' precision
        return torch.bmm(flat, in_box.transpose(1, 2)).squeeze(2)
    wide = torch.float64 if flat.dtype == torch.float64 else torch.float32
    return (flat * in_box).sum(-1, dtype=wide)


def _sums_by_rows(x: torch.Tensor) -> bool:
    """Whether :func:`cutout` sums its boxes row by row: eager mode on a CPU, float32/64, rows of at
    least ``_ROW_SUM_MIN_WIDTH`` pixels (narrower rows cost more per row than a pass over the batch)."""
    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.shape[-1] >= _ROW_SUM_MIN_WIDTH
        and not torch.compiler.is_compiling()
    )


def _box_sums_by_rows(x: torch.Tensor, boxes: torch.Tensor, in_cols: torch.Tensor) -> torch.Tensor:
    """(B, planes) sums over the box of a contiguous batch that read only rows of the boxes.

    Every (sample, plane) adds a window of whole rows, as tall as the tallest box and holding its own
    box's rows (the others weigh 0), in one ``embedding_bag``, which gathers and adds rows without
    copying them; the (B, planes, W) row sums then meet the column indicator ``in_cols`` (B, 1, W).
    The window's height is read on the host: this path runs in eager mode on a CPU only.
    """
    batch, planes, (height, width) = x.shape[0], _planes(x), x.shape[-2:]
    top, box_height = boxes[:, 0:1], boxes[:, 2:3]
    window = int(box_height.max())
    rows = top.clamp(max=height - window) + torch.arange(window, device=x.device)  # (B, window), inside the image
    weights = ((rows >= top) & (rows < top + box_height)).to(x.dtype)
    first_rows = torch.arange(0, batch * planes * height, height, device=x.device).view(batch, planes, 1)
    indices = (first_rows + rows.view(batch, 1, window)).view(-1)
    row_sums = torch.nn.functional.embedding_bag(
        indices,
        x.view(-1, width),
        torch.arange(0, indices.numel(), window, device=x.device),
        mode="sum",
        per_sample_weights=weights.view(batch, 1, window).expand(batch, planes, window).reshape(-1),
    )
    return torch.bmm(row_sums.view(batch, planes, width), in_cols.view(batch, width, 1)).squeeze(2)


def cutout(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Fill a box of every image (the same box on every frame) with its own mean.

    The fill is the per-channel (and per-frame) mean of the pixels inside the box; for
    uint8 input the mean is rounded to the nearest integer.

    Args:
        x: (B, C, H, W) or (B, C, T, H, W).
        boxes: (B, 4) integer ``[top, left, height, width]``, inside the image.
    """
    check_batch(x)
    boxes = boxes.to(device=x.device, dtype=torch.long)
    in_rows, in_cols = _box_inside(x.shape, boxes, x.dtype)
    in_box = (in_rows * in_cols).view(x.shape[0], 1, -1)  # one pass over (B, H, W)
    flat = _flat(x.contiguous())
    area = boxes[:, 2:3] * boxes[:, 3:4]
    sums = _box_sums_by_rows(flat.view(x.shape), boxes, in_cols) if _sums_by_rows(x) else _box_sums(flat, in_box)
    if x.is_floating_point():
        means = sums / area.to(sums.dtype)
    else:  # round the exact mean: integer division of exact sums in float64 (float32 on MPS)
        wide = torch.float32 if x.device.type == "mps" else torch.float64
        means = (sums.to(wide) / area.to(wide)).round_()
    fill = means.to(x.dtype).unsqueeze(2)  # (B, planes, 1)
    return _select(flat, fill, in_box, inplace=False).view(x.shape)


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
    out_rows, out_cols = _box_inside(x.shape, boxes.to(x.device), x.dtype, outside=True)
    keep_own = torch.maximum(out_rows, out_cols)  # outside the box
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
    if x.is_floating_point() and _blocked(x):  # per block: the partners' pixels, then the blend, while in cache
        batch = x.shape[0]
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        weight = weight.to(x.device, x.dtype).view(batch, 1)
        rows = (out.view(batch, -1), x.contiguous().view(batch, -1), source.contiguous().view(source.shape[0], -1))
        edges = _column_blocks(batch, rows[0].shape[1], x.element_size())
        for out_block, own, other in zip(*(t.tensor_split(edges, dim=1) for t in rows)):
            torch.index_select(other, 0, partner, out=out_block)
            out_block.lerp_(own, weight)
        return out
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
        raise UsageError(
            f"noise must broadcast to the shape of x {tuple(x.shape)} (one field per clip may have T=1), "
            f"got {tuple(noise.shape)}."
        )
    if x.is_floating_point():
        return torch.add(x, noise.to(x.device, x.dtype), alpha=std)
    noisy = x.float() + (255.0 * std) * noise.to(x.device, torch.float32)
    return noisy.round_().clamp_(0, 255).to(x.dtype)
