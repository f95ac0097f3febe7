"""Small DCGAN-style generator and spectrally normalised discriminator for 32x32 (or 16/64 px) images.

The discriminator ends in global sum pooling followed by a small MLP: summing per-location
features lets it measure "how much of a pattern" an image holds (e.g. how many dots), and the
MLP after the pooling lets it score a count non-monotonically (six good, five and seven bad).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from nda_core._checks import check_int
from nda_core.errors import UsageError

__all__ = ["Generator", "Discriminator", "LATENT_DIM", "BASE_WIDTH"]

#: Size of the generator's latent code z ~ N(0, I).
LATENT_DIM = 64
#: Channel width of the smallest layers; wider layers are multiples of it.
BASE_WIDTH = 32
#: Spatial side of the generator's first feature map.
START_SIDE = 4
#: Slope of the discriminator's leaky ReLUs.
LEAKY_SLOPE = 0.2
#: Hidden width of the discriminator's head MLP after the sum pooling.
HEAD_WIDTH = 128


def _doublings(image_size: int) -> int:
    check_int(image_size, "image_size", 2 * START_SIDE, hint="use a power of two such as 16, 32 or 64.")
    steps = math.log2(image_size / START_SIDE)
    if steps != int(steps):
        raise UsageError(f"image_size must be a power of two >= {2 * START_SIDE} (16, 32, 64 ...), got {image_size!r}.")
    return int(steps)


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1]."""

    def __init__(
        self, image_size: int = 32, channels: int = 1, latent_dim: int = LATENT_DIM, width: int = BASE_WIDTH
    ) -> None:
        super().__init__()
        doublings = _doublings(image_size)
        self.latent_dim = latent_dim
        top = width * 2 ** (doublings - 1)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, top * START_SIDE * START_SIDE),
            nn.BatchNorm1d(top * START_SIDE * START_SIDE),
            nn.ReLU(),
        )
        self.top = top
        layers: list[nn.Module] = []
        in_width = top
        for step in range(doublings):
            out_width = max(width, top // 2 ** (step + 1))
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(in_width, out_width, 3, padding=1),
                nn.BatchNorm2d(out_width),
                nn.ReLU(),
            ]
            in_width = out_width
        layers += [nn.Conv2d(in_width, channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = self.project(z).view(z.shape[0], self.top, START_SIDE, START_SIDE)
        return self.body(features)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from fresh latent codes (no gradients, current mode kept)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        with torch.no_grad():
            return self(z)


class Discriminator(nn.Module):
    """images (B, channels, S, S) -> scores (B,); spectral norm on every layer, sum pooling, MLP head."""

    def __init__(self, image_size: int = 32, channels: int = 1, width: int = BASE_WIDTH) -> None:
        super().__init__()
        doublings = _doublings(image_size)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(LEAKY_SLOPE)]
        in_width = width
        # halve the resolution down to START_SIDE, widening as we go
        for step in range(doublings):
            out_width = width * 2 ** min(step + 1, 3)
            layers += [
                spectral_norm(nn.Conv2d(in_width, out_width, 4, stride=2, padding=1)),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
            in_width = out_width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            spectral_norm(nn.Linear(in_width, HEAD_WIDTH)),
            nn.LeakyReLU(LEAKY_SLOPE),
            spectral_norm(nn.Linear(HEAD_WIDTH, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).sum(dim=(2, 3))
        return self.head(pooled).flatten()
