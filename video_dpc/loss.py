"""The DPC loss, with NDA features as extra negatives of their own video's predictions.

DPC (Han et al. 2019, ``dpc/model_3d.py`` and ``dpc/main.py``) scores every predicted feature
against every target feature of the batch with a plain dot product (no normalisation, no
temperature). With ``r = (b, p, s)`` a prediction of video ``b``, step ``p``, position ``s``
and ``c`` any target of the batch (B * P * S rows and columns, S = H' * W'):

    score[r, c] = pred_r . target_c
    L = mean_r CE(score[r, :], r)        (the positive is the same video, step and position)

DPC's mask also names same-video entries "spatial" and "temporal" negatives, but every
non-positive entry is a negative of the one softmax. NDA-DPC appends, for every prediction of
video ``b``, the M logits ``pred_r . nda_{b,m}`` of that video's NDA features (never another
video's, never a positive; ``nda_core.losses.own_negative_logits``, the per-sample NDA term that
NDA-MoCo and NDA-SimCLR share):

    L_NDA = mean_r CE([score[r, :], pred_r . nda_{b(r),1}, ..., pred_r . nda_{b(r),M}], r)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from nda_core._checks import check_tensor
from nda_core.errors import UsageError
from nda_core.losses import own_negative_logits

__all__ = ["DPCLossOutput", "dpc_logits", "dpc_loss"]

_MAP_RANK = 5  # (B, pred_step, D, H', W')


class DPCLossOutput(NamedTuple):
    """``loss``: scalar cross-entropy; ``accuracy``: top-1 share of predictions whose positive
    scores highest (detached, in [0, 1], as DPC logs it)."""

    loss: torch.Tensor
    accuracy: torch.Tensor


def _check_map(value: torch.Tensor, name: str) -> torch.Tensor:
    check_tensor(value, name)
    if value.dim() != _MAP_RANK or not value.is_floating_point():
        raise UsageError(
            f"{name} must be a float tensor (B, pred_step, D, H', W') as DPC returns it, got shape "
            f"{tuple(value.shape)} and dtype {value.dtype}."
        )
    return value


def dpc_logits(
    pred: torch.Tensor, target: torch.Tensor, nda: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPC's score matrix with NDA columns appended, and the index of each row's positive.

    Args:
        pred: (B, P, D, H', W') predicted features.
        target: (B, P, D, H', W') pre-ReLU features of the predicted blocks.
        nda: (B, M, D) NDA features of each video, or None for plain DPC.

    Returns:
        ``logits`` (R, R + M) with R = B * P * H' * W' (rows and columns ordered video, step,
        position; the NDA columns last) and ``labels`` (R,) = 0, 1, ..., R - 1.
    """
    _check_map(pred, "pred")
    _check_map(target, "target")
    if target.shape != pred.shape:
        raise UsageError(
            f"target must have the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}; both are "
            f"(B, pred_step, D, H', W')."
        )
    batch, steps, dim = pred.shape[:3]
    rows = pred.permute(0, 1, 3, 4, 2).reshape(-1, dim)
    logits = rows @ target.permute(0, 1, 3, 4, 2).reshape(-1, dim).t()
    if nda is not None:
        own = own_negative_logits(rows.view(batch, -1, dim), nda)  # (B, P * H'W', M): video b's NDA only
        logits = torch.cat([logits, own.reshape(rows.shape[0], -1)], dim=1)
    labels = torch.arange(rows.shape[0], device=pred.device)
    return logits, labels


def dpc_loss(pred: torch.Tensor, target: torch.Tensor, nda: torch.Tensor | None = None) -> DPCLossOutput:
    """DPC's loss (``nda=None``) or NDA-DPC's, and the top-1 accuracy of finding the positive.

    Example:
        >>> import torch
        >>> pred = torch.eye(2).view(2, 1, 2, 1, 1)      # two videos, one step, one position
        >>> loss, accuracy = dpc_loss(pred, pred.clone())
        >>> round(float(loss), 4), float(accuracy)        # -log(e / (e + 1))
        (0.3133, 1.0)
        >>> nda = torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])  # one NDA feature per video
        >>> round(float(dpc_loss(pred, pred.clone(), nda).loss), 4)
        0.9795
    """
    logits, labels = dpc_logits(pred, target, nda)
    loss = F.cross_entropy(logits, labels)
    with torch.no_grad():
        accuracy = (logits.argmax(1) == labels).float().mean()
    return DPCLossOutput(loss, accuracy)
