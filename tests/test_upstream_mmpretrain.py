"""``upstream/mmpretrain``: the mmpretrain 1.2.0 pull request applies, its tests pass, and it equals mmselfsup_nda.

The series is applied to a copy of the installed mmpretrain (identical to the 1.2.0 sdist).

* Its new transforms ``NDAJigsaw`` / ``NDACutout`` compute nda_core's jigsaw and cutout from the
  same parameters.
* Patched ``MoCo(nda=dict(num_views=2))`` fed [query, key, NDA of the query, NDA of the key]
  equals mmselfsup_nda's ``NDAMoCo`` fed the same views, step for step on the same seed (losses,
  queue, weights after SGD steps); with NDA off, patched ``MoCo`` equals mmpretrain 1.2.0's bit
  for bit. Each side runs in its own process (the patched and the installed mmpretrain register
  the same names).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upstream_helpers import (  # noqa: E402
    check_ok,
    copy_package,
    git_apply,
    new_test_files,
    only_test_diffs,
    patch_series,
    run_pytest,
    run_pythons,
)

PROJECT = "mmpretrain"
STEPS = 3
BATCH, SIZE, FEAT_DIM, QUEUE_LEN = 4, 16, 8, 16
TEMPERATURE = 0.2
LR = 0.01
# The NDA runs are in float64: the two implementations round differently (nda_core normalises q and
# k once more, matmul against einsum), and SGD on this tiny random problem (gradients of ~50)
# amplifies float32 rounding to 1e-4 within three steps; in float64 it stays far below this.
NDA_TOLERANCE = {"rtol": 1e-9, "atol": 1e-10}


@pytest.fixture(scope="module")
def patched(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mmpretrain_patched")
    copy_package("mmpretrain", root)
    git_apply(patch_series(PROJECT), root)
    return root


def _load_transforms(root: Path) -> ModuleType:
    """The patch's ``mmpretrain/datasets/transforms/nda.py``, registering into a private registry
    instead of the installed mmpretrain's TRANSFORMS (which this process shares with other tests)."""
    path = root / "mmpretrain/datasets/transforms/nda.py"
    registry_import = "from mmpretrain.registry import TRANSFORMS"
    source = path.read_text()
    assert source.count(registry_import) == 1
    source = source.replace(
        registry_import, "from mmengine.registry import Registry\nTRANSFORMS = Registry('nda-test')"
    )
    module = ModuleType("mmpretrain_patched_nda_transforms")
    exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the patched file, one registry swapped
    return module


def test_series_layout() -> None:
    patches = patch_series(PROJECT)
    assert [new_test_files(p) for p in patches] == [
        ["tests/test_datasets/test_transforms/test_nda.py"],
        ["tests/test_models/test_selfsup/test_moco_nda.py"],
    ]


def test_upstream_tests_pass_on_patched_copy(patched: Path) -> None:
    tests = [test for patch in patch_series(PROJECT) for test in new_test_files(patch)]
    out = check_ok(run_pytest(tests, [patched], patched, "-W", "ignore"), "the pull request's mmpretrain tests")
    assert " passed" in out and "failed" not in out


def test_upstream_tests_fail_on_unpatched_mmpretrain(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    copy_package("mmpretrain", root)
    git_apply(patch_series(PROJECT), root, rewrite=only_test_diffs)
    tests = [test for patch in patch_series(PROJECT) for test in new_test_files(patch)]
    result = run_pytest(tests, [root], root, "-W", "ignore")
    assert result.returncode != 0
    assert "NDAJigsaw is not in the" in result.stdout and "unexpected keyword argument 'nda'" in result.stdout


def test_transforms_equal_nda_core(patched: Path) -> None:
    from nda_core import build
    from nda_core import functional as F

    nda = _load_transforms(patched)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 12, 18), dtype=torch.uint8, generator=generator)
    for k in (2, 3):
        permutation = build({"type": "jigsaw", "k": k}).draw_params(images.shape, generator)["permutation"]
        expected = F.jigsaw(images, permutation, k)
        for image, perm, target in zip(images, permutation, expected):
            ours = nda.NDAJigsaw.jigsaw(image.permute(1, 2, 0).numpy(), perm.numpy(), k)
            assert np.array_equal(ours, target.permute(1, 2, 0).numpy())
    boxes = build({"type": "cutout"}).draw_params(images.shape, generator)["boxes"]
    for batch in (images, images.float() / 255):
        expected = F.cutout(batch, boxes)
        for image, box, target in zip(batch, boxes, expected):
            ours = nda.NDACutout.cutout(image.permute(1, 2, 0).numpy(), tuple(box.tolist()))
            np.testing.assert_allclose(ours, target.permute(1, 2, 0).numpy(), rtol=1e-6, atol=1e-6)
    np.random.seed(0)
    sides = np.array([nda.NDACutout()._sample_box(12, 18)[2:] for _ in range(3000)])
    core = build({"type": "cutout"}).draw_params((3000, 3, 12, 18), generator)["boxes"][:, 2:].numpy()
    assert (sides.min(0) == core.min(0)).all() and (sides.max(0) == core.max(0)).all()


def test_patched_moco_equals_plugin(patched: Path, tmp_path: Path) -> None:
    """Patched MoCo with NDA views == NDAMoCo step for step; without NDA == mmpretrain 1.2.0 bit for bit."""
    sides = {"installed": [], "patched": [patched]}  # PYTHONPATH of each side
    commands = [([__file__, side, str(tmp_path / f"{side}.pt")], path) for side, path in sides.items()]
    for side, result in zip(sides, run_pythons(commands, tmp_path)):
        check_ok(result, f"the {side} mmpretrain run")
    installed = torch.load(tmp_path / "installed.pt", weights_only=True)
    ours = torch.load(tmp_path / "patched.pt", weights_only=True)
    assert installed["off"].keys() == ours["off"].keys() and installed["nda"].keys() == ours["nda"].keys()
    for key, value in installed["off"].items():
        assert torch.equal(value, ours["off"][key]), f"NDA off: {key} differs from mmpretrain 1.2.0"
    for key, value in installed["nda"].items():
        torch.testing.assert_close(ours["nda"][key], value, **NDA_TOLERANCE, msg=lambda m, k=key: f"NDA: {k}: {m}")
    assert abs(ours["nda"]["loss_0"].item() - ours["off"]["loss_0"].item()) > 1e-3  # the NDA views changed the loss


# ----------------------------------------------------------------------------------- child process
def _inputs(step: int) -> list[torch.Tensor]:
    """Query and key views and one NDA (jigsaw) of each, as NDA-MoCo makes them."""
    from nda_core import build

    generator = torch.Generator().manual_seed(100 + step)
    query, key = (torch.randn(BATCH, 3, SIZE, SIZE, generator=generator) for _ in range(2))
    jigsaw = build({"type": "jigsaw", "k": 2})
    return [query, key, jigsaw(query, generator=generator), jigsaw(key, generator=generator)]


def _model_kwargs(head_type: str) -> dict:
    head = {"type": head_type, "temperature": TEMPERATURE}
    if head_type == "ContrastiveHead":
        head["loss"] = {"type": "CrossEntropyLoss"}
    return {
        "backbone": {"type": "ResNet", "depth": 18, "base_channels": 8, "norm_cfg": {"type": "BN"}},
        "neck": {
            "type": "MoCoV2Neck",
            "in_channels": 64,
            "hid_channels": 16,
            "out_channels": FEAT_DIM,
            "with_avg_pool": True,
        },
        "head": head,
        "queue_len": QUEUE_LEN,
        "feat_dim": FEAT_DIM,
        "momentum": 0.01,
    }


def _train(model: torch.nn.Module, views: int, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    from mmpretrain.structures import DataSample

    model.to(dtype)
    with torch.no_grad():  # the queue was normalised in float32; nda_core re-normalises what it reads
        model.queue.copy_(torch.nn.functional.normalize(model.queue, dim=0))
    parameters = [p for name, p in model.named_parameters() if not name.startswith("encoder_k.")]
    optimizer = torch.optim.SGD(parameters, lr=LR)
    trace = {}
    for step in range(STEPS):
        inputs = [view.to(dtype) for view in _inputs(step)[: 2 + views]]
        loss = model.loss(inputs, [DataSample() for _ in range(BATCH)])["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trace[f"loss_{step}"] = loss.detach().clone()
        trace[f"queue_{step}"] = model.queue.detach().clone()
    trace.update({key: value.detach().clone() for key, value in model.state_dict().items()})
    return trace


def _run_side(side: str, out: str) -> None:
    torch.set_num_threads(1)
    import mmpretrain.models  # noqa: F401 - registers the models
    from mmpretrain.models.selfsup import MoCo

    if side == "patched" and "nda" not in MoCo.__init__.__code__.co_varnames:
        raise SystemExit(f"expected the patched mmpretrain, imported {sys.modules['mmpretrain'].__file__}")
    if side == "installed":  # imported before the seed: importing may draw random numbers
        from mmselfsup_nda.mmpretrain_models import NDAMoCo, register

        register()
    torch.manual_seed(0)
    results = {"off": _train(MoCo(**_model_kwargs("ContrastiveHead")), views=0)}
    torch.manual_seed(0)
    if side == "patched":
        model = MoCo(**_model_kwargs("ContrastiveHead"), nda={"num_views": 2})
    else:
        model = NDAMoCo(nda=None, **_model_kwargs("NDAContrastiveHead"))  # the NDA views come as inputs[2:]
    results["nda"] = _train(model, views=2, dtype=torch.float64)
    torch.save(results, out)


if __name__ == "__main__":
    _run_side(sys.argv[1], sys.argv[2])
