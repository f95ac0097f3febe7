"""mmpretrain 1.2 edge: ``NDAMoCo`` on ``mmpretrain.models.selfsup.MoCo`` and registration."""

from __future__ import annotations

from mmpretrain.models.selfsup import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS, TRANSFORMS

from mmselfsup_nda.nda_moco import NDAMoCoMixin, register_components

__all__ = ["NDAMoCo", "register"]


class NDAMoCo(NDAMoCoMixin, MoCo):
    """MoCo-v2 (mmpretrain) with NDA negatives; arguments as ``mmselfsup_nda.NDAMoCo``.

    Note mmpretrain's ``momentum`` is the EMA update weight (default 0.001), not 0.999.
    """

    _shuffle = staticmethod(batch_shuffle_ddp)
    _unshuffle = staticmethod(batch_unshuffle_ddp)


def register() -> None:
    """Register NDAMoCo, NDAContrastiveHead and NDAView into mmpretrain's registries."""
    register_components(MODELS, TRANSFORMS, NDAMoCo)
