"""The fast paths of ``nda_core.functional`` give bit-identical outputs to per-sample loops.

The vectorised NDAs take shortcuts for speed (stitch gathers half rows when W is even and the
partners come from the batch itself; jigsaw gathers patch rows through a matrix product on the
CPU). Every shortcut is a copy of input pixels, so its output must equal, bit for bit, a frozen
per-sample reference written with slicing, on random parameters, images and clips, float and
uint8, and whichever path a call takes (even and odd widths, with and without ``source``).
"""

from __future__ import annotations

import pytest
import torch

import nda_core
from nda_core import functional as F

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.uint8]
#: images and clips; even widths take stitch's half-row gather (odd heights too), odd ones its masked blend
SHAPES = [(6, 3, 8, 10), (4, 3, 9, 12), (5, 1, 7, 9), (4, 2, 3, 6, 8), (3, 3, 2, 5, 7), (16, 3, 32, 32)]
DRAWS = 6


def _batch(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


def _draws(name: str, shape: tuple[int, ...]) -> list[dict]:
    nda = nda_core.build(name)
    return [nda.draw_params(shape, torch.Generator().manual_seed(seed)) for seed in range(DRAWS)]


def loop_stitch(x: torch.Tensor, partner, vertical, own_first, source: torch.Tensor) -> torch.Tensor:
    height, width = x.shape[-2:]
    out = x.clone()
    for i in range(x.shape[0]):
        other = source[int(partner[i])]
        if bool(vertical[i]):
            rows = slice(height // 2, height) if bool(own_first[i]) else slice(0, height // 2)
            out[i, ..., rows, :] = other[..., rows, :]
        else:
            cols = slice(width // 2, width) if bool(own_first[i]) else slice(0, width // 2)
            out[i, ..., :, cols] = other[..., :, cols]
    return out


def loop_cutmix(x: torch.Tensor, boxes, partner, source: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(x.shape[0]):
        top, left, h, w = (int(v) for v in boxes[i])
        out[i, ..., top : top + h, left : left + w] = source[int(partner[i])][..., top : top + h, left : left + w]
    return out


def loop_jigsaw(x: torch.Tensor, permutation, k: int) -> torch.Tensor:
    ph, pw = x.shape[-2] // k, x.shape[-1] // k
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        for p, src in enumerate(permutation[i].tolist()):
            (oi, oj), (si, sj) = divmod(p, k), divmod(src, k)
            out[i, ..., oi * ph : (oi + 1) * ph, oj * pw : (oj + 1) * pw] = x[
                i, ..., si * ph : (si + 1) * ph, sj * pw : (sj + 1) * pw
            ]
    return out


def loop_mixup(x: torch.Tensor, weight, partner, source: torch.Tensor) -> torch.Tensor:
    """``torch.lerp`` sample by sample, the definition the batched call must reproduce exactly."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        other = source[int(partner[i])]
        if x.is_floating_point():
            out[i] = torch.lerp(other, x[i], weight[i].to(x.dtype))
        else:
            out[i] = torch.lerp(other.float(), x[i].float(), weight[i]).round().to(x.dtype)
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_stitch_matches_the_loop_on_both_paths(shape, dtype):
    x = _batch(shape, dtype, 0)
    for params in _draws("stitch", shape):
        p, v, o = params["partner"], params["vertical"], params["own_first"]
        expected = loop_stitch(x, p, v, o, x)
        assert torch.equal(F.stitch(x, p, v, o), expected)  # gather path where W is even
        assert torch.equal(F.stitch(x, p, v, o, source=x.clone()), expected)  # masked path
        assert torch.equal(F.paste_from_partner(x, F.stitch_mask(x.shape, v, o), p), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_stitch_of_a_non_contiguous_batch_and_a_separate_source(dtype):
    source = _batch((6, 3, 10, 8), dtype, 1)
    x = source[::2].transpose(-1, -2)  # (3, 3, 8, 10), not contiguous
    params = nda_core.build("stitch").draw_params(x.shape, torch.Generator().manual_seed(3), source_size=6)
    p, v, o = params["partner"], params["vertical"], params["own_first"]
    wide = source.transpose(-1, -2).contiguous()
    assert torch.equal(F.stitch(x, p, v, o, source=wide), loop_stitch(x, p, v, o, wide))
    own = nda_core.build("stitch").draw_params(x.shape, torch.Generator().manual_seed(4))
    p, v, o = own["partner"], own["vertical"], own["own_first"]
    assert torch.equal(F.stitch(x, p, v, o), loop_stitch(x.contiguous(), p, v, o, x.contiguous()))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cutmix_and_mixup_match_the_loop(shape, dtype):
    x = _batch(shape, dtype, 2)
    for params in _draws("cutmix", shape):
        expected = loop_cutmix(x, params["boxes"], params["partner"], x)
        assert torch.equal(F.cutmix(x, params["boxes"], params["partner"]), expected)
    for params in _draws("mixup", shape):
        expected = loop_mixup(x, params["weight"], params["partner"], x)
        assert torch.equal(F.mixup(x, params["weight"], params["partner"]), expected)


@pytest.mark.parametrize(
    "shape", [s for s in SHAPES if s[-1] % 2 == 0 and s[-2] % 2 == 0], ids=lambda s: "x".join(map(str, s))
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_jigsaw_matches_the_loop(shape, dtype):
    x = _batch(shape, dtype, 4)
    for params in _draws("jigsaw", shape):
        assert torch.equal(F.jigsaw(x, params["permutation"], 2), loop_jigsaw(x, params["permutation"], 2))


@pytest.mark.parametrize("name", ["stitch", "cutmix", "mixup", "jigsaw"])
def test_a_drawn_call_replays_bit_for_bit_through_the_loop(name):
    """The module path (draws without a generator, as training calls it) takes the same fast path."""
    torch.manual_seed(5)
    x = _batch((8, 3, 4, 16, 16), torch.float32, 5)
    out, params = nda_core.build(name)(x, return_params=True)
    expected = {
        "stitch": lambda: loop_stitch(x, params.get("partner"), params.get("vertical"), params.get("own_first"), x),
        "cutmix": lambda: loop_cutmix(x, params.get("boxes"), params.get("partner"), x),
        "mixup": lambda: loop_mixup(x, params.get("weight"), params.get("partner"), x),
        "jigsaw": lambda: loop_jigsaw(x, params.get("permutation"), 2),
    }[name]()
    assert torch.equal(out, expected)


# ---------------------------------------------- the CPU's cache-sized blocks give the same bits
#: shapes whose batch spans more than 8 blocks of 1 kB in every dtype, with a plane of the batch within a
#: block (1 to 8 planes per block); sample sizes that are not multiples of the block alignment leave a
#: short last block for mixup, and odd widths take stitch's masked blend
BLOCKED_SHAPES = [(2, 4, 18, 6, 10), (3, 3, 30, 5, 8), (2, 4, 20, 6, 9), (2, 150, 8, 8)]


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of 1 kB, so that small batches take the blocked path that large CPU batches take."""
    monkeypatch.setattr(F, "_block_bytes", lambda: 1024)


@pytest.mark.parametrize("shape", BLOCKED_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_blocked_mixup_cutmix_and_pastes_match_the_loop(tiny_blocks, shape, dtype):
    x = _batch(shape, dtype, 6)
    source = _batch((2 * shape[0],) + shape[1:], dtype, 7)
    assert F._blocked(x) and F._plane_groups(x)  # the path under test
    nda = {name: nda_core.build(name) for name in ("cutmix", "mixup", "stitch")}
    for seed in range(DRAWS):
        g = torch.Generator().manual_seed(seed)
        for src in (x, source):
            cut = nda["cutmix"].draw_params(shape, g, source_size=src.shape[0])
            mix = nda["mixup"].draw_params(shape, g, source_size=src.shape[0])
            st = nda["stitch"].draw_params(shape, g, source_size=src.shape[0])
            boxes, partner = cut["boxes"], cut["partner"]
            assert torch.equal(F.cutmix(x, boxes, partner, src), loop_cutmix(x, boxes, partner, src))
            weight, partner = mix["weight"], mix["partner"]
            assert torch.equal(F.mixup(x, weight, partner, src), loop_mixup(x, weight, partner, src))
            p, v, o = st["partner"], st["vertical"], st["own_first"]
            assert torch.equal(F.stitch(x, p, v, o, source=src.clone()), loop_stitch(x, p, v, o, src))


def test_a_plane_larger_than_a_block_is_pasted_in_one_piece(tiny_blocks):
    x = _batch((4, 3, 24, 24), torch.float32, 8)  # one plane of the batch: 9 kB
    assert F._blocked(x) and F._plane_groups(x) is None
    params = nda_core.build("cutmix").draw_params(x.shape, torch.Generator().manual_seed(0))
    boxes, partner = params["boxes"], params["partner"]
    assert torch.equal(F.cutmix(x, boxes, partner), loop_cutmix(x, boxes, partner, x))


def loop_cutout(x: torch.Tensor, boxes) -> torch.Tensor:
    """Each box filled with its mean over the box (float64 arithmetic, then x's dtype)."""
    out = x.clone()
    for i in range(x.shape[0]):
        top, left, h, w = (int(v) for v in boxes[i])
        region = x[i, ..., top : top + h, left : left + w]
        out[i, ..., top : top + h, left : left + w] = region.double().mean(dim=(-2, -1), keepdim=True).to(x.dtype)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_cutout_sums_wide_rows_by_rows_and_matches_the_loop(dtype):
    """Rows of 64 pixels or more are summed row by row in a window as tall as the tallest box; boxes
    at the top and the bottom edge and of every height must still sum exactly their own rows."""
    x = _batch((5, 3, 2, 30, 70), dtype, 9)
    assert F._sums_by_rows(x) and not F._sums_by_rows(x[..., :40])
    boxes = torch.tensor([[0, 0, 15, 35], [20, 5, 10, 30], [25, 34, 5, 36], [0, 69, 30, 1], [14, 10, 1, 1]])
    out = F.cutout(x, boxes)
    expected = loop_cutout(x, boxes)
    assert not torch.equal(out, x)
    if dtype == torch.float64:
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    else:
        torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    for b, (top, left, h, w) in enumerate(boxes.tolist()):  # everything outside the box untouched
        outside = torch.ones(30, 70, dtype=torch.bool)
        outside[top : top + h, left : left + w] = False
        assert torch.equal(out[b][..., outside], x[b][..., outside])
