"""``NDAView``: a per-sample NDA step for mmselfsup / mmpretrain data pipelines.

Where each NDA is offered:

* In the model (``NDAMoCo(nda=...)``), on the batch tensor on the device: every ``nda_core``
  NDA, including the two-image ones (``stitch``, ``cutmix``, ``mixup``) that pair each image
  with another image of the batch, and mixtures. This is the recommended place: it is fast
  and makes NDA views of the very query and key images, as the paper does.
* In the data pipeline (``NDAView``), on one image at a time: only single-image NDAs
  (``jigsaw``, ``cutout``, ``vflip``, ``noise``, ``other_dataset``, ``other_classes``, and
  mixtures/``noisy`` of those). A per-sample pipeline has no partner image, so a two-image
  NDA raises ``UsageError`` (a ``ValueError``) here. Put ``NDAView`` at the end of an extra ``MultiView`` branch;
  ``NDAMoCo`` treats every input after the first two as NDA negatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform

from nda_core.errors import UsageTypeError
from nda_core.transforms import apply_to_array, build_single_image

__all__ = ["NDAView"]

_IMAGE_KEY = "img"


class NDAView(BaseTransform):
    """Replace ``results['img']`` (H, W[, C] array) by an NDA of it.

    Args:
        nda: an ``nda_core`` spec of a single-image NDA, e.g. ``dict(type='jigsaw', k=2)``.

    Example (three views: query, key, jigsaw of a third augmented view)::

        dict(type='MultiView', num_views=[2, 1],
             transforms=[view_pipeline, view_pipeline + [dict(type='NDAView', nda=dict(type='jigsaw'))]])
    """

    def __init__(self, nda: Any = "jigsaw") -> None:
        self.nda = build_single_image(nda, "NDAView nda", f"model=dict(type='NDAMoCo', nda={nda!r}) in the model")

    def transform(self, results: dict) -> dict:
        image = results[_IMAGE_KEY]
        if not isinstance(image, np.ndarray):
            raise UsageTypeError(
                f"NDAView expects results['img'] to be a numpy array (H, W[, C]), got {type(image).__name__}; "
                f"place NDAView before PackSelfSupInputs / PackInputs."
            )
        results[_IMAGE_KEY] = apply_to_array(self.nda, image)
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nda={self.nda!r})"
