"""mmpretrain 1.2 edge: ``NDAMoCo`` on ``mmpretrain.models.selfsup.MoCo``, ``CIFAR10Folder`` on its
``CustomDataset``, and registration."""

from __future__ import annotations

from mmpretrain.datasets import CustomDataset
from mmpretrain.models.selfsup import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import DATASETS, MODELS, TRANSFORMS

from mmselfsup_nda.data import CIFAR10FolderMixin
from mmselfsup_nda.nda_moco import NDAMoCoMixin, register_components
from mmselfsup_nda.registration import register as register_component

__all__ = ["CIFAR10Folder", "NDAMoCo", "register"]


class NDAMoCo(NDAMoCoMixin, MoCo):
    """MoCo-v2 (mmpretrain) with NDA negatives; arguments as ``mmselfsup_nda.NDAMoCo``.

    Note mmpretrain's ``momentum`` is the EMA update weight (default 0.001), not 0.999.
    """

    _shuffle = staticmethod(batch_shuffle_ddp)
    _unshuffle = staticmethod(batch_unshuffle_ddp)


class CIFAR10Folder(CIFAR10FolderMixin, CustomDataset):
    """mmpretrain ``CustomDataset`` over the CIFAR-10 image folders; a missing ``data_root`` is a one-line
    ``UsageError`` that names ``NDA_CIFAR10_ROOT`` and ``nda data cifar10`` (see :mod:`mmselfsup_nda.data`)."""


def register() -> None:
    """Register NDAMoCo, NDAContrastiveHead, FeatureBatchNorm, NDAView and CIFAR10Folder into mmpretrain's
    registries."""
    register_components(MODELS, TRANSFORMS, NDAMoCo)
    register_component(DATASETS, "CIFAR10Folder", CIFAR10Folder)
