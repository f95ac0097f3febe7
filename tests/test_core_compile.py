"""Transforms called without a generator compile with fullgraph=True and never read a value on the host.

On the CPU every transform is traced with ``torch.compile(fullgraph=True, backend="eager")``
(a graph break, a host read or a Python branch on a tensor value fails the trace) and run
under a dispatch mode that records every aten op: none may read a tensor value on the host
(``.item()``, ``bool(t)``), make a data-dependent shape (``nonzero``) or build a tensor from
Python data (a host-to-device copy on a GPU). On a CUDA device every transform also runs
under ``torch.cuda.set_sync_debug_mode("error")``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import nda_core
from nda_core import transforms as T

BANK_SIZE = 12
SPATIAL = 12  # divisible by 2 and 3 (jigsaw k=2 and k=3)
INPUTS = {  # name: (shape, dtype)
    "image-float": ((6, 3, SPATIAL, SPATIAL), torch.float32),
    "image-uint8": ((6, 3, SPATIAL, SPATIAL), torch.uint8),
    "clip-float": ((4, 3, 3, SPATIAL, SPATIAL), torch.float32),
    "clip-uint8": ((4, 3, 3, SPATIAL, SPATIAL), torch.uint8),
}
SPECS: dict[str, Any] = {
    "jigsaw-k2": {"type": "jigsaw", "k": 2},
    "jigsaw-k3": {"type": "jigsaw", "k": 3},
    "stitch": "stitch",
    "cutout": "cutout",
    "cutmix": "cutmix",
    "mixup": "mixup",
    "vflip": "vflip",
    "noise": "noise",
    "mixture": {"type": "mixture", "transforms": ["jigsaw", "stitch", "mixup"]},
    "noisy": {"type": "noisy", "nda": "stitch", "p_clean": 0.3},
    "other_dataset": "other_dataset",
    "other_classes": "other_classes",
}
# Ops that read a value on the host, give a data-dependent shape, or build a tensor from Python data.
HOST_OPS = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique", "_unique2", "lift_fresh")


def _batch(kind: str, device: str = "cpu", seed: int = 0) -> torch.Tensor:
    shape, dtype = INPUTS[kind]
    g = torch.Generator().manual_seed(seed)
    x = (
        torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        if dtype == torch.uint8
        else torch.rand(shape, generator=g)
    )
    return x.to(device)


def _build(name: str, kind: str, device: str = "cpu") -> nda_core.NDATransform:
    spec = SPECS[name]
    if name in ("other_dataset", "other_classes"):
        bank = torch.cat([_batch(kind, device, seed) for seed in (1, 2)])[:BANK_SIZE]
        spec = {"type": name, "images": bank}
        if name == "other_classes":
            spec.update(labels=torch.arange(bank.shape[0]) % 3, classes=[0])
    return nda_core.build(spec)


@pytest.fixture(scope="module", autouse=True)
def enough_recompiles():
    """Every transform shares NDATransform.forward: each (transform, input) is one cache entry."""
    from torch._dynamo import config

    with config.patch(recompile_limit=256, accumulated_recompile_limit=1024):
        yield


def _check_negatives(name: str, x: torch.Tensor, out: torch.Tensor, params: dict) -> None:
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    changed = (out != x).flatten(1).any(1)
    if name == "noisy":
        assert torch.equal(changed, ~params["clean"].to(x.device))
    else:
        assert changed.all(), f"{name}: some samples came out unchanged"


@pytest.mark.parametrize("name", list(SPECS))
def test_every_transform_traces_with_fullgraph_on_images_and_clips(name):
    for kind in INPUTS:
        x = _batch(kind)
        t = _build(name, kind)
        compiled = torch.compile(t, fullgraph=True, backend="eager", dynamic=False)
        out, params = compiled(x, return_params=True)
        _check_negatives(name, x, out, params)
        assert torch.equal(t.replay(x, params), out), f"{name} on {kind}: eager replay differs from the compiled call"


@pytest.mark.parametrize("name", ["stitch", "cutout", "cutmix", "mixup", "vflip", "noise", "noisy", "other_dataset"])
def test_compiled_transforms_accept_a_changing_batch_size(name):
    """A last, smaller batch makes torch.compile retrace with symbolic sizes: that must trace too."""
    t = _build(name, "image-float")
    compiled = torch.compile(t, fullgraph=True, backend="eager")
    for batch in (6, 5, 4):
        x = _batch("image-float")[:batch]
        assert compiled(x).shape == x.shape


@pytest.mark.parametrize("name", ["jigsaw-k2", "jigsaw-k3", "mixture"])
def test_compiled_jigsaw_and_mixture_accept_a_changing_batch_size(name):
    t = _build(name, "image-float")
    compiled = torch.compile(t, fullgraph=True, backend="eager")
    for batch in (6, 5):
        assert compiled(_batch("image-float")[:batch]).shape[0] == batch


class _HostOps(TorchDispatchMode):
    """Records the aten ops that would read a value on the host or copy Python data to the device."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if any(f"aten.{op}." in name or name.startswith(f"aten.{op}") for op in HOST_OPS):
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", list(SPECS))
def test_no_host_reads_without_a_generator(name, monkeypatch):
    """The ops a GPU call would run: on the CPU policies may use subsets (nonzero), on a GPU they may not."""
    monkeypatch.setattr(T, "_by_subsets", lambda x: False)
    for kind in ("image-float", "clip-uint8"):
        x = _batch(kind)
        t = _build(name, kind)
        t(x)  # shape-only constants are made and cached on the first call: check the second too
        for _ in range(2):
            with _HostOps() as recorder:
                out, params = t(x, return_params=True)
            assert recorder.seen == [], f"{name} on {kind} runs {recorder.seen}"
            _check_negatives(name, x, out, params)


@pytest.mark.parametrize("name", list(SPECS))
def test_parameters_are_drawn_on_the_batch_device_without_a_generator(name):
    """The meta device stands in for a GPU: a draw that fell back to the CPU would show here."""
    x = _batch("image-float")
    params = _build(name, "image-float").draw_params(x.shape, None, device=torch.device("meta"))
    bank_device = torch.device("cpu")  # bank NDAs draw their picks where their bank lives
    expected = bank_device if name in ("other_dataset", "other_classes") else torch.device("meta")
    for value in torch.utils._pytree.tree_leaves(params):
        if isinstance(value, torch.Tensor):
            assert value.device == expected, f"{name} drew {tuple(value.shape)} on {value.device}"


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(SPECS))
def test_cuda_calls_never_synchronise(name):
    torch.zeros(1, device="cuda")  # create the context outside the checked region
    for kind in INPUTS:
        x = _batch(kind, "cuda")
        t = _build(name, kind, "cuda")
        compiled = torch.compile(t, fullgraph=True, backend="eager", dynamic=False)
        compiled(x)  # trace outside the checked region; the traced graph runs inside it
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            out, params = t(x, return_params=True)
            replayed = t.replay(x, params)
            compiled_out = compiled(x)
        finally:
            torch.cuda.set_sync_debug_mode(previous)
        for value in torch.utils._pytree.tree_leaves(params):
            if isinstance(value, torch.Tensor) and name not in ("other_dataset", "other_classes"):
                assert value.device == x.device
        assert torch.equal(replayed, out) and compiled_out.shape == x.shape
        _check_negatives(name, x, out, params)
