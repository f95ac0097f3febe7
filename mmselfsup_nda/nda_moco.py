"""The NDA part of NDA-MoCo-v2, shared by the mmselfsup and the mmpretrain models.

For every query image the model builds ``num_nda_views`` NDA images on the device from the
batch (views alternate between the query image and the key image, as in the paper), encodes
them (default: momentum encoder, no gradient, batch-shuffled like the keys), and gives them to
:class:`~mmselfsup_nda.head.NDAContrastiveHead` as per-sample negatives beside the queue.
Only the positive keys are enqueued; NDA features never are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmselfsup_nda.head import NDAContrastiveHead
from mmselfsup_nda.registration import register
from nda_core._checks import check_choice, check_int
from nda_core.errors import UsageError, UsageTypeError
from nda_core.random import RankGenerator
from nda_core.transforms import CONTRASTIVE_NDA_VIEWS, build_entry, nda_views, per_sample_views

__all__ = ["NDA_ENCODERS", "NDAMoCoMixin", "register_components"]

#: ``key``: momentum encoder without gradients (paper's cost); ``query``: the trained encoder.
NDA_ENCODERS = ("key", "query")
_MOCO_INPUTS = 2  # query and key views; further inputs are NDA views made by the pipeline


class NDAMoCoMixin:
    """Adds NDA negatives to a MoCo model; needs ``backbone``, ``neck``, ``head``, ``encoder_k``,
    ``queue`` and ``_dequeue_and_enqueue`` from the framework's ``MoCo`` and ``_shuffle`` /
    ``_unshuffle`` batch-shuffle functions from the subclass."""

    _shuffle: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    _unshuffle: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    backbone: nn.Module
    neck: nn.Module
    head: nn.Module
    encoder_k: nn.Module
    queue: torch.Tensor

    def __init__(
        self, nda: Any = None, nda_encoder: str = "key", num_nda_views: int = CONTRASTIVE_NDA_VIEWS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)  # the framework's MoCo
        self._init_nda(nda, nda_encoder, num_nda_views)

    def loss(self, inputs: list[torch.Tensor], data_samples: list, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Training forward: the NDA InfoNCE loss and the logged logit means."""
        return self.nda_loss(inputs)

    def _init_nda(self, nda: Any, nda_encoder: str, num_nda_views: int) -> None:
        self.nda_spec = nda  # as the config wrote it, for error messages
        # A submodule (it has no weights), so that it follows the model across devices.
        self.nda = None if nda is None else build_entry(nda, "model nda")
        encoder_hint = "'key' (default) encodes NDA images with the momentum encoder as the paper does."
        check_choice(nda_encoder, "model nda_encoder", NDA_ENCODERS, encoder_hint)
        views_hint = "The paper uses 2 (one NDA of the query image, one of the key image)."
        check_int(num_nda_views, "model num_nda_views", 1, hint=views_hint)
        if not isinstance(self.head, NDAContrastiveHead):
            raise UsageTypeError(
                f"NDAMoCo needs head=dict(type='NDAContrastiveHead', temperature=...), got "
                f"{type(self.head).__name__}; set model.head.type='NDAContrastiveHead'."
            )
        self.nda_encoder = nda_encoder
        self.num_nda_views = num_nda_views
        self.nda_generator = RankGenerator()  # the global RNG in one process, seed + rank under DDP

    @torch.no_grad()
    def _momentum_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised momentum-encoder features, batch-shuffled across ranks as MoCo does for BN."""
        shuffled, idx_unshuffle = type(self)._shuffle(images)
        features = F.normalize(self.encoder_k(shuffled)[0], dim=1)
        return type(self)._unshuffle(features, idx_unshuffle)

    @torch.no_grad()
    def make_nda_images(self, im_q: torch.Tensor, im_k: torch.Tensor) -> torch.Tensor:
        """(num_nda_views * B, C, H, W): view v is an NDA of the query (v even) or key (v odd) image."""
        generator = self.nda_generator(im_q.device)
        return nda_views(self.nda, [im_q, im_k], self.num_nda_views, generator, named=f"model nda={self.nda_spec!r}")

    def _nda_features(
        self, im_q: torch.Tensor, im_k: torch.Tensor, extra_views: list[torch.Tensor]
    ) -> torch.Tensor | None:
        """(B, M, D) normalised features of the NDA views, or None without NDA."""
        chunks = []
        if self.nda is not None:
            chunks.append(self.make_nda_images(im_q, im_k))
        chunks += list(extra_views)
        if not chunks:
            return None
        images = torch.cat(chunks)
        if self.nda_encoder == "key":
            features = self._momentum_features(images)
        else:
            features = F.normalize(self.neck(self.backbone(images))[0], dim=1)
        batch = im_q.shape[0]
        return per_sample_views(features, batch)

    def nda_loss(self, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """MoCo-v2 step with NDA negatives; returns the head's loss and logit means."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) < _MOCO_INPUTS:
            raise UsageError(
                f"NDAMoCo needs at least 2 views per image (query, key), got "
                f"{len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__}; use "
                f"dict(type='MultiView', num_views=2, ...) in the train pipeline."
            )
        im_q, im_k = inputs[0], inputs[1]
        q = F.normalize(self.neck(self.backbone(im_q))[0], dim=1)
        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            k = self._momentum_features(im_k)
        nda = self._nda_features(im_q, im_k, list(inputs[_MOCO_INPUTS:]))
        # (K, D) copy: contiguous rows normalise fast, and the enqueue below cannot alias it
        out = self.head(q, k, self.queue.detach().t().contiguous(), nda)
        self._dequeue_and_enqueue(k)  # positive keys only: NDA features never enter the queue
        return out


def register_components(models: Any, transforms: Any, nda_moco: type) -> None:
    """Register ``nda_moco``, NDAContrastiveHead, FeatureBatchNorm and NDAView into a framework's
    registries (warning where that replaces a component of the same name that is not ours)."""
    from mmselfsup_nda.linear_probe import FeatureBatchNorm
    from mmselfsup_nda.transforms import NDAView

    register(models, "NDAMoCo", nda_moco)
    register(models, "NDAContrastiveHead", NDAContrastiveHead)
    register(models, "FeatureBatchNorm", FeatureBatchNorm)
    register(transforms, "NDAView", NDAView)
