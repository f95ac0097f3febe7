"""mmselfsup 1.x edge: ``NDAMoCo`` on mmselfsup's ``MoCo`` and registration of the components."""

from __future__ import annotations

from typing import Any

import torch
from mmselfsup.models.algorithms import MoCo
from mmselfsup.registry import MODELS, TRANSFORMS
from mmselfsup.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from mmselfsup_nda.head import NDAContrastiveHead
from mmselfsup_nda.nda_moco import DEFAULT_NDA_VIEWS, NDAMoCoMixin
from mmselfsup_nda.transforms import NDAView

__all__ = ["NDAMoCo"]


class NDAMoCo(NDAMoCoMixin, MoCo):
    """MoCo-v2 (mmselfsup) with NDA negatives.

    Args:
        nda: ``nda_core`` spec of the NDA made on the batch, e.g. ``dict(type='jigsaw', k=2)``,
            any NDA including mixtures; None uses only NDA views made by the pipeline (inputs
            after the first two) and is plain MoCo-v2 when there are none.
        nda_encoder: ``'key'`` (momentum encoder, no gradient; default) or ``'query'``.
        num_nda_views: NDA images per query, alternating NDA(query image), NDA(key image).
        **kwargs: everything mmselfsup's ``MoCo`` takes (backbone, neck, head, queue_len, ...).
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
    """Register NDAMoCo, NDAContrastiveHead and NDAView into mmselfsup's registries."""
    MODELS.register_module(name="NDAMoCo", module=NDAMoCo, force=True)
    MODELS.register_module(name="NDAContrastiveHead", module=NDAContrastiveHead, force=True)
    TRANSFORMS.register_module(name="NDAView", module=NDAView, force=True)
