"""On a CUDA device, every transform called without a generator can be captured in a CUDA graph.

``tests/test_core_compile.py`` already runs every transform eagerly and traced (``backend="eager"``)
under ``torch.cuda.set_sync_debug_mode("error")``; ``nda_core.transforms`` also promises that such a
call "can be captured in a CUDA graph". This file checks that promise two ways, for every transform
of ``test_core_compile.SPECS``:

- captured by hand with ``torch.cuda.graph`` (capture fails on any synchronisation or host read),
  then replayed under sync-debug "error": each replay draws new parameters and returns negatives;
- compiled by inductor with CUDA graphs (``mode="reduce-overhead"``), whose steady-state calls run
  under sync-debug "error" and whose output is what ``replay`` of its returned parameters gives.

It also runs the code the adapters wrap around a transform (``nda_views``, DPC's NDA clips) under
sync-debug "error".

The tests need CUDA and are marked ``gpu``; ``benchmarks/gpu_check.sh`` runs them on a GPU.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from test_core_compile import INPUTS, SPECS, _batch, _build, _check_negatives

from nda_core.transforms import nda_views

pytestmark = [
    pytest.mark.gpu,
    # kept beside the marker so the file also skips where the suite's conftest does not skip gpu tests
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA GPU; benchmarks/gpu_check.sh runs it on one"
    ),
]
#: Warm-up calls before the checked ones: cudagraph trees record on the second or third call.
WARMUP_CALLS = 3
CHECKED_CALLS = 2
#: Inputs compiled by inductor: one each (an inductor compile takes seconds; gpu_check.sh has two minutes).
INDUCTOR_INPUTS = ("image-float",)
#: Inductor may fuse mixup / noise arithmetic differently from the eager replay.
FLOAT_TOLERANCE = 1e-5
UINT8_TOLERANCE = 1


class _SyncErrors:
    """``torch.cuda.set_sync_debug_mode("error")`` for the ``with`` block, the previous mode after it."""

    def __enter__(self) -> None:
        self.previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc) -> None:
        torch.cuda.set_sync_debug_mode(self.previous)


def _cloned(tree):
    """A copy of every tensor in ``tree``: a graph's outputs are overwritten by its next replay."""
    return torch.utils._pytree.tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, tree)


def _close(replayed: torch.Tensor, out: torch.Tensor) -> bool:
    if out.dtype == torch.uint8:
        return (replayed.int() - out.int()).abs().max().item() <= UINT8_TOLERANCE
    return torch.allclose(replayed, out, atol=FLOAT_TOLERANCE, rtol=0)


@pytest.fixture(scope="module", autouse=True)
def enough_recompiles():
    from torch._dynamo import config

    with config.patch(recompile_limit=256, accumulated_recompile_limit=1024):
        yield


@pytest.mark.parametrize("name", list(SPECS))
def test_eager_call_is_captured_in_a_cuda_graph_and_replays_new_draws(name):
    torch.zeros(1, device="cuda")
    for kind in INPUTS:
        x = _batch(kind, "cuda")
        t = _build(name, kind, "cuda")
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graph asks
            for _ in range(WARMUP_CALLS):
                t(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):  # raises on a synchronisation or host read during capture
            out, params = t(x, return_params=True)
        outputs = []
        with _SyncErrors():
            for _ in range(CHECKED_CALLS):
                graph.replay()
                outputs.append(_cloned((out, params)))
        for replayed_out, replayed_params in outputs:
            _check_negatives(name, x, replayed_out, replayed_params)
            assert torch.equal(t.replay(x, replayed_params), replayed_out), (
                f"{name} on {kind}: graph output is not its own draw"
            )
        if name not in ("vflip",):  # vflip draws nothing
            assert not torch.equal(outputs[0][0], outputs[1][0]), f"{name} on {kind}: every graph replay drew the same"


@pytest.mark.parametrize("name", list(SPECS))
def test_inductor_with_cuda_graphs_never_synchronises(name):
    torch.zeros(1, device="cuda")
    for kind in INDUCTOR_INPUTS:
        x = _batch(kind, "cuda")
        t = _build(name, kind, "cuda")
        compiled = torch.compile(t, fullgraph=True, mode="reduce-overhead", dynamic=False)
        for _ in range(WARMUP_CALLS):  # compile, warm up and record outside the checked region
            compiled(x, return_params=True)
        results = []
        with _SyncErrors():
            for _ in range(CHECKED_CALLS):
                out, params = compiled(x, return_params=True)
                results.append(_cloned((out, params)))
        for out, params in results:
            assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
            _check_negatives(name, x, out, params)
            assert _close(t.replay(x, params), out), f"{name} on {kind}: compiled output is not the replay of its draw"


@pytest.mark.parametrize("name", ["jigsaw-k2", "stitch", "cutmix", "mixup", "mixture"])
def test_adapters_nda_images_never_synchronise(name):
    """The code the adapters wrap around a transform: ``nda_views`` (mmselfsup and lightly MoCo) and
    DPC's NDA clips and their negative vectors, all on the batch's device."""
    from video_dpc import DPCNegatives

    torch.zeros(1, device="cuda")
    query, key = _batch("image-float", "cuda"), _batch("image-float", "cuda", seed=1)
    nda = _build(name, "image-float", "cuda")
    blocks = torch.rand(2, 6, 1, 4, 12, 12, device="cuda")  # (B, N, C, T, H, W)
    negatives = DPCNegatives(SPECS[name], vectors=3)
    features = torch.rand(2, 2, 8, 2, 2, device="cuda")  # (clips * B, n, D, H', W') of 2 target blocks
    for checked in (False, True):  # the first call makes shape-only constants, like a training loop's first step
        with _SyncErrors() if checked else contextlib.nullcontext():
            views = nda_views(nda, [query, key], 2)
            clips = negatives.make_clips(blocks, 2)
            vectors = negatives.vectors_of(features, 2)
    assert views.shape == (2 * query.shape[0], *query.shape[1:]) and views.device == query.device
    assert not torch.equal(views[: query.shape[0]], query) and not torch.equal(views[query.shape[0] :], key)
    assert clips.shape == (2, 2, 1, 4, 12, 12) and clips.device == blocks.device
    assert vectors.shape == (2, 3, 8) and vectors.device == features.device
