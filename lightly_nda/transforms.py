"""NDA views for lightly's transform pipelines, and the batch path used inside ``training_step``.

Where each NDA is offered:

* **Batch path** (recommended): ``nda_core.transforms.nda_views`` / ``nda_embeddings`` (and ``NDAMoCo(nda=...)``,
  ``NDASimCLR(nda=...)``) apply any ``nda_core`` spec to the batch tensor on its device inside
  ``training_step``: every NDA, including the two-image ones (``stitch``, ``cutmix``, ``mixup``)
  that pair each image with another image of the batch, and mixtures. The NDA images are made
  from the very views the model trains on, as in the paper.
* **Pipeline** (``NDAView``), one image at a time inside ``MultiViewTransform``: single-image NDAs
  only (``jigsaw``, ``cutout``, ``vflip``, ``noise``, ``other_dataset``, ``other_classes`` and
  mixtures / ``noisy`` of those). A per-image pipeline has no partner image, so a two-image NDA
  raises ``ValueError`` pointing to the batch path. ``NDAMoCo`` and ``NDASimCLR`` treat every view
  after the first two as NDA negatives of its sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from nda_core._checks import check_int, check_tensor
from nda_core.errors import UsageError, UsageTypeError
from nda_core.transforms import (
    CONTRASTIVE_NDA_VIEWS,
    apply_to_array,
    build_entry,
    build_single_image,
    nda_views,
    per_sample_views,
)

__all__ = ["NDAView", "add_nda_views", "nda_embeddings"]

_IMAGE_RANK = 3  # (C, H, W)
_PIL_MODES = ("RGB", "L", "RGBA")  # other modes (palette, CMYK, ...) are converted to RGB first


class NDAView:
    """One more view for ``MultiViewTransform``: replaces an image by an NDA of it.

    Works on PIL images (returns a PIL image of the same mode and size) and on tensors (C, H, W)
    or (B, C, H, W), float or uint8 (returns a tensor of the same shape, dtype and device).
    Place it after a view transform to get an NDA of an augmented view::

        view = MoCoV2Transform(input_size=32).transforms[0]
        transform = MultiViewTransform([view, view, T.Compose([view, NDAView("jigsaw")])])

    Args:
        nda: an ``nda_core`` spec of a single-image NDA, e.g. ``"jigsaw"`` or ``{"type": "jigsaw", "k": 2}``.
        generator: optional ``torch.Generator`` for reproducible draws (per dataloader worker,
            seed it in ``worker_init_fn``); the global generator when None.
    """

    def __init__(self, nda: Any = "jigsaw", generator: torch.Generator | None = None) -> None:
        self.nda = build_single_image(
            nda,
            "NDAView nda",
            f"NDAMoCo(nda={nda!r}) / NDASimCLR(nda={nda!r}), or lightly_nda.nda_embeddings(..., nda={nda!r}) "
            "inside training_step",
        )
        self.generator = generator

    def __call__(self, image: Any) -> Any:
        if isinstance(image, torch.Tensor):
            return self._tensor(image)
        if isinstance(image, Image.Image):
            return self._pil(image)
        raise UsageTypeError(
            f"NDAView expects a PIL image or a tensor (C, H, W), got {type(image).__name__}; place it after "
            f"T.ToTensor() or before any transform that changes the type."
        )

    def _tensor(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() == _IMAGE_RANK:
            return self.nda(image.unsqueeze(0), generator=self.generator)[0]
        return self.nda(image, generator=self.generator)

    def _pil(self, image: Image.Image) -> Image.Image:
        if image.mode not in _PIL_MODES:
            image = image.convert("RGB")
        out = apply_to_array(self.nda, np.array(image), self.generator)  # np.array: a writable copy
        return Image.fromarray(np.ascontiguousarray(out))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nda={self.nda!r})"


def add_nda_views(transform: Any, nda: Any = "jigsaw", num_views: int = 1, source: int = 0) -> Any:
    """A ``MultiViewTransform`` with ``num_views`` NDA views appended to ``transform``'s views.

    Each NDA view is ``T.Compose([transform.transforms[source], NDAView(nda)])``: an NDA of a
    freshly augmented view. Works with ``MoCoV2Transform``, ``SimCLRTransform`` and any
    ``MultiViewTransform``.
    """
    from lightly.transforms.multi_view_transform import MultiViewTransform
    from lightly.transforms.torchvision_v2_compatibility import torchvision_transforms as T

    if not isinstance(transform, MultiViewTransform):
        raise UsageTypeError(
            f"add_nda_views needs a lightly MultiViewTransform (e.g. MoCoV2Transform(input_size=32)), "
            f"got {type(transform).__name__}."
        )
    check_int(num_views, "num_views", 1, hint="add at least one NDA view.")
    views = list(transform.transforms)
    check_int(source, "source", 0, hint=f"it indexes the {len(views)} views of the transform.", high=len(views) - 1)
    nda_view = NDAView(nda)
    return MultiViewTransform(views + [T.Compose([views[source], nda_view]) for _ in range(num_views)])


def nda_embeddings(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x_query: torch.Tensor,
    x_key: torch.Tensor | None = None,
    nda: Any = "jigsaw",
    num_views: int = CONTRASTIVE_NDA_VIEWS,
    extra_views: Sequence[torch.Tensor] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, M, D) embeddings of NDA images of each sample's own views, for ``NDANTXentLoss(nda=...)``.

    Makes ``num_views`` NDA images per sample on the device (alternating the query and the key
    view), appends ``extra_views`` (NDA views from the pipeline, each (B, C, H, W)), encodes them
    all in one call of ``encode`` (e.g. the momentum encoder) and returns them as
    M = num_views + len(extra_views) embeddings per sample.

    The change to lightly's MoCo example::

        loss = self.criterion(query, key, nda=nda_embeddings(self.forward_momentum, x_query, x_key))
    """
    batch = check_tensor(x_query, "x_query").shape[0]
    if x_key is not None and check_tensor(x_key, "x_key").shape[0] != batch:
        raise UsageError(
            f"x_key has batch size {x_key.shape[0]} but x_query has {batch}: pass the two views of the same samples "
            f"(x_query[i] and x_key[i] are views of image i)."
        )
    transform = build_entry(nda, "nda_embeddings nda")
    views = [x_query] if x_key is None else [x_query, x_key]
    chunks = [nda_views(transform, views, num_views, generator)] if num_views else []
    for i, view in enumerate(extra_views):
        if check_tensor(view, f"extra_views[{i}]").shape[0] != batch:
            raise UsageError(
                f"extra_views[{i}] has batch size {view.shape[0]} but x_query has {batch}; one NDA view per sample."
            )
        chunks.append(view)
    if not chunks:
        raise UsageError(
            "nda_embeddings got num_views=0 and no extra_views: there is nothing to embed; pass num_views >= 1."
        )
    embeddings = encode(torch.cat(chunks))
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 or embeddings.shape[0] % batch:
        got = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise UsageError(f"encode must return (M * B, D) embeddings, got {got} for B={batch}; flatten its output.")
    return per_sample_views(embeddings, batch)
