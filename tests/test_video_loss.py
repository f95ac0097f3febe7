"""The DPC loss with NDA negatives: against a slow reference written from its equation, NDA
features only ever in negative positions and only for their own video, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from video_dpc import dpc_logits, dpc_loss


def _reference(pred: torch.Tensor, target: torch.Tensor, nda: torch.Tensor | None) -> tuple[float, float]:
    """Loop over every prediction r = (b, p, s): logits pred_r . target_c for every target c of the
    batch, then pred_r . nda_{b, m} for video b's NDA features; CE with the positive c = r."""
    batch, steps, dim, height, width = pred.shape
    rows = [(b, p, y, x) for b in range(batch) for p in range(steps) for y in range(height) for x in range(width)]
    total, hits = 0.0, 0
    for index, (b, p, y, x) in enumerate(rows):
        query = pred[b, p, :, y, x].double()
        logits = [float(query @ target[c_b, c_p, :, c_y, c_x].double()) for c_b, c_p, c_y, c_x in rows]
        if nda is not None:
            logits += [float(query @ nda[b, m].double()) for m in range(nda.shape[1])]
        top = max(logits)
        total += math.log(sum(math.exp(v - top) for v in logits)) + top - logits[index]
        hits += int(max(range(len(logits)), key=logits.__getitem__) == index)
    return total / len(rows), hits / len(rows)


@pytest.mark.parametrize(
    "batch, steps, dim, height, width, nda_count",
    [(2, 3, 8, 2, 2, 12), (3, 1, 4, 1, 3, 2), (1, 2, 5, 2, 1, 0), (2, 2, 6, 2, 2, None)],
)
def test_loss_matches_the_slow_reference(batch, steps, dim, height, width, nda_count):
    generator = torch.Generator().manual_seed(batch * 100 + steps)
    pred = torch.randn(batch, steps, dim, height, width, generator=generator)
    target = torch.randn(batch, steps, dim, height, width, generator=generator)
    nda = None if nda_count is None else torch.randn(batch, nda_count, dim, generator=generator)
    loss, accuracy = dpc_loss(pred, target, nda)
    expected_loss, expected_accuracy = _reference(pred, target, nda)
    assert loss.item() == pytest.approx(expected_loss, rel=1e-5, abs=1e-6)
    assert accuracy.item() == pytest.approx(expected_accuracy)


def test_nda_columns_are_negatives_of_their_own_video_only():
    torch.manual_seed(0)
    batch, steps, dim, side, count = 3, 2, 4, 2, 5
    pred, target = torch.randn(batch, steps, dim, side, side), torch.randn(batch, steps, dim, side, side)
    nda = torch.randn(batch, count, dim)
    logits, labels = dpc_logits(pred, target, nda)
    rows = batch * steps * side * side
    assert logits.shape == (rows, rows + count)
    assert torch.equal(labels, torch.arange(rows))  # every positive is a target column, never an NDA column
    per_video = rows // batch
    for row in range(rows):
        b, rest = divmod(row, per_video)
        p, s = divmod(rest, side * side)
        query = pred[b, p, :, s // side, s % side]
        torch.testing.assert_close(logits[row, rows:], nda[b] @ query)  # video b's NDA, not another video's
    # the targets part is unchanged by NDA: it is plain DPC's score matrix
    torch.testing.assert_close(logits[:, :rows], dpc_logits(pred, target)[0])


def test_a_more_similar_nda_feature_raises_the_loss_and_its_gradient_pushes_it_away():
    torch.manual_seed(1)
    pred, target = torch.randn(2, 1, 4, 1, 1), torch.randn(2, 1, 4, 1, 1)
    nda = torch.zeros(2, 1, 4, requires_grad=True)
    base = dpc_loss(pred, target, nda).loss
    base.backward()
    # d loss / d nda_b = softmax weight of the NDA column * pred_b: moving nda along pred raises the loss
    for b in range(2):
        assert float(nda.grad[b, 0] @ pred[b, 0, :, 0, 0]) > 0
    closer = nda.detach().clone()
    closer[0, 0] = pred[0, 0, :, 0, 0]
    assert dpc_loss(pred, target, closer).loss > base
    # an NDA feature never helps: the loss with NDA is at least the loss without
    assert dpc_loss(pred, target, nda.detach()).loss >= dpc_loss(pred, target).loss


def test_accuracy_counts_predictions_whose_positive_wins():
    pred = torch.eye(3).view(3, 1, 3, 1, 1) * 5
    target = pred.clone()
    assert dpc_loss(pred, target).accuracy.item() == 1.0
    nda = pred.view(3, 1, 3) * 2  # each video's NDA feature beats its positive
    assert dpc_loss(pred, target, nda).accuracy.item() == 0.0
    assert not dpc_loss(pred, target, nda).accuracy.requires_grad


def test_gradients_reach_pred_target_and_nda():
    pred = torch.randn(2, 2, 3, 2, 2, requires_grad=True)
    target = torch.randn(2, 2, 3, 2, 2, requires_grad=True)
    nda = torch.randn(2, 8, 3, requires_grad=True)
    dpc_loss(pred, target, nda).loss.backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (pred, target, nda))


@pytest.mark.parametrize(
    "pred, target, nda, error, match",
    [
        (
            torch.randn(2, 3, 4, 2),
            torch.randn(2, 3, 4, 2),
            None,
            ValueError,
            r"pred must be a float tensor \(B, pred_step, D, H', W'\)",
        ),
        (
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 2, 4, 2, 2),
            None,
            ValueError,
            "target must have the shape of pred",
        ),
        (
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(3, 5, 4),
            ValueError,
            r"nda must have shape \(2, M, 4\), one set of M NDA features per sample",
        ),
        (
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 5, 3),
            ValueError,
            r"nda must have shape \(2, M, 4\).*got \(2, 5, 3\)",
        ),
        (
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 3, 4, 2, 2),
            torch.randn(2, 4),
            ValueError,
            r"nda must be a float tensor of shape \(2, M, 4\)",
        ),
        ([[1.0]], torch.randn(2, 3, 4, 2, 2), None, TypeError, "pred must be a torch.Tensor"),
        (
            torch.zeros(2, 3, 4, 2, 2, dtype=torch.long),
            torch.zeros(2, 3, 4, 2, 2, dtype=torch.long),
            None,
            ValueError,
            "dtype torch.int64",
        ),
    ],
)
def test_bad_input(pred, target, nda, error, match):
    with pytest.raises(error, match=match):
        dpc_loss(pred, target, nda)
