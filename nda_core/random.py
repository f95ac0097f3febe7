"""Parameter draws for the NDA transforms, all from an explicit ``torch.Generator``.

Draws happen on the generator's device (the CPU when no generator is given) and are small:
one row of integers or floats per sample.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Rounds of vectorised redraws for the rare identity permutation before the remaining rows get
# a random transposition; the chance of needing it is (1 / (k*k)!) ** rounds.
IDENTITY_REDRAW_ROUNDS = 32


def generator_device(generator: torch.Generator | None) -> torch.device:
    """Device on which parameters drawn with ``generator`` live."""
    return torch.device("cpu") if generator is None else generator.device


def uniform_integers(low: torch.Tensor, high: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One integer per entry, uniform on the closed range [low, high] (elementwise)."""
    low = low.long()
    high = high.long()
    u = torch.rand(low.shape, generator=generator, device=generator_device(generator), dtype=torch.float64)
    span = (high - low + 1).to(u.device)
    return low.to(u.device) + torch.minimum((u * span).long(), span - 1)


def partners(
    self_index: torch.Tensor, source_size: int, generator: torch.Generator | None
) -> torch.Tensor:
    """For every sample a partner index uniform on ``range(source_size)`` minus its own index."""
    device = generator_device(generator)
    draw = torch.randint(0, source_size - 1, self_index.shape, generator=generator, device=device)
    self_index = self_index.to(device)
    return draw + (draw >= self_index).long()


def non_identity_permutations(batch: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """(batch, n) permutations of ``range(n)``, uniform over all permutations but the identity."""
    if n < 2:
        raise ValueError(f"a non-identity permutation needs at least 2 items, got n={n}; use k >= 2.")
    device = generator_device(generator)
    identity = torch.arange(n, device=device)
    perms = torch.rand(batch, n, generator=generator, device=device).argsort(dim=1)
    for _ in range(IDENTITY_REDRAW_ROUNDS):
        bad = (perms == identity).all(dim=1)
        count = int(bad.sum())
        if count == 0:
            return perms
        perms[bad] = torch.rand(count, n, generator=generator, device=device).argsort(dim=1)
    bad = (perms == identity).all(dim=1)
    if bad.any():  # astronomically rare: swap two distinct positions
        rows = bad.nonzero().flatten()
        first = torch.randint(0, n, (rows.numel(),), generator=generator, device=device)
        second = (first + torch.randint(1, n, (rows.numel(),), generator=generator, device=device)) % n
        perms[rows, first], perms[rows, second] = second, first
    return perms


def boxes(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator | None,
    min_fraction: float,
    max_fraction: float,
) -> torch.Tensor:
    """(batch, 4) boxes ``[top, left, h, w]`` inside the image with h in
    [ceil(min_fraction * H), floor(max_fraction * H)] and w likewise."""
    device = generator_device(generator)

    def side(size: int, axis: str) -> tuple[torch.Tensor, torch.Tensor]:
        low, high = math.ceil(min_fraction * size - 1e-9), math.floor(max_fraction * size + 1e-9)
        if high < max(low, 1):
            raise ValueError(
                f"{axis}={size} is too small for a box with sides in "
                f"[{min_fraction:.3g}, {max_fraction:.3g}] of {axis}; use images with {axis} >= 2."
            )
        low = max(low, 1)
        return (torch.full((batch,), low, device=device), torch.full((batch,), high, device=device))

    box_h = uniform_integers(*side(height, "H"), generator)
    box_w = uniform_integers(*side(width, "W"), generator)
    zeros = torch.zeros(batch, dtype=torch.long, device=device)
    top = uniform_integers(zeros, height - box_h, generator)
    left = uniform_integers(zeros, width - box_w, generator)
    return torch.stack([top, left, box_h, box_w], dim=1)


def bernoulli(batch: int, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """(batch,) booleans, True with probability ``p``."""
    return torch.rand(batch, generator=generator, device=generator_device(generator)) < p


def beta(batch: int, alpha: float, generator: torch.Generator | None) -> torch.Tensor:
    """(batch,) float32 draws from Beta(alpha, alpha), reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a NumPy generator is seeded from it.
    """
    device = generator_device(generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    values = np.random.default_rng(seed).beta(alpha, alpha, size=batch)
    return torch.as_tensor(values, dtype=torch.float32, device=device)
