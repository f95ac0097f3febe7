"""PENDING MOVE TO ``nda_core.losses``: NT-Xent (SimCLR) with per-sample extra negatives.

This is the one NDA equation that ``lightly_nda`` computes itself, because ``nda_core`` has no
SimCLR-mode loss yet. It is pure torch (no lightly import) and requested for
``nda_core/losses.py`` in /work/notes/lightly-requests.md; once it lands there, this module
becomes ``from nda_core.losses import nt_xent_logits, nda_nt_xent`` and nothing else changes.

NT-Xent over a batch of B pairs (z0_i, z1_i) whose gathered batch across ranks has N pairs
(N = B on one process) and where this batch starts at index ``first_index`` of the gathered one.
All features are L2-normalised. The row of z0_i holds, divided by T,

    [ z0_i . z1_all (N) | z0_i . z0_all without z0_i itself (N - 1) | z0_i . nda_i1 ... z0_i . nda_iM ]

with the positive z0_i . z1_{first_index + i} at column ``first_index + i``; the row of z1_i is the
same with 0 and 1 swapped. So every row has 2N - 2 in-batch negatives and its own sample's M
NDA negatives, which are never negatives of another sample's rows. The loss is the mean
cross-entropy over the 2B rows (rows 0..B-1 for z0, B..2B-1 for z1). With ``nda=None`` (or M = 0)
it is SimCLR's NT-Xent, as in lightly's ``NTXentLoss`` without a memory bank.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nda_core._checks import check_int, check_positive
from nda_core.losses import _check_features

__all__ = ["nt_xent_logits", "nda_nt_xent"]


def nt_xent_logits(
    z0: torch.Tensor,
    z1: torch.Tensor,
    nda: torch.Tensor | None = None,
    temperature: float = 0.5,
    z0_all: torch.Tensor | None = None,
    z1_all: torch.Tensor | None = None,
    first_index: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2B, 2N - 1 + M) and targets (2B,) of NT-Xent with per-sample extra negatives.

    Args:
        z0, z1: (B, D) the two views of this batch.
        nda: (B, M, D) per-sample extra negatives (NDA embeddings), or None.
        temperature: softmax temperature T > 0.
        z0_all, z1_all: (N, D) the views gathered over every rank (default: z0, z1); they must
            contain z0 and z1 at rows ``first_index .. first_index + B - 1``.
        first_index: index of this batch's first pair in the gathered batch (rank * B).
    """
    temperature = check_positive(temperature, "temperature", "SimCLR uses 0.5 (lightly's default) or 0.1-0.2.")
    _check_features("z0", z0, 2, "(B, D)")
    _check_features("z1", z1, 2, "(B, D)")
    if z1.shape != z0.shape:
        raise ValueError(f"z1 must have the shape of z0 {tuple(z0.shape)}, got {tuple(z1.shape)}.")
    batch, dim = z0.shape
    z0_all = z0 if z0_all is None else _check_features("z0_all", z0_all, 2, f"(N, {dim})")
    z1_all = z1 if z1_all is None else _check_features("z1_all", z1_all, 2, f"(N, {dim})")
    if z0_all.shape != z1_all.shape or z0_all.shape[1] != dim or z0_all.shape[0] < batch:
        raise ValueError(
            f"z0_all and z1_all must both have shape (N, {dim}) with N >= {batch}, got "
            f"{tuple(z0_all.shape)} and {tuple(z1_all.shape)}."
        )
    total = z0_all.shape[0]
    check_int(first_index, "first_index", 0, f"it is rank * B, at most N - B = {total - batch}.", maximum=total - batch)
    z0, z1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    z0_all, z1_all = F.normalize(z0_all, dim=1), F.normalize(z1_all, dim=1)
    rows = torch.arange(batch, device=z0.device)
    own = torch.zeros(batch, total, dtype=torch.bool, device=z0.device)
    own[rows, rows + first_index] = True  # each row's own view in the same-view block
    same0 = (z0 @ z0_all.t())[~own].view(batch, total - 1)
    same1 = (z1 @ z1_all.t())[~own].view(batch, total - 1)
    logits = torch.cat([torch.cat([z0 @ z1_all.t(), same0], 1), torch.cat([z1 @ z0_all.t(), same1], 1)], 0)
    if nda is not None:
        _check_features("nda", nda, 3, f"({batch}, M, {dim})")
        if nda.shape[0] != batch or nda.shape[2] != dim:
            raise ValueError(f"nda must have shape ({batch}, M, {dim}), got {tuple(nda.shape)}.")
        nda = F.normalize(nda, dim=2)
        extra = torch.cat([torch.bmm(nda, z0.unsqueeze(2)), torch.bmm(nda, z1.unsqueeze(2))], 0).squeeze(2)
        logits = torch.cat([logits, extra], 1)
    targets = (rows + first_index).repeat(2)
    return logits / temperature, targets


def nda_nt_xent(
    z0: torch.Tensor,
    z1: torch.Tensor,
    nda: torch.Tensor | None = None,
    temperature: float = 0.5,
    z0_all: torch.Tensor | None = None,
    z1_all: torch.Tensor | None = None,
    first_index: int = 0,
) -> torch.Tensor:
    """Mean cross-entropy of :func:`nt_xent_logits` over its 2B rows.

    Example:
        >>> import torch
        >>> z0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); z1 = z0.clone()
        >>> round(float(nda_nt_xent(z0, z1, temperature=1.0)), 4)  # -log(e / (e + 1 + 1))
        0.5514
    """
    logits, targets = nt_xent_logits(z0, z1, nda, temperature, z0_all, z1_all, first_index)
    return F.cross_entropy(logits, targets)
