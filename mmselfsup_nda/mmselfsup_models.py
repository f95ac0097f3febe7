"""mmselfsup 1.x edge: ``NDAMoCo`` on mmselfsup's ``MoCo``, ``CIFAR10Folder`` on mmcls's ``CustomDataset``
(the dataset mmselfsup 1.x configs use), and registration of the components."""

from __future__ import annotations

from mmcls.datasets import CustomDataset
from mmcls.registry import DATASETS
from mmselfsup.models.algorithms import MoCo
from mmselfsup.registry import MODELS, TRANSFORMS
from mmselfsup.utils import batch_shuffle_ddp, batch_unshuffle_ddp

from mmselfsup_nda.data import CIFAR10FolderMixin
from mmselfsup_nda.nda_moco import NDAMoCoMixin, register_components
from mmselfsup_nda.registration import register as register_component

__all__ = ["CIFAR10Folder", "NDAMoCo", "register"]


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


class CIFAR10Folder(CIFAR10FolderMixin, CustomDataset):
    """mmcls ``CustomDataset`` over the CIFAR-10 image folders; a missing ``data_root`` is a one-line
    ``UsageError`` that names ``NDA_CIFAR10_ROOT`` and ``nda data cifar10`` (see :mod:`mmselfsup_nda.data`)."""


def register() -> None:
    """Register NDAMoCo, NDAContrastiveHead, FeatureBatchNorm and NDAView into mmselfsup's registries and
    CIFAR10Folder into mmcls's (``type='mmcls.CIFAR10Folder'``, where mmselfsup configs name mmcls's datasets)."""
    register_components(MODELS, TRANSFORMS, NDAMoCo)
    register_component(DATASETS, "CIFAR10Folder", CIFAR10Folder)
