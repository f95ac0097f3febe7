"""``upstream/lightly``: the lightly 1.6.0 pull request applies, its tests pass, and it equals lightly_nda.

The series is applied to a copy of the installed lightly (identical to the 1.6.0 sdist). Run as a
script with the patched copy first on ``PYTHONPATH``, this file compares the patched
``NTXentLoss(...)(out0, out1, negatives=nda)`` with ``lightly_nda.NDANTXentLoss(...)(out0, out1,
nda=nda)`` over several steps in both modes (loss, gradients, memory bank), and the patched loss
without negatives with lightly's unpatched one, bit for bit.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upstream_helpers import (  # noqa: E402
    check_ok,
    copy_package,
    git_apply,
    new_test_files,
    only_test_diffs,
    patch_series,
    run_pytest,
    run_python,
)

PROJECT = "lightly"
STEPS = 4
BATCH, NUM_NDA, DIM, BANK = 3, 2, 5, 7
TEMPERATURE = 0.2
LOSS_TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}  # the plugin normalises through nda_core (same math, other kernels)


@pytest.fixture(scope="module")
def patched(tmp_path_factory) -> Path:
    """A copy of the installed lightly with the series applied (library and new test files)."""
    root = tmp_path_factory.mktemp("lightly_patched")
    copy_package("lightly", root)
    git_apply(patch_series(PROJECT), root)
    return root


def test_series_layout() -> None:
    """One logical change per patch: the loss, then the memory bank; each brings its own new tests."""
    patches = patch_series(PROJECT)
    assert [p.name.split("-", 1)[1] for p in patches] == [
        "Add-per-sample-negatives-to-NTXentLoss.patch",
        "Save-the-memory-bank-in-the-state_dict-of-MemoryBank.patch",
    ]
    assert new_test_files(patches[0]) == ["tests/loss/test_ntx_ent_loss_negatives.py"]
    assert new_test_files(patches[1]) == ["tests/models/modules/test_memory_bank_state_dict.py"]


def test_upstream_tests_pass_on_patched_copy(patched: Path) -> None:
    """The pull request's own new lightly tests pass against the patched lightly."""
    tests = [test for patch in patch_series(PROJECT) for test in new_test_files(patch)]
    out = check_ok(run_pytest(tests, [patched], patched), "the pull request's lightly tests")
    assert " passed" in out and "failed" not in out


def test_upstream_tests_fail_on_unpatched_lightly(tmp_path: Path) -> None:
    """The same tests fail on lightly 1.6.0 itself: they test the change, not lightly's old behaviour."""
    root = tmp_path / "tree"
    root.mkdir()
    copy_package("lightly", root)
    # only the new test files of the series, not its library changes
    git_apply(patch_series(PROJECT), root, rewrite=only_test_diffs)
    tests = [test for patch in patch_series(PROJECT) for test in new_test_files(patch)]
    result = run_pytest(tests, [root], root, "-rf")
    assert result.returncode != 0
    assert "unexpected keyword argument 'negatives'" in result.stdout
    assert re.search(r"^FAILED \S+::TestMemoryBankModuleStateDict::test_state_dict\b(?!_)", result.stdout, re.M)


def test_patched_loss_equals_plugin(patched: Path) -> None:
    """Patched NTXentLoss with negatives == NDANTXentLoss with nda; without == unpatched lightly, bit for bit."""
    out = check_ok(run_python([__file__], [patched], patched), "the equality check against lightly_nda")
    assert out.strip().splitlines()[-1] == "equal"


# ----------------------------------------------------------------------------------- child process
def _load_unpatched_loss() -> type:
    """lightly 1.6.0's own NTXentLoss, loaded from the installed file beside the patched package."""
    installed = importlib.metadata.distribution("lightly").locate_file("lightly/loss/ntx_ent_loss.py")
    spec = importlib.util.spec_from_file_location("unpatched_ntx_ent_loss", installed)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NTXentLoss


def _compare(memory_bank_size: int | tuple[int, int]) -> None:
    import torch
    from lightly.loss import NTXentLoss

    from lightly_nda.loss import NDANTXentLoss

    torch.manual_seed(0)
    patched = NTXentLoss(temperature=TEMPERATURE, memory_bank_size=memory_bank_size)
    torch.manual_seed(0)
    plugin = NDANTXentLoss(temperature=TEMPERATURE, memory_bank_size=memory_bank_size, track_logits=False)
    generator = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        out0 = torch.randn(BATCH, DIM, generator=generator)
        out1 = torch.randn(BATCH, DIM, generator=generator)
        nda = torch.randn(BATCH, NUM_NDA, DIM, generator=generator)
        results = []
        for loss_fn, keyword in ((patched, "negatives"), (plugin, "nda")):
            inputs = [t.clone().requires_grad_(True) for t in (out0, out1, nda)]
            loss = loss_fn(inputs[0], inputs[1], **{keyword: inputs[2]})
            results.append((loss, *torch.autograd.grad(loss, inputs)))
        where = f"memory_bank_size={memory_bank_size}, step {step}"
        for name, mine, theirs in zip(("loss", "d out0", "d out1", "d nda"), *results):
            torch.testing.assert_close(mine, theirs, **LOSS_TOLERANCE, msg=lambda m, n=name, w=where: f"{w}, {n}: {m}")
        if memory_bank_size:  # out1 enqueued alike, nda never
            assert torch.equal(patched.memory_bank.bank, plugin.memory_bank.bank), where
            assert torch.equal(patched.memory_bank.bank_ptr, plugin.memory_bank.bank_ptr), where
    if memory_bank_size:  # patch 2: the bank is in the state_dict, as the plugin's extra state keeps it
        state = patched.state_dict()
        assert torch.equal(state["memory_bank.bank"], plugin.get_extra_state()["bank"])
        assert torch.equal(state["memory_bank.bank_ptr"], plugin.get_extra_state()["bank_ptr"])


def _compare_without_negatives(memory_bank_size: int | tuple[int, int]) -> None:
    import torch
    from lightly.loss import NTXentLoss

    from lightly_nda.loss import NDANTXentLoss

    losses = []
    for make in (_load_unpatched_loss(), NTXentLoss, NDANTXentLoss):
        torch.manual_seed(0)
        loss_fn = make(temperature=TEMPERATURE, memory_bank_size=memory_bank_size)
        generator = torch.Generator().manual_seed(1)
        trace = []
        for _ in range(STEPS):
            out0 = torch.randn(BATCH, DIM, generator=generator, requires_grad=True)
            out1 = torch.randn(BATCH, DIM, generator=generator, requires_grad=True)
            loss = loss_fn(out0, out1)
            trace += [loss, *torch.autograd.grad(loss, (out0, out1)), loss_fn.memory_bank.bank.clone()]
            if memory_bank_size:
                trace.append(loss_fn.memory_bank.bank_ptr.clone())
        losses.append(trace)
    unpatched, patched, plugin = losses
    for index, (old, new, ours) in enumerate(zip(unpatched, patched, plugin)):
        assert torch.equal(old, new), f"memory_bank_size={memory_bank_size}: patched != lightly 1.6.0 at {index}"
        assert torch.equal(new, ours), f"memory_bank_size={memory_bank_size}: plugin != patched at {index}"


def _main() -> None:
    import lightly

    if not Path(lightly.__file__).is_relative_to(Path.cwd()):
        raise SystemExit(f"expected the patched lightly under {Path.cwd()}, imported {lightly.__file__}")
    for memory_bank_size in (0, (BANK, DIM)):
        _compare(memory_bank_size)
        _compare_without_negatives(memory_bank_size)
    print("equal")


if __name__ == "__main__":
    _main()
