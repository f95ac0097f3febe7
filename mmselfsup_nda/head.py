"""``NDAContrastiveHead``: the InfoNCE head of NDA-MoCo-v2, computed by ``nda_core``.

Loss (paper, Section 4; :func:`nda_core.losses.nda_info_nce`)::

    logits_i = [q_i . k_i | q_i . queue | q_i . nda_i1 ... q_i . nda_iM] / T
    loss     = mean_i CE(logits_i, 0)

Besides ``loss`` the head returns the mean positive, queue and NDA logits so that a training
log shows what NDA does (NDA logits should fall below the positive as training goes on).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from nda_core._checks import check_positive
from nda_core.errors import UsageError
from nda_core.losses import info_nce_logits

__all__ = ["NDAContrastiveHead", "LOG_KEYS"]

#: Keys of the logged logit means (not losses: mmengine sums only keys containing "loss").
LOG_KEYS = ("logit_pos", "logit_queue", "logit_nda")
_CROSS_ENTROPY_SUFFIX = "CrossEntropyLoss"
_PLAIN_LOSS_WEIGHT = 1.0


def _check_loss_cfg(loss: Any) -> None:
    """Accept the plain cross-entropy that mmselfsup's MoCo configs name, and nothing else."""
    if loss is None:
        return
    loss_type = loss.get("type", "") if isinstance(loss, dict) else loss
    options = (
        {key: value for key, value in loss.items() if key not in ("type", "_scope_")} if isinstance(loss, dict) else {}
    )
    plain = options in ({}, {"loss_weight": _PLAIN_LOSS_WEIGHT})
    if not (isinstance(loss_type, str) and loss_type.endswith(_CROSS_ENTROPY_SUFFIX) and plain):
        raise UsageError(
            f"NDAContrastiveHead got loss={loss!r}; it always computes the plain cross-entropy of "
            f"nda_core.nda_info_nce. Remove 'loss' from head=dict(...) or set "
            f"loss=dict(type='mmcls.CrossEntropyLoss')."
        )


class NDAContrastiveHead(BaseModule):
    """Cross-entropy over ``[positive | queue | NDA] / T`` with the positive at index 0.

    Args:
        temperature: softmax temperature T (paper: 0.07 on CIFAR, 0.2 on ImageNet-100).
        loss: accepted only as the plain cross-entropy (so mmselfsup's MoCo base configs,
            which set ``loss=dict(type='mmcls.CrossEntropyLoss')``, can be inherited).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, temperature: float = 0.07, loss: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.temperature = check_positive(
            temperature, "NDAContrastiveHead temperature", "The paper uses 0.07 (CIFAR) or 0.2 (ImageNet-100)."
        )
        _check_loss_cfg(loss)

    def logits(
        self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor | None, nda: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, 1 + K + M) logits; q, k (B, D), queue (K, D), nda (B, M, D)."""
        return info_nce_logits(q, k, queue, nda, self.temperature, queue_layout="KD")

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        queue: torch.Tensor | None = None,
        nda: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Return ``loss`` and the logged means ``logit_pos``, ``logit_queue``, ``logit_nda``."""
        logits = self.logits(q, k, queue, nda)
        targets = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        out = {"loss": F.cross_entropy(logits, targets)}
        queue_size = 0 if queue is None else queue.shape[0]
        with torch.no_grad():
            out["logit_pos"] = logits[:, 0].mean()
            if queue_size:
                out["logit_queue"] = logits[:, 1 : 1 + queue_size].mean()
            if nda is not None:
                out["logit_nda"] = logits[:, 1 + queue_size :].mean()
        return out

    # mmpretrain 1.x heads are called through ``head.loss(...)``.
    loss = forward

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
