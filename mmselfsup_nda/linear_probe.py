"""``FeatureBatchNorm``: standardise frozen, pooled features before a linear classifier.

A linear probe on frozen features trains well only at a learning rate matched to the features'
scale: the NDA paper's lr 10 (batch 256) suits a fully trained MoCo encoder, while a briefly
trained one has pooled features with a large shared mean (measured on the CPU smoke checkpoint:
norm about 11, per-dimension std 0.6) and the same rule (lr 1.25 at batch 32) diverges. A
``BatchNorm1d`` without learnable parameters in front of the classifier (MAE's linear probing, and
mmselfsup's ``ClsBatchNormNeck`` for ViTs) removes that dependence; the classifier stays linear
in the features. Use it after the pooling neck::

    neck=[dict(type='GlobalAveragePooling'), dict(type='mmselfsup.FeatureBatchNorm', num_features=512)]
"""

from __future__ import annotations

import torch
from mmengine.model import BaseModule
from torch import nn

from nda_core._checks import check_int

__all__ = ["FeatureBatchNorm"]


class FeatureBatchNorm(BaseModule):
    """``BatchNorm1d(num_features, affine=False)`` on each (B, num_features) tensor of a neck's tuple.

    Args:
        num_features: feature dimension (the backbone's output channels after pooling).
        eps: added to the variance (MAE and mmselfsup use 1e-6).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, num_features: int, eps: float = 1e-6, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_int(num_features, "FeatureBatchNorm num_features", 1, hint="Pass the channels of the pooled features.")
        self.bn = nn.BatchNorm1d(num_features, affine=False, eps=eps)

    def forward(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(self.bn(features) for features in inputs)
