"""``NDASimCLR``: SimCLR as lightly's examples build it, with NDA negatives.

Built like lightly's ``examples/pytorch_lightning/simclr.py``: a backbone, lightly's
``SimCLRProjectionHead`` and ``NDANTXentLoss`` without a memory bank. Both rows of sample i (the
row of x0_i and the row of x1_i) get the sample's M NDA embeddings as extra negatives beside the
2N - 2 in-batch negatives (gathered across ranks with ``gather_distributed=True``; NDA embeddings
stay on their rank and belong to their own sample only).
"""

from __future__ import annotations

from typing import Any

import torch
from lightly.models.modules import SimCLRProjectionHead
from torch import nn

from lightly_nda._module import BackboneSpec, NDAContrastiveModule, NDASpec
from lightly_nda.loss import NDANTXentLoss
from nda_core._checks import check_int
from nda_core.transforms import CONTRASTIVE_NDA_VIEWS

__all__ = ["NDASimCLR"]


class NDASimCLR(NDAContrastiveModule):
    """SimCLR LightningModule with per-sample NDA negatives.

    Args:
        backbone, feature_dim, nda, num_nda_views, num_classes, lr, weight_decay, width: as for ``NDAMoCo``.
        nda_encoder: ``"no_grad"`` (the trained encoder without gradient: one extra forward pass
            per NDA image, the paper's cost) or ``"query"`` (with gradient, as SimCLR's in-batch
            negatives have).
        temperature: NT-Xent temperature (lightly's default 0.5).
        hidden_dim, projection_dim: sizes of the ``SimCLRProjectionHead``.
        gather_distributed: in-batch negatives from every rank (lightly's option).
    """

    nda_encoders = ("no_grad", "query")

    def __init__(
        self,
        backbone: BackboneSpec = None,
        feature_dim: int | None = None,
        nda: NDASpec = "jigsaw",
        num_nda_views: int = CONTRASTIVE_NDA_VIEWS,
        nda_encoder: str = "no_grad",
        temperature: float = 0.5,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        gather_distributed: bool = False,
        num_classes: int | None = None,
        lr: float = 0.06,
        weight_decay: float = 5e-4,
        width: float = 1.0,
    ) -> None:
        super().__init__(backbone, feature_dim, nda, num_nda_views, nda_encoder, num_classes, lr, weight_decay, width)
        self.save_hyperparameters(ignore=["backbone", "nda"])
        self._describe_inputs(backbone, nda)  # checkpoint-safe (primitive types only)
        hidden_dim = check_int(hidden_dim, "hidden_dim", 1)
        projection_dim = check_int(projection_dim, "projection_dim", 1)
        self.projection_head = SimCLRProjectionHead(self.feature_dim, hidden_dim, projection_dim)
        self.criterion = NDANTXentLoss(temperature, 0, gather_distributed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projections (B, projection_dim)."""
        return self.projection_head(self.backbone(x).flatten(start_dim=1))

    def embed_nda(self, images: torch.Tensor) -> torch.Tensor:
        if self.nda_encoder == "query":
            return self.forward(images)
        with torch.no_grad():
            return self.forward(images)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        views, targets = self.split_batch(batch)
        x0, x1 = views[0], views[1]
        features = self.backbone(x0).flatten(start_dim=1)
        z0 = self.projection_head(features)
        z1 = self.forward(x1)
        loss = self.criterion(z0, z1, nda=self.nda_negatives(views))
        self.log_step(loss, x0.shape[0])
        cls_loss = self.online_step(features, targets, batch_idx)
        return loss if cls_loss is None else loss + cls_loss

    def trained_modules(self) -> list[nn.Module]:
        return [self.backbone, self.projection_head]
