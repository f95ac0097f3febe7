"""nda_core: Negative Data Augmentation (Sinha et al., ICLR 2021) on batched tensors.

The one core that every framework adapter of nda-plugins shares: NDA transforms on image
batches (B, C, H, W) and clip batches (B, C, T, H, W), the NDA-GAN discriminator losses,
the NDA InfoNCE loss and evaluation metrics. Depends only on torch and numpy.

Example:
    >>> import torch, nda_core
    >>> nda_core.available()[:3]
    ['cutmix', 'cutout', 'jigsaw']
    >>> jigsaw = nda_core.build({"type": "jigsaw", "k": 2})
    >>> jigsaw(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 3, 32, 32])
"""

from nda_core import functional, losses, metrics
from nda_core.losses import (
    NDADiscriminatorLoss,
    NDAInfoNCELoss,
    generator_loss,
    nda_discriminator_loss,
    nda_info_nce,
)
from nda_core.transforms import NDATransform, Params, available, build, build_entry, register, registered

__version__ = "0.1.0"

__all__ = [
    "NDADiscriminatorLoss",
    "NDAInfoNCELoss",
    "NDATransform",
    "Params",
    "available",
    "build",
    "build_entry",
    "functional",
    "generator_loss",
    "losses",
    "metrics",
    "nda_discriminator_loss",
    "nda_info_nce",
    "register",
    "registered",
]
