"""Parameter draws for the NDA transforms: small, per sample, and free of host synchronisation.

Every draw takes an explicit ``torch.Generator`` (reproducible draws on the generator's device)
or ``None`` (the global RNG of ``device``, which is where the batch lives). No function here
reads a tensor value on the host or branches on one, so draws without a generator trace with
``torch.compile(fullgraph=True)`` and never stall a GPU. (torch's compiler cannot trace random
ops that take an explicit generator: with one, eager execution is the path.)

Rejection samplers draw a fixed number of candidates per sample and keep an accepted one
(picked by position, never by value), instead of looping until every sample is accepted; the number is chosen so that a
sample with no accepted candidate (which then gets a documented fallback) has a probability
below 2**-64.
"""

from __future__ import annotations

import math

import torch

from nda_core.errors import UsageError
from nda_core.functional import _constant

#: Draws are exact unless every candidate of a sample is rejected, which has a probability
#: below 2**-FALLBACK_BITS per sample.
FALLBACK_BITS = 64
# Up to this many items (k*k <= 6, so k = 2) permutations are drawn from a table of all n! - 1.
PERMUTATION_TABLE_MAX_ITEMS = 6
# Marsaglia-Tsang accepts a candidate with probability p(a) = e**d Gamma(a) sqrt(d) / (sqrt(2 pi) d**a),
# d = a - 1/3 (>= 0.951 for a >= 1; smaller shapes are boosted by 1); candidates are counted as if
# p were at most 1 - 2**-GAMMA_REJECT_BITS_CAP, so rounding in p for huge shapes cannot shrink them.
GAMMA_REJECT_BITS_CAP = 16


def rng(generator: torch.Generator | None) -> dict[str, torch.Generator]:
    """Keyword arguments that make a random op draw from ``generator``.

    None gives no keyword at all: ``torch.rand(..., generator=None)`` fails to trace with
    symbolic (dynamic) shapes in torch 2.14's compiler, ``torch.rand(...)`` does not.
    """
    return {} if generator is None else {"generator": generator}


def draw_device(generator: torch.Generator | None, device: torch.device | str | None = None) -> torch.device:
    """Where parameters are drawn: the generator's device, else ``device`` (default the CPU)."""
    if generator is not None:
        return generator.device
    return torch.device("cpu") if device is None else torch.device(device)


def float_dtype(device: torch.device) -> torch.dtype:
    """float64 for uniform draws and their arithmetic, float32 where float64 is missing (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


def partners(
    self_index: torch.Tensor,
    source_size: int,
    generator: torch.Generator | None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """For every sample a partner index uniform on ``range(source_size)`` minus its own index."""
    device = draw_device(generator, device)
    draw = torch.randint(0, source_size - 1, self_index.shape, **rng(generator), device=device)
    return draw.add_(draw >= self_index.to(device))


def _lexicographic_permutations(n: int, device: torch.device) -> torch.Tensor:
    """All (n!, n) permutations of ``range(n)`` in lexicographic order, built on ``device``.

    Row ``r`` decodes the factorial-base digits of ``r``: position ``i`` takes the
    ``(r // (n-1-i)!) % (n-i)``-th smallest item not used yet.
    """
    count = math.factorial(n)
    rank = torch.arange(count, device=device).view(count, 1)
    unused = torch.ones(count, n, dtype=torch.bool, device=device)
    columns = []
    for position in range(n):
        digit = (rank // math.factorial(n - 1 - position)) % (n - position)
        order = unused.long().cumsum(1) - 1  # rank of every item among the unused ones
        pick = unused & (order == digit)
        columns.append(pick.long().argmax(1))
        unused &= ~pick
    return torch.stack(columns, dim=1)


def permutation_table(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n! - 1, n): every permutation of ``range(n)`` but the identity, in lexicographic order."""
    device = torch.device(device)
    return _constant(("permutations", n), device, lambda: _lexicographic_permutations(n, device)[1:])


def permutation_candidates(n: int) -> int:
    """Candidates per sample so that all are the identity with probability below 2**-FALLBACK_BITS."""
    return max(1, math.ceil(FALLBACK_BITS / math.log2(math.factorial(n))))


def non_identity_permutations(
    batch: int, n: int, generator: torch.Generator | None, device: torch.device | str | None = None
) -> torch.Tensor:
    """(batch, n) permutations of ``range(n)``, uniform over all permutations but the identity.

    Up to ``PERMUTATION_TABLE_MAX_ITEMS`` items a row of the table of all n! - 1 is drawn
    (exact). Beyond, every sample draws ``permutation_candidates(n)`` random permutations and
    keeps the first that is not the identity (exact unless all are the identity, probability
    below 2**-64, when the identity is rotated by one place).
    """
    if n < 2:
        raise UsageError(f"a non-identity permutation needs at least 2 items, got n={n}; use k >= 2.")
    device = draw_device(generator, device)
    if n <= PERMUTATION_TABLE_MAX_ITEMS:
        table = permutation_table(n, device)
        return table.index_select(0, torch.randint(0, table.shape[0], (batch,), **rng(generator), device=device))
    keys = torch.rand(batch, permutation_candidates(n), n, **rng(generator), device=device, dtype=float_dtype(device))
    candidates = keys.argsort(dim=2)
    moved = (candidates != torch.arange(n, device=device)).any(dim=2)  # (batch, candidates)
    first = moved.int().argmax(dim=1).view(batch, 1, 1)  # first non-identity candidate (0 if none)
    perms = candidates.take_along_dim(first.expand(batch, 1, n), dim=1).squeeze(1)
    return torch.where(moved.any(dim=1, keepdim=True), perms, perms.roll(1, dims=1))


def boxes(
    batch: int,
    height: int,
    width: int,
    generator: torch.Generator | None,
    min_fraction: float,
    max_fraction: float,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(batch, 4) boxes ``[top, left, h, w]`` inside the image with h in
    [ceil(min_fraction * H), floor(max_fraction * H)] and w likewise, all uniform."""
    device = draw_device(generator, device)
    limits = []
    for size, axis in ((height, "H"), (width, "W")):
        side_low = max(math.ceil(min_fraction * size - 1e-9), 1)
        side_high = math.floor(max_fraction * size + 1e-9)
        if side_high < side_low:
            raise UsageError(
                f"{axis}={size} is too small for a box with sides in "
                f"[{min_fraction:.3g}, {max_fraction:.3g}] of {axis}; use images with {axis} >= 2."
            )
        limits.append((side_low, side_high + 1))
    u = torch.rand(batch, 2, **rng(generator), device=device, dtype=float_dtype(device))
    # floor(u * room) is uniform on range(room): u < 1 and room is far below 2**24
    if height == width:  # square images: both axes in one draw
        sides = torch.randint(*limits[0], (batch, 2), **rng(generator), device=device)
        corners = (u * (height + 1 - sides)).long()
    else:
        sides = torch.stack(
            [torch.randint(*limit, (batch,), **rng(generator), device=device) for limit in limits], dim=1
        )
        corners = torch.stack(
            [(u[:, axis] * (size + 1 - sides[:, axis])).long() for axis, size in enumerate((height, width))], dim=1
        )
    return torch.cat([corners, sides], dim=1)


def bernoulli(
    batch: int | tuple[int, ...], p: float, generator: torch.Generator | None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Booleans of shape (batch,) (or ``batch`` if a tuple), True with probability ``p``."""
    device = draw_device(generator, device)
    return torch.rand(batch, **rng(generator), device=device, dtype=float_dtype(device)) < p


def _marsaglia_tsang_shape(concentration: float) -> tuple[float, float]:
    """``(a, d)``: the shape actually sampled (the concentration, boosted by 1 below 1) and
    ``d = a - 1/3``, the centre of Marsaglia and Tsang's proposal."""
    a = concentration + 1.0 if concentration < 1.0 else concentration
    return a, a - 1.0 / 3.0


def gamma_candidates(concentration: float) -> int:
    """Marsaglia-Tsang candidates per Gamma(concentration) draw so that all are rejected with
    probability below 2**-FALLBACK_BITS (7 for the mixup default 20, 15 at 1)."""
    a, d = _marsaglia_tsang_shape(concentration)
    log_accept = d + math.lgamma(a) + 0.5 * math.log(d) - 0.5 * math.log(2.0 * math.pi) - a * math.log(d)
    reject = max(-math.expm1(min(log_accept, 0.0)), 2.0**-GAMMA_REJECT_BITS_CAP)
    return math.ceil(FALLBACK_BITS / -math.log2(reject))


def _log_gamma_core(
    shape: tuple[int, ...], concentration: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """log(G / d) for G ~ Gamma(a) with a >= 1 (the concentration, boosted by 1 below 1): the
    Marsaglia-Tsang draw ``d v`` without the constant ``log d`` and without the boost."""
    _, d = _marsaglia_tsang_shape(concentration)
    c = 1.0 / math.sqrt(9.0 * d)
    candidates = tuple(shape) + (gamma_candidates(concentration),)
    z = torch.randn(candidates, **rng(generator), device=device)
    e = torch.rand(candidates, **rng(generator), device=device).log_().neg_()  # -log u, u ~ U(0, 1)
    v = torch.pow(z.mul(c).add_(1.0), 3)  # (1 + c z)**3
    log_v = v.log()  # NaN or -inf where v <= 0: never accepted
    # accept where log u < z**2 / 2 + d (1 - v + log v), i.e. -log u > d (v - log v - 1) - z**2 / 2
    accept = e > torch.addcmul((v - log_v).sub_(1.0).mul_(d), z, z, value=-0.5)
    # max over booleans: whether any candidate is accepted and the position of one (chosen from
    # the accept pattern alone, so its value is an exact draw)
    found, first = accept.max(dim=-1, keepdim=True)
    return torch.where(found, log_v.gather(-1, first), 0.0).squeeze(-1)


def _log_boost(
    shape: tuple[int, ...], concentration: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """log U / a: Gamma(a) = Gamma(a + 1) * U**(1/a) for a < 1 (a fine uniform reaches the far tail)."""
    uniform = torch.rand(shape, **rng(generator), device=device, dtype=float_dtype(device))
    return (uniform.log_() / concentration).float()


def log_standard_gamma(
    shape: tuple[int, ...],
    concentration: float,
    generator: torch.Generator | None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``log`` of Gamma(concentration, 1) draws of ``shape`` (float32).

    Marsaglia and Tsang's method (ACM TOMS 26(3), 2000) with ``gamma_candidates(concentration)``
    candidates per draw, keeping an accepted one; a concentration below 1 uses
    Gamma(a) = Gamma(a + 1) * U**(1/a). If no candidate is accepted (probability below 2**-64)
    the draw is ``d = a - 1/3``, the centre of the proposal. Works in log space, so tiny
    concentrations do not underflow.
    """
    device = draw_device(generator, device)
    _, d = _marsaglia_tsang_shape(concentration)
    log_gamma = _log_gamma_core(tuple(shape), concentration, generator, device) + math.log(d)
    if concentration < 1.0:
        log_gamma = log_gamma + _log_boost(tuple(shape), concentration, generator, device)
    return log_gamma


def beta(
    batch: int, alpha: float, generator: torch.Generator | None, device: torch.device | str | None = None
) -> torch.Tensor:
    """(batch,) float32 draws from Beta(alpha, alpha): X / (X + Y) for X, Y ~ Gamma(alpha).

    Without a generator and for alpha >= 1 (mixup's 20), X and Y come from torch's own Gamma
    kernel (``torch._standard_gamma``, what ``torch.distributions.Gamma`` samples with): one
    kernel on the device that traces with ``torch.compile``; it takes no generator. With a
    generator, or for alpha < 1 (where float Gamma draws underflow to 0), they come from
    ``log_standard_gamma`` and the weight is ``sigmoid(log X - log Y)`` (the constant log d
    cancels), reproducible from ``generator``.
    """
    device = draw_device(generator, device)
    if generator is None and alpha >= 1.0:
        concentration = torch.full((2, batch), alpha, device=device, dtype=float_dtype(device))
        x, y = torch._standard_gamma(concentration)  # for alpha >= 1, P(X < 1e-300) < 1e-300
        return (x / (x + y)).float()
    log_ratio = _log_gamma_core((2, batch), alpha, generator, device)
    if alpha < 1.0:
        log_ratio = log_ratio + _log_boost((2, batch), alpha, generator, device)
    return torch.sigmoid(log_ratio[0] - log_ratio[1])


# -- one NDA stream per rank in distributed training ------------------------------------------------
#: ``torch.Generator.manual_seed`` takes seeds modulo 2**64.
SEED_MODULUS = 2**64


def process_rank() -> int:
    """This process's rank in ``torch.distributed``'s default group; 0 outside one."""
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def process_count() -> int:
    """The number of ranks in ``torch.distributed``'s default group; 1 outside one."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank_generator(device: torch.device | str, seed: int | None = None) -> torch.Generator:
    """A new generator on ``device`` seeded with ``seed + rank`` (see :class:`RankGenerator`).

    ``seed`` defaults to ``torch.initial_seed()``: the seed the framework gave torch, which
    mmengine (``randomness.seed``, ``diff_rank_seed=False``) and Lightning (``seed_everything``)
    set to the same value on every rank.
    """
    base = torch.initial_seed() if seed is None else int(seed)
    return torch.Generator(device=device).manual_seed((base + process_rank()) % SEED_MODULUS)


class RankGenerator:
    """The generator of an adapter's NDA draws: ``None`` (the global RNG) in one process, one stream per rank in DDP.

    Frameworks seed every DDP rank alike, so draws from the global RNG would give two ranks the
    same NDA parameters for the same input shapes. Called with the batch's device inside a process
    group of two or more ranks, it returns a generator seeded with ``seed + rank``, made on first
    use and kept (a new one when the device changes); outside one it returns None, so
    single-process training keeps drawing from the global RNG (which traces with ``torch.compile``).

    Example:
        >>> RankGenerator()("cpu") is None  # no process group
        True
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._generator: torch.Generator | None = None

    def __call__(self, device: torch.device | str) -> torch.Generator | None:
        if process_count() < 2:
            return None
        device = torch.device(device)
        if self._generator is None or self._generator.device != device:
            self._generator = rank_generator(device, self.seed)
        return self._generator

    def __getstate__(self) -> dict:
        return {"seed": self.seed, "_generator": None}  # a spawned or copied model starts its own stream
