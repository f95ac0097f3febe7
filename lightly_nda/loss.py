"""``NDANTXentLoss``: lightly's ``NTXentLoss`` with per-sample NDA negatives.

A subclass of ``lightly.loss.NTXentLoss`` that takes a third argument, ``nda``: a (B, M, D)
tensor holding M NDA embeddings of each sample (e.g. the momentum encoder's embeddings of
jigsawed copies of the sample's own views).

* ``nda=None``: lightly's own ``NTXentLoss.forward`` runs, so the loss and the memory bank are
  exactly lightly's.
* Memory-bank mode (``memory_bank_size=(K, D)``): the logits of sample i are
  ``[out0_i . out1_i | out0_i . bank | out0_i . nda_i1 ... out0_i . nda_iM] / T`` with the
  positive at index 0, computed by ``nda_core.losses.info_nce_logits``. The bank is lightly's
  ``MemoryBankModule`` (the one ``NTXentLoss`` creates); only ``out1`` is enqueued, and only when
  ``out0`` requires a gradient, exactly as lightly does.
* SimCLR mode (``memory_bank_size=0``): both rows of sample i (``out0_i`` and ``out1_i``) get the
  sample's M NDA embeddings as extra negatives beside the 2N - 2 in-batch ones
  (``nda_core.losses.nt_xent_logits``).

NDA embeddings are never enqueued, never gathered across ranks and never negatives of another
sample. Unlike ``NTXentLoss`` (whose bank buffers are not persistent), the memory bank and its
pointer are part of this module's ``state_dict``, so a Lightning checkpoint resumes with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from lightly.loss import NTXentLoss
from lightly.models.utils import concat_all_gather
from lightly.utils import dist

from nda_core._checks import check_bool, check_int, check_positive, check_tensor
from nda_core.errors import UsageError, UsageTypeError
from nda_core.losses import info_nce_logits, nt_xent_logits

__all__ = ["NDANTXentLoss", "LOGIT_KEYS"]

#: Keys of ``NDANTXentLoss.logit_means``: mean positive, negative (bank or in-batch) and NDA logit.
LOGIT_KEYS = ("logit_pos", "logit_neg", "logit_nda")
_BANK_DIMS = 2  # memory_bank_size = (num_features, dim)


def _check_bank_size(memory_bank_size: Any) -> int | tuple[int, int]:
    """0, or a (num_features, dim) pair of positive ints; a bare integer gets lightly 1.6's rule."""
    if isinstance(memory_bank_size, int) and not isinstance(memory_bank_size, bool):
        if memory_bank_size > 0:
            raise UsageError(
                f"memory_bank_size={memory_bank_size} is a bare integer, but lightly 1.6 needs the feature "
                f"dimension too: pass memory_bank_size=({memory_bank_size}, dim), e.g. ({memory_bank_size}, 128) "
                f"for 128-d projections, or 0 for SimCLR mode (in-batch negatives, no bank)."
            )
        check_int(memory_bank_size, "memory_bank_size", 0, hint="pass 0 (no bank) or (num_features, dim).")
        return 0
    if (
        not isinstance(memory_bank_size, Sequence)
        or isinstance(memory_bank_size, str)
        or len(memory_bank_size) != _BANK_DIMS
    ):
        raise UsageTypeError(
            f"memory_bank_size must be 0 or a (num_features, dim) pair such as (4096, 128), got {memory_bank_size!r}."
        )
    hint = "pass memory_bank_size=(num_features, dim), e.g. (4096, 128)."
    size = check_int(memory_bank_size[0], "memory_bank_size[0]", 1, hint=hint)
    dim = check_int(memory_bank_size[1], "memory_bank_size[1]", 1, hint=hint)
    return (size, dim)


class NDANTXentLoss(NTXentLoss):
    """NT-Xent / MoCo InfoNCE loss of lightly with per-sample NDA embeddings as extra negatives.

    Args:
        temperature: softmax temperature T > 0 (lightly's default 0.5; MoCo uses 0.1-0.2).
        memory_bank_size: 0 for SimCLR mode, or ``(num_features, dim)`` for a MoCo memory bank.
        gather_distributed: gather in-batch negatives (SimCLR mode) or the enqueued keys (bank
            mode) from every rank, as lightly does. NDA embeddings always stay on their rank.
        track_logits: keep the detached mean logits of the last call in ``logit_means``. With
            ``nda=None`` this costs one extra no-grad logits computation beside lightly's loss
            (and, in SimCLR mode with ``gather_distributed``, one all-gather); False skips it.

    Example:
        >>> import torch
        >>> loss_fn = NDANTXentLoss(temperature=0.1, memory_bank_size=(64, 8))
        >>> q, k = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8)
        >>> nda = torch.randn(4, 2, 8)           # 2 NDA embeddings per sample
        >>> loss_fn(q, k, nda=nda).shape
        torch.Size([])
        >>> sorted(loss_fn.logit_means)
        ['logit_nda', 'logit_neg', 'logit_pos']
    """

    def __init__(
        self,
        temperature: float = 0.5,
        memory_bank_size: int | Sequence[int] = 0,
        gather_distributed: bool = False,
        track_logits: bool = True,
    ) -> None:
        temperature = check_positive(temperature, "temperature", "MoCo uses 0.1-0.2, SimCLR 0.5 (lightly's default).")
        memory_bank_size = _check_bank_size(memory_bank_size)
        check_bool(gather_distributed, "gather_distributed")
        super().__init__(
            temperature=temperature, memory_bank_size=memory_bank_size, gather_distributed=gather_distributed
        )
        self.track_logits = check_bool(track_logits, "track_logits")
        #: Detached mean logits of the last call (keys in ``LOGIT_KEYS``; ``logit_nda`` only with NDA).
        self.logit_means: dict[str, torch.Tensor] = {}

    @property
    def uses_memory_bank(self) -> bool:
        return self.memory_bank.size[0] > 0

    # ----------------------------------------------------------------------------- checks
    def _check_inputs(self, out0: Any, out1: Any, nda: Any) -> None:
        for name, value in (("out0", out0), ("out1", out1)):
            check_tensor(value, name)
            if value.dim() != 2 or not value.is_floating_point():
                raise UsageError(
                    f"{name} must be a float tensor of shape (batch_size, dim), got {tuple(value.shape)} "
                    f"{value.dtype}; "
                    f"flatten the projections first, e.g. projection_head(backbone(x).flatten(start_dim=1))."
                )
        if out1.shape != out0.shape:
            raise UsageError(f"out1 must have the shape of out0 {tuple(out0.shape)}, got {tuple(out1.shape)}.")
        batch, dim = out0.shape
        if self.uses_memory_bank and self.memory_bank.size[1] != dim:
            raise UsageError(
                f"the memory bank holds {self.memory_bank.size[1]}-d features "
                f"(memory_bank_size={self.memory_bank.size}) "
                f"but out0/out1 have {dim} features; set memory_bank_size=({self.memory_bank.size[0]}, {dim}) "
                f"to match the projection head's output."
            )
        if nda is None:
            return
        hint = (
            f"pass the NDA embeddings of each sample as a ({batch}, M, {dim}) tensor, e.g. emb.view(M, {batch}, "
            f"{dim}).transpose(0, 1)"
        )
        if not isinstance(nda, torch.Tensor):
            raise UsageTypeError(
                "nda must be a torch.Tensor (batch_size, M, dim) of features, M per sample, got "
                f"{type(nda).__name__}; {hint} "
                f"(lightly_nda.nda_embeddings(encode, x_query, x_key) returns it)."
            )
        if nda.dim() != 3:
            raise UsageError(
                f"nda must have rank 3 (batch_size, M, dim), got shape {tuple(nda.shape)} (rank {nda.dim()}); {hint}."
            )
        if nda.shape[0] != batch:
            raise UsageError(
                f"nda has batch size {nda.shape[0]} but out0 has {batch}: one row of M NDA embeddings per "
                f"sample; {hint}."
            )
        if nda.shape[2] != dim:
            raise UsageError(
                f"nda has feature size {nda.shape[2]} but out0 has {dim}; embed the NDA images with the same "
                f"projection head as out1; {hint}."
            )
        if not nda.is_floating_point():
            raise UsageTypeError(f"nda must be a float tensor, got dtype {nda.dtype}; {hint}.")
        if nda.dtype != out0.dtype:
            # lightly's NTXentLoss refuses mixed dtypes too (a RuntimeError deep in its einsum); name the fix here
            raise UsageTypeError(
                f"nda has dtype {nda.dtype} but out0 has {out0.dtype}; the NDA embeddings must have the projections' "
                "dtype: cast them with nda.to(out0.dtype) (or embed the NDA images with the same encoder and "
                "precision)."
            )
        if nda.device != out0.device:
            raise UsageError(
                f"nda is on device {nda.device} but out0 is on {out0.device}; move it with nda.to(out0.device) "
                f"(or make the NDA images on the batch's device)."
            )

    # ----------------------------------------------------------------------------- logits
    def _in_batch(
        self, out0: torch.Tensor, out1: torch.Tensor, with_grad: bool
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The views gathered over ranks (as lightly gathers them) and this rank's first index."""
        if not (self.gather_distributed and dist.world_size() > 1):
            return out0, out1, 0
        if with_grad:
            return torch.cat(dist.gather(out0), 0), torch.cat(dist.gather(out1), 0), dist.rank() * out0.shape[0]
        return concat_all_gather(out0), concat_all_gather(out1), dist.rank() * out0.shape[0]

    def _logits(
        self,
        out0: torch.Tensor,
        out1: torch.Tensor,
        negatives: torch.Tensor | None,
        nda: torch.Tensor | None,
        with_grad: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, targets); ``negatives`` is the (K, D) bank in bank mode, else None."""
        if negatives is not None:
            logits = info_nce_logits(out0, out1, negatives, nda, self.temperature, queue_layout="KD")
            return logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        out0_all, out1_all, first = self._in_batch(out0, out1, with_grad)
        return nt_xent_logits(out0, out1, nda, self.temperature, out0_all, out1_all, first)

    @torch.no_grad()
    def _track(self, logits: torch.Tensor, targets: torch.Tensor, num_nda: int) -> None:
        rows = torch.arange(logits.shape[0], device=logits.device)
        regular = logits[:, : logits.shape[1] - num_nda]
        positive = regular[rows, targets]
        means = {"logit_pos": positive.mean()}
        if regular.shape[1] > 1:
            means["logit_neg"] = (regular.sum(1) - positive).mean() / (regular.shape[1] - 1)
        if num_nda:
            means["logit_nda"] = logits[:, -num_nda:].mean()
        self.logit_means = means

    def _bank_negatives(self) -> torch.Tensor | None:
        """The (K, D) bank as it is now (before this step's enqueue), or None in SimCLR mode."""
        return self.memory_bank.bank.detach() if self.uses_memory_bank else None

    def logits(
        self, out0: torch.Tensor, out1: torch.Tensor, nda: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits and targets that ``forward`` would use now, without touching the memory bank.

        Bank mode: (B, 1 + K + M) with targets 0. SimCLR mode: (2B, 2N - 1 + M), rows of out0
        then rows of out1, targets the column of each row's positive.
        """
        self._check_inputs(out0, out1, nda)
        negatives = self._bank_negatives()
        # a copy: the caller may backpropagate through these logits after a later step's in-place enqueue
        return self._logits(out0, out1, None if negatives is None else negatives.clone(), nda)

    # ----------------------------------------------------------------------------- forward
    def forward(self, out0: torch.Tensor, out1: torch.Tensor, nda: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of the positive pairs (out0_i, out1_i) against the bank or the batch, and ``nda``.

        Args:
            out0: (B, D) projections of the first views (queries; they carry the gradient).
            out1: (B, D) projections of the second views (keys; enqueued in bank mode).
            nda: (B, M, D) NDA embeddings, M per sample, or None for lightly's plain loss.
        """
        self._check_inputs(out0, out1, nda)
        if nda is None:
            if self.track_logits:  # before lightly's forward enqueues out1
                with torch.no_grad():
                    self._track(
                        *self._logits(out0.detach(), out1.detach(), self._bank_negatives(), None, with_grad=False), 0
                    )
            return super().forward(out0, out1)  # lightly's own NT-Xent, unchanged
        out0 = F.normalize(out0, dim=1)
        out1 = F.normalize(out1, dim=1)
        # the bank as it was before this batch; out1 (never nda) is enqueued when out0 has a gradient
        out1, negatives = self.memory_bank(out1, update=out0.requires_grad)
        if negatives is not None:
            negatives = negatives.to(out0.device).t()  # (D, K) -> (K, D)
        logits, targets = self._logits(out0, out1, negatives, nda)
        if self.track_logits:
            self._track(logits, targets, nda.shape[1])
        return F.cross_entropy(logits, targets)

    # ----------------------------------------------------------------------------- checkpoints
    def get_extra_state(self) -> dict[str, torch.Tensor]:
        """The memory bank and its pointer (lightly keeps them out of ``state_dict``)."""
        if not self.uses_memory_bank:
            return {}
        return {"bank": self.memory_bank.bank, "bank_ptr": self.memory_bank.bank_ptr}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        if not self.uses_memory_bank:
            return
        if not isinstance(state, dict) or "bank" not in state or "bank_ptr" not in state:
            raise UsageError(
                "the checkpoint holds no memory bank for this loss (it was saved without memory_bank_size, "
                "or by lightly's NTXentLoss); load it into a loss with the same memory_bank_size."
            )
        bank = state["bank"]
        if tuple(bank.shape) != tuple(self.memory_bank.bank.shape):
            raise UsageError(
                f"the checkpoint's memory bank has shape {tuple(bank.shape)} but this loss has "
                f"memory_bank_size={self.memory_bank.size}; build the loss with memory_bank_size={tuple(bank.shape)}."
            )
        with torch.no_grad():
            self.memory_bank.bank.copy_(bank)
            self.memory_bank.bank_ptr.copy_(state["bank_ptr"])

    def extra_repr(self) -> str:
        size = self.memory_bank.size if self.uses_memory_bank else 0
        return f"temperature={self.temperature}, memory_bank_size={size}, gather_distributed={self.gather_distributed}"
