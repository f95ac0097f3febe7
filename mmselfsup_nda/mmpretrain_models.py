"""mmpretrain 1.2 edge: ``NDAMoCo`` on ``mmpretrain.models.selfsup.MoCo`` and registration."""

from __future__ import annotations

from typing import Any

import torch
from mmpretrain.models.selfsup import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS, TRANSFORMS

from mmselfsup_nda.head import NDAContrastiveHead
from mmselfsup_nda.nda_moco import DEFAULT_NDA_VIEWS, NDAMoCoMixin
from mmselfsup_nda.transforms import NDAView

__all__ = ["NDAMoCo"]


class NDAMoCo(NDAMoCoMixin, MoCo):
    """MoCo-v2 (mmpretrain) with NDA negatives; arguments as ``mmselfsup_nda.NDAMoCo``.

    Note mmpretrain's ``momentum`` is the EMA update weight (default 0.001), not 0.999.
    """

    _shuffle = staticmethod(batch_shuffle_ddp)
    _unshuffle = staticmethod(batch_unshuffle_ddp)

    def __init__(
        self, nda: Any = None, nda_encoder: str = "key", num_nda_views: int = DEFAULT_NDA_VIEWS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._init_nda(nda, nda_encoder, num_nda_views)

    def loss(self, inputs: list[torch.Tensor], data_samples: list, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Training forward: the NDA InfoNCE loss and the logged logit means."""
        return self.nda_loss(inputs)


def register() -> None:
    """Register NDAMoCo, NDAContrastiveHead and NDAView into mmpretrain's registries."""
    MODELS.register_module(name="NDAMoCo", module=NDAMoCo, force=True)
    MODELS.register_module(name="NDAContrastiveHead", module=NDAContrastiveHead, force=True)
    TRANSFORMS.register_module(name="NDAView", module=NDAView, force=True)
