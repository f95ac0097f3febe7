"""mmselfsup 1.x edge: ``NDAMoCo`` on mmselfsup's ``MoCo`` and registration of the components."""

from __future__ import annotations

from mmselfsup.models.algorithms import MoCo
from mmselfsup.registry import MODELS, TRANSFORMS
from mmselfsup.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from mmselfsup_nda.nda_moco import NDAMoCoMixin, register_components

__all__ = ["NDAMoCo", "register"]


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


def register() -> None:
    """Register NDAMoCo, NDAContrastiveHead and NDAView into mmselfsup's registries."""
    register_components(MODELS, TRANSFORMS, NDAMoCo)
