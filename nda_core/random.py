"""Parameter draws for the NDA transforms, all from an explicit ``torch.Generator``.

Draws happen on the generator's device (the CPU when no generator is given) and are small:
one row of integers or floats per sample.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch

# Rounds of vectorised redraws for the rare identity permutation before the remaining rows get
# a random transposition; the chance of needing it is (1 / (k*k)!) ** rounds.
IDENTITY_REDRAW_ROUNDS = 32
# Up to this many items (k*k <= 6, so k = 2) permutations are drawn from a table of all n! - 1.
PERMUTATION_TABLE_MAX_ITEMS = 6


def generator_device(generator: torch.Generator | None) -> torch.device:
    """Device on which parameters drawn with ``generator`` live."""
    return torch.device("cpu") if generator is None else generator.device


def partners(
    self_index: torch.Tensor, source_size: int, generator: torch.Generator | None
) -> torch.Tensor:
    """For every sample a partner index uniform on ``range(source_size)`` minus its own index."""
    device = generator_device(generator)
    draw = torch.randint(0, source_size - 1, self_index.shape, generator=generator, device=device)
    self_index = self_index.to(device)
    return draw + (draw >= self_index).long()


@functools.lru_cache(maxsize=8)
def _permutation_table(n: int, device: torch.device) -> torch.Tensor:
    """All (n! - 1, n) permutations of ``range(n)`` except the identity (the first one)."""
    return torch.tensor(list(itertools.permutations(range(n)))[1:], device=device)


def non_identity_permutations(batch: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """(batch, n) permutations of ``range(n)``, uniform over all permutations but the identity."""
    if n < 2:
        raise ValueError(f"a non-identity permutation needs at least 2 items, got n={n}; use k >= 2.")
    device = generator_device(generator)
    if n <= PERMUTATION_TABLE_MAX_ITEMS:  # draw a row of the table: exact and one call
        table = _permutation_table(n, device)
        return table[torch.randint(0, table.shape[0], (batch,), generator=generator, device=device)]
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
    [ceil(min_fraction * H), floor(max_fraction * H)] and w likewise, all uniform."""
    device = generator_device(generator)
    low, high = [], []
    for size, axis in ((height, "H"), (width, "W")):
        side_low = max(math.ceil(min_fraction * size - 1e-9), 1)
        side_high = math.floor(max_fraction * size + 1e-9)
        if side_high < side_low:
            raise ValueError(
                f"{axis}={size} is too small for a box with sides in "
                f"[{min_fraction:.3g}, {max_fraction:.3g}] of {axis}; use images with {axis} >= 2."
            )
        low.append(side_low)
        high.append(side_high)
    u = torch.rand(batch, 4, generator=generator, device=device, dtype=torch.float64)
    low_t = torch.tensor(low, device=device)
    span = torch.tensor(high, device=device) - low_t + 1
    sides = low_t + torch.minimum((u[:, 2:] * span).long(), span - 1)  # (h, w)
    room = torch.tensor([height, width], device=device) - sides + 1
    corner = torch.minimum((u[:, :2] * room).long(), room - 1)  # (top, left)
    return torch.cat([corner, sides], dim=1)


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
