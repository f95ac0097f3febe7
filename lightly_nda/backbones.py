"""Backbones for small images, built from lightly's own CIFAR ResNet (``lightly.models.ResNetGenerator``)."""

from __future__ import annotations

from torch import nn

from nda_core._checks import check_choice, check_positive

__all__ = ["cifar_resnet", "RESNETS"]

RESNETS = ("resnet-9", "resnet-18", "resnet-34", "resnet-50")


def cifar_resnet(name: str = "resnet-18", width: float = 1.0) -> tuple[nn.Module, int]:
    """A CIFAR ResNet (3x3 stem, no max-pool) from lightly without its classifier.

    Returns ``(backbone, feature_dim)``: the backbone maps (B, 3, H, W) to (B, feature_dim, 1, 1)
    (global average pooling), as the backbones of lightly's examples do.
    """
    from lightly.models import ResNetGenerator

    check_choice(name, "name", RESNETS, "resnet-18 is lightly's CIFAR benchmark backbone; resnet-9 is the smallest.")
    width = check_positive(width, "width", "1.0 is the standard width; 0.25 gives a 16-channel stem for CPU runs.")
    resnet = ResNetGenerator(name, width=width)
    backbone = nn.Sequential(
        resnet.conv1,
        resnet.bn1,
        nn.ReLU(inplace=True),  # lightly's ResNet applies this ReLU in forward(), not as a child module
        resnet.layer1,
        resnet.layer2,
        resnet.layer3,
        resnet.layer4,
        nn.AdaptiveAvgPool2d(1),
    )
    return backbone, resnet.linear.in_features
