"""NDANTXentLoss against lightly's NTXentLoss (NDA off) and slow references written from the equations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("lightly")
from lightly.loss import NTXentLoss  # noqa: E402
from test_core_losses import ref_info_nce, ref_nt_xent  # noqa: E402

from lightly_nda import NDANTXentLoss  # noqa: E402
from nda_core.errors import UsageError, UsageTypeError  # noqa: E402

BATCH, DIM, BANK, VIEWS = 6, 8, 20, 3
TEMPERATURE = 0.2
STEPS = 5  # 5 x 6 = 30 keys: the 20-row bank wraps around once


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors and tiny models: one thread is faster, and immune to other jobs on a shared
    2-core machine (the lightly test modules import this fixture)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _features(seed: int, batch: int = BATCH, views: int = VIEWS, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    out0 = torch.randn(batch, DIM, generator=generator, dtype=dtype).requires_grad_()
    out1 = torch.randn(batch, DIM, generator=generator, dtype=dtype)
    nda = torch.randn(batch, views, DIM, generator=generator, dtype=dtype)
    return out0, out1, nda


def _pair(memory_bank_size):
    """lightly's loss and ours, with the same (randomly initialised) memory bank."""
    lightly_loss = NTXentLoss(TEMPERATURE, memory_bank_size)
    ours = NDANTXentLoss(TEMPERATURE, memory_bank_size)
    ours.memory_bank.bank.copy_(lightly_loss.memory_bank.bank)
    return lightly_loss, ours


# ----------------------------------------------------------------------------- nda=None == lightly
PATHS = {
    # nda=None runs lightly's own forward: bit-identical
    "nda_none": (None, torch.equal),
    # the NDA code path (nda_core's equation / the pending SimCLR one) with M = 0: equal up to rounding
    "nda_empty": (torch.empty(BATCH, 0, DIM), lambda a, b: torch.testing.assert_close(a, b) is None),
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("memory_bank_size", [(BANK, DIM), 0], ids=["memory_bank", "simclr"])
def test_without_nda_equals_lightly_over_steps_including_bank(memory_bank_size, path):
    nda, same = PATHS[path]
    lightly_loss, ours = _pair(memory_bank_size)
    for step in range(STEPS):
        out0, out1, _ = _features(step)
        ref0 = out0.detach().clone().requires_grad_()
        expected = lightly_loss(ref0, out1)
        got = ours(out0, out1, nda=nda)
        assert same(got, expected)
        expected.backward()
        got.backward()
        assert same(out0.grad, ref0.grad)
        if memory_bank_size:  # the enqueue is lightly's own code on the same keys: always bit-identical
            assert torch.equal(ours.memory_bank.bank, lightly_loss.memory_bank.bank)
            assert torch.equal(ours.memory_bank.bank_ptr, lightly_loss.memory_bank.bank_ptr)
    if memory_bank_size:
        # pointer 0, 6, 12, 18 -> the 4th batch fills rows 18-19 and wraps (lightly drops its rest) -> 0 -> 6
        assert int(ours.memory_bank.bank_ptr) == BATCH
    # evaluation (no gradient on out0) leaves both banks unchanged
    out0, out1, _ = _features(99)
    before = ours.memory_bank.bank.clone()
    assert same(ours(out0.detach(), out1, nda=nda), lightly_loss(out0.detach(), out1))
    assert torch.equal(ours.memory_bank.bank, before)


# ----------------------------------------------------------------------------- NDA vs the equations
def test_memory_bank_mode_with_nda_matches_reference_over_steps():
    ours = NDANTXentLoss(TEMPERATURE, (BANK, DIM))
    ours.memory_bank.bank = ours.memory_bank.bank.double()
    keys = []
    for step in range(STEPS):
        out0, out1, nda = _features(step, dtype=torch.float64)
        bank_before = ours.memory_bank.bank.clone()
        loss = ours(out0, out1, nda=nda)
        reference = ref_info_nce(out0.tolist(), out1.tolist(), bank_before.tolist(), nda.tolist(), TEMPERATURE)
        assert float(loss.detach()) == pytest.approx(reference, rel=1e-10)
        keys.append(F.normalize(out1, dim=1))
    # the bank holds the last BANK keys in lightly's order (the tail of a wrapping batch is dropped)
    ptr, stream = 0, []
    for batch in keys:
        if ptr + BATCH >= BANK:
            stream.append((ptr, batch[: BANK - ptr]))
            ptr = 0
        else:
            stream.append((ptr, batch))
            ptr += BATCH
    expected = torch.empty(BANK, DIM, dtype=torch.float64)
    for start, rows in stream:
        expected[start : start + len(rows)] = rows
    torch.testing.assert_close(ours.memory_bank.bank, expected)


def test_simclr_mode_with_nda_matches_reference():
    ours = NDANTXentLoss(TEMPERATURE, 0)
    for step in range(3):
        out0, out1, nda = _features(step, dtype=torch.float64)
        loss = ours(out0, out1, nda=nda)
        expected = ref_nt_xent(out0.tolist(), out1.tolist(), nda.tolist(), TEMPERATURE)
        assert float(loss.detach()) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("memory_bank_size", [(BANK, DIM), 0], ids=["memory_bank", "simclr"])
def test_nda_embeddings_are_negatives_of_their_own_sample_only(memory_bank_size):
    ours = NDANTXentLoss(TEMPERATURE, memory_bank_size)
    out0, out1, nda = _features(3)
    logits, _ = ours.logits(out0, out1, nda)
    changed = nda.clone()
    changed[2] = -changed[2] + 1.0
    logits_changed, _ = ours.logits(out0, out1, changed)
    rows_of_2 = {2} if memory_bank_size else {2, BATCH + 2}
    for row in range(logits.shape[0]):
        same = torch.equal(logits[row], logits_changed[row])
        assert same != (row in rows_of_2), row
    # only the last M columns of sample 2's rows moved
    for row in rows_of_2:
        assert torch.equal(logits[row, :-VIEWS], logits_changed[row, :-VIEWS])
    # and the gradient reaches sample j's NDA embeddings only from sample j's rows
    nda_grad = nda.clone().requires_grad_()
    logits, _ = ours.logits(out0, out1, nda_grad)
    logits[0].sum().backward()
    assert nda_grad.grad[1:].abs().max() == 0 and nda_grad.grad[0].abs().max() > 0


def test_bank_never_holds_nda_embeddings():
    ours = NDANTXentLoss(TEMPERATURE, (BANK, DIM))
    keys, ndas = [], []
    for step in range(3):  # 18 keys, no wrap
        out0, out1, nda = _features(step)
        ours(out0, out1, nda=nda)
        keys.append(F.normalize(out1, dim=1))
        ndas.append(F.normalize(nda.reshape(-1, DIM), dim=1))
    bank = ours.memory_bank.bank
    assert torch.equal(bank[: 3 * BATCH], torch.cat(keys))
    assert (bank @ torch.cat(ndas).t()).max() < 1 - 1e-3  # no NDA embedding anywhere in the bank


def test_logit_means_are_means_of_the_logits():
    ours = NDANTXentLoss(TEMPERATURE, (BANK, DIM))
    out0, out1, nda = _features(1)
    logits, _ = ours.logits(out0, out1, nda)
    ours(out0, out1, nda=nda)
    means = ours.logit_means
    torch.testing.assert_close(means["logit_pos"], logits[:, 0].mean())
    torch.testing.assert_close(means["logit_neg"], logits[:, 1 : 1 + BANK].mean())
    torch.testing.assert_close(means["logit_nda"], logits[:, 1 + BANK :].mean())
    simclr = NDANTXentLoss(TEMPERATURE, 0)
    logits, targets = simclr.logits(out0, out1, nda)
    simclr(out0, out1)  # lightly's path also reports positive and negative means
    rows = torch.arange(2 * BATCH)
    torch.testing.assert_close(simclr.logit_means["logit_pos"], logits[rows, targets].mean())
    in_batch = logits[:, : 2 * BATCH - 1].clone()
    in_batch[rows, targets] = float("nan")
    torch.testing.assert_close(simclr.logit_means["logit_neg"], in_batch.nanmean())
    assert "logit_nda" not in simclr.logit_means


# ----------------------------------------------------------------------------- checkpoints
def test_state_dict_carries_the_memory_bank():
    ours = NDANTXentLoss(TEMPERATURE, (BANK, DIM))
    for step in range(2):
        out0, out1, nda = _features(step)
        ours(out0, out1, nda=nda)
    fresh = NDANTXentLoss(TEMPERATURE, (BANK, DIM))
    assert not torch.equal(fresh.memory_bank.bank, ours.memory_bank.bank)
    fresh.load_state_dict(ours.state_dict())
    assert torch.equal(fresh.memory_bank.bank, ours.memory_bank.bank)
    assert int(fresh.memory_bank.bank_ptr) == 2 * BATCH
    # lightly's NTXentLoss keeps its bank out of the state dict: a resumed run would start from noise
    assert NTXentLoss(TEMPERATURE, (BANK, DIM)).state_dict() == {}
    with pytest.raises(ValueError, match=r"memory_bank_size=\(20, 8\)"):
        NDANTXentLoss(TEMPERATURE, (2 * BANK, DIM)).load_state_dict(ours.state_dict())


# ----------------------------------------------------------------------------- errors
def test_bare_integer_memory_bank_size_says_what_lightly_expects():
    with pytest.raises(ValueError, match=r"memory_bank_size=4096 is a bare integer.*\(4096, dim\).*\(4096, 128\)"):
        NDANTXentLoss(memory_bank_size=4096)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": "0.1"}, TypeError, "temperature"),
        ({"memory_bank_size": (4096,)}, TypeError, r"\(num_features, dim\)"),
        ({"memory_bank_size": (4096, 0)}, ValueError, r"memory_bank_size\[1\]"),
        ({"memory_bank_size": -1}, ValueError, "memory_bank_size"),
        ({"gather_distributed": 1}, TypeError, "gather_distributed"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        NDANTXentLoss(**kwargs)


@pytest.mark.parametrize(
    "nda, match",
    [
        (torch.randn(BATCH, DIM), r"nda must have rank 3 \(batch_size, M, dim\), got shape \(6, 8\)"),
        (torch.randn(BATCH + 1, 2, DIM), "nda has batch size 7 but out0 has 6"),
        (torch.randn(BATCH, 2, DIM + 1), "nda has feature size 9 but out0 has 8"),
        (torch.randint(0, 3, (BATCH, 2, DIM)), "nda must be a float tensor"),
        # float64 NDA embeddings beside float32 projections: once a RuntimeError
        # "expected scalar type Float but found Double"
        (
            torch.randn(BATCH, 2, DIM, dtype=torch.float64),
            r"nda has dtype torch.float64 but out0 has torch.float32; .* cast them with nda.to\(out0.dtype\)",
        ),
        (
            torch.empty(BATCH, 2, DIM, device="meta"),
            r"nda is on device meta but out0 is on cpu; move it with nda.to\(out0.device\)",
        ),
    ],
    ids=["rank", "batch", "feature", "dtype", "float64", "device"],
)
@pytest.mark.parametrize("memory_bank_size", [(BANK, DIM), 0], ids=["memory_bank", "simclr"])
def test_bad_nda_is_named_with_value_and_fix(nda, match, memory_bank_size):
    ours = NDANTXentLoss(TEMPERATURE, memory_bank_size)
    out0, out1, _ = _features(0)
    with pytest.raises(UsageError, match=match):
        ours(out0, out1, nda=nda)
    # a Python list: named as the (B, M, D) features it should be, not as images
    with pytest.raises(UsageTypeError, match=r"nda must be a torch.Tensor \(batch_size, M, dim\) of features") as info:
        ours(out0, out1, nda=nda.tolist() if nda.device.type != "meta" else [1.0])
    assert "(B, C, H, W)" not in str(info.value)


def test_float64_everywhere_is_lightlys_behaviour():
    """lightly's NTXentLoss takes float64 projections in SimCLR mode; so does ours with float64 NDA embeddings."""
    out0, out1, nda = _features(0, dtype=torch.float64)
    assert NDANTXentLoss(TEMPERATURE, 0)(out0, out1, nda=nda).dtype == torch.float64


def test_bank_dimension_mismatch_and_bad_features():
    ours = NDANTXentLoss(TEMPERATURE, (BANK, DIM + 4))
    out0, out1, nda = _features(0)
    for call in (lambda: ours(out0, out1), lambda: ours(out0, out1, nda=nda)):
        with pytest.raises(ValueError, match=r"memory bank holds 12-d features .* set memory_bank_size=\(20, 8\)"):
            call()
    with pytest.raises(ValueError, match="out1 must have the shape of out0"):
        NDANTXentLoss()(out0, out1[:3])
    with pytest.raises(ValueError, match=r"out0 must be a float tensor of shape \(batch_size, dim\)"):
        NDANTXentLoss()(out0[None], out1)


@pytest.mark.parametrize("name", ["lightly_nda.loss", "nda_core.losses"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
