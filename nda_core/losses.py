"""NDA losses: the NDA-GAN discriminator loss and the NDA InfoNCE (NDA-CPC) loss.

NDA-GAN (paper, Section 3): the discriminator's fake distribution is the mixture
``lam * P_G + (1 - lam) * P_NDA``, so with a loss split into a real and a fake part,

    L_D = L_real(D(x)) + lam * L_fake(D(G(z))) + (1 - lam) * L_fake(D(NDA(x)))

and the generator loss is unchanged. ``lam = 1`` recovers the plain GAN.

NDA NT-Xent (SimCLR mode): both rows of a pair get that pair's NDA features as extra negatives
beside the 2N - 2 in-batch ones (:func:`nt_xent_logits`).

NDA InfoNCE (paper, Section 4): NDA views of a sample's own images are extra negatives
beside the shared queue:

    logits_i = [q_i . k_i, q_i . queue_1, ..., q_i . queue_K, q_i . nda_i1, ..., q_i . nda_iM] / T
    L = mean_i CE(logits_i, 0)

with every feature L2-normalised. The queue is (K, D), one feature per row; mmselfsup's MoCo
keeps its queue as (D, K), which ``queue_layout="DK"`` reads directly. A queue whose layout
its shape cannot tell (square, or (D, K) without the keyword) is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nda_core._checks import check_choice, check_int, check_number, check_positive, check_tensor
from nda_core.errors import UsageError

__all__ = [
    "ADVERSARIAL_KINDS",
    "DEFAULT_LAMBDA",
    "check_lambda",
    "discriminator_loss_terms",
    "nda_discriminator_loss",
    "generator_loss",
    "NDADiscriminatorLoss",
    "nda_info_nce",
    "info_nce_logits",
    "NDAInfoNCELoss",
    "own_negative_logits",
    "nt_xent_logits",
    "nda_nt_xent",
    "QUEUE_LAYOUTS",
]

#: Weight of the generator's samples in the fake mixture (paper: 0.25; 0.5 on CIFAR-100).
DEFAULT_LAMBDA = 0.25

# (L_real, L_fake, L_generator) for each adversarial loss, all as means over the batch.
_LOSSES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "hinge": (
        lambda real: F.relu(1.0 - real).mean(),
        lambda fake: F.relu(1.0 + fake).mean(),
        lambda fake: -fake.mean(),
    ),
    # Cross-entropy with logits: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))),
    # non-saturating generator -log sigmoid(D(G(z))).
    "vanilla": (
        lambda real: F.softplus(-real).mean(),
        lambda fake: F.softplus(fake).mean(),
        lambda fake: F.softplus(-fake).mean(),
    ),
    # Least squares, targets 1 (real) and 0 (fake), each term halved.
    "ls": (
        lambda real: 0.5 * (real - 1.0).pow(2).mean(),
        lambda fake: 0.5 * fake.pow(2).mean(),
        lambda fake: 0.5 * (fake - 1.0).pow(2).mean(),
    ),
    "wasserstein": (
        lambda real: -real.mean(),
        lambda fake: fake.mean(),
        lambda fake: -fake.mean(),
    ),
}
# StudioGAN's "logistic" D loss is the same cross-entropy as "vanilla".
_LOSSES["logistic"] = _LOSSES["vanilla"]
ADVERSARIAL_KINDS = tuple(_LOSSES)


def _check_kind(kind: str) -> None:
    check_choice(kind, "kind", ADVERSARIAL_KINDS)


def check_lambda(lam: float, name: str = "lam") -> float:
    """``lam`` of the NDA-GAN objective, in (0, 1]; ``name`` is what the user wrote it as."""
    return check_number(
        lam,
        name,
        0.0,
        1.0,
        low_open=True,
        hint="It is the weight of the generator's samples in the fake mixture; the paper uses 0.25 "
        "(0.5 on CIFAR-100), and 1 means no NDA.",
    )


def _check_scores(value: torch.Tensor, name: str) -> torch.Tensor:
    """Discriminator outputs: one score per image, (B,) or (B, 1)."""
    check_tensor(value, name)
    if value.dim() == 1 or (value.dim() == 2 and value.shape[1] == 1):
        return value
    raise UsageError(
        f"{name} must hold one discriminator score per image, shape (B,) or (B, 1), got shape "
        f"{tuple(value.shape)}; a discriminator with several outputs per image (class logits, patch "
        f"scores) must be reduced to its adversarial score first."
    )


def discriminator_loss_terms(
    d_real: torch.Tensor, d_fake: torch.Tensor, d_nda: torch.Tensor | None = None, kind: str = "hinge"
) -> dict[str, torch.Tensor]:
    """The unweighted terms ``real``, ``fake`` and (with ``d_nda``) ``nda`` of the D loss.

    Every input holds one score per image: shape (B,) or (B, 1).
    """
    _check_kind(kind)
    loss_real, loss_fake, _ = _LOSSES[kind]
    terms = {"real": loss_real(_check_scores(d_real, "d_real")), "fake": loss_fake(_check_scores(d_fake, "d_fake"))}
    if d_nda is not None:
        terms["nda"] = loss_fake(_check_scores(d_nda, "d_nda"))
    return terms


def nda_discriminator_loss(
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    d_nda: torch.Tensor | None,
    kind: str = "hinge",
    lam: float = DEFAULT_LAMBDA,
) -> torch.Tensor:
    """NDA-GAN discriminator loss.

    ``L_real(d_real) + lam * L_fake(d_fake) + (1 - lam) * L_fake(d_nda)``

    Args:
        d_real: (B,) or (B, 1) discriminator outputs (logits) on real images.
        d_fake: (B',) or (B', 1) outputs on generated images.
        d_nda: (B'',) or (B'', 1) outputs on NDA images; None only when ``lam == 1`` (plain GAN).
        kind: one of ``hinge``, ``vanilla``, ``logistic``, ``ls``, ``wasserstein``.
        lam: weight of the generator's samples in the fake mixture, in (0, 1].

    Returns:
        Scalar loss.

    Example:
        >>> import torch
        >>> nda_discriminator_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([-2.0]), "hinge", 0.25)
        tensor(0.2500)
    """
    lam = check_lambda(lam)
    if d_nda is None and lam != 1.0:
        raise UsageError(f"d_nda is None but lam={lam} < 1 gives NDA images weight {1 - lam}; pass d_nda or set lam=1.")
    terms = discriminator_loss_terms(d_real, d_fake, d_nda, kind)
    loss = terms["real"] + lam * terms["fake"]
    if lam < 1.0:
        loss = loss + (1.0 - lam) * terms["nda"]
    return loss


def generator_loss(d_fake: torch.Tensor, kind: str = "hinge") -> torch.Tensor:
    """The generator loss of ``kind``, unchanged by NDA. ``d_fake``: (B,) or (B, 1) outputs on G(z)."""
    _check_kind(kind)
    return _LOSSES[kind][2](_check_scores(d_fake, "d_fake"))


class NDADiscriminatorLoss(nn.Module):
    """Module form of :func:`nda_discriminator_loss` with ``kind`` and ``lam`` fixed."""

    def __init__(self, kind: str = "hinge", lam: float = DEFAULT_LAMBDA) -> None:
        super().__init__()
        _check_kind(kind)
        self.kind = kind
        self.lam = check_lambda(lam)

    def forward(self, d_real: torch.Tensor, d_fake: torch.Tensor, d_nda: torch.Tensor | None) -> torch.Tensor:
        return nda_discriminator_loss(d_real, d_fake, d_nda, self.kind, self.lam)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, lam={self.lam}"


def _check_features(name: str, value: torch.Tensor, rank: int, shape_text: str) -> torch.Tensor:
    check_tensor(value, name)
    if value.dim() != rank or not value.is_floating_point():
        raise UsageError(
            f"{name} must be a float tensor of shape {shape_text}, got {tuple(value.shape)} {value.dtype}."
        )
    return value


#: Layouts of a queue of K negatives of dimension D: ``"KD"``, one feature per row (nda_core's
#: default), or ``"DK"``, one feature per column (how mmselfsup's MoCo keeps ``self.queue`` and
#: lightly's ``MemoryBankModule`` its bank).
QUEUE_LAYOUTS = ("KD", "DK")
_LAYOUT_HINT = "pass queue_layout='KD' if each row is a feature, or 'DK' if each column is (mmselfsup's MoCo queue)."


def _queue_columns(queue: torch.Tensor, dim: int, layout: str | None) -> torch.Tensor:
    """The queue as (D, K) with L2-normalised columns, read in ``layout``."""
    _check_features("queue", queue, 2, f"(K, {dim}) or, with queue_layout='DK', ({dim}, K)")
    if layout is None:
        rows, columns = queue.shape
        if rows == columns:
            raise UsageError(
                f"queue is square {tuple(queue.shape)}: K == D, so its layout cannot be told from its shape; "
                f"{_LAYOUT_HINT}"
            )
        if columns != dim and rows == dim:
            raise UsageError(
                f"queue has shape {tuple(queue.shape)}: {dim} rows, the feature size of q, so it looks like a "
                f"(D, K) queue, one feature per column (mmselfsup's MoCo layout); pass queue_layout='DK' "
                f"(or queue.t() for the default (K, D))."
            )
        layout = "KD"
    check_choice(
        layout, "queue_layout", QUEUE_LAYOUTS, "'KD': (K, D), a feature per row; 'DK': (D, K), a feature per column."
    )
    feature_axis = 1 if layout == "KD" else 0
    if queue.shape[feature_axis] != dim:
        raise UsageError(
            f"queue has feature size {queue.shape[feature_axis]} (axis {feature_axis} in layout {layout!r}) but q "
            f"has {dim}; they must match."
        )
    columns = F.normalize(queue, dim=feature_axis)
    return columns.t() if layout == "KD" else columns


def own_negative_logits(queries: torch.Tensor, nda: torch.Tensor) -> torch.Tensor:
    """(B, R, M) logits ``queries[b, r] . nda[b, m]``: every query of sample b against sample b's own
    NDA negatives only, the per-sample NDA term of NDA-CPC, NDA-MoCo, NDA-SimCLR and NDA-DPC.

    Plain dot products: normalise both inputs first for cosine similarities.

    Args:
        queries: (B, R, D) the R queries (predictions, views) of each sample.
        nda: (B, M, D) the M NDA features of each sample.
    """
    _check_features("queries", queries, 3, "(B, R, D)")
    _check_own_negatives(nda, queries.shape[0], queries.shape[2], queries.device)
    return torch.bmm(queries, nda.transpose(1, 2))


def _check_own_negatives(nda: torch.Tensor, batch: int, dim: int, device: torch.device) -> None:
    """``nda`` must be (batch, M, dim) on ``device``: M NDA features of each sample of the batch."""
    _check_features("nda", nda, 3, f"({batch}, M, {dim})")
    if nda.shape[0] != batch or nda.shape[2] != dim:
        raise UsageError(
            f"nda must have shape ({batch}, M, {dim}), one set of M NDA features per "
            f"sample of the batch, got {tuple(nda.shape)}."
        )
    if nda.device != device:
        raise UsageError(f"nda is on {nda.device} but the queries are on {device}; move nda with .to({device!s:s}).")


def info_nce_logits(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor | None = None,
    nda: torch.Tensor | None = None,
    temperature: float = 0.07,
    *,
    queue_layout: str | None = None,
) -> torch.Tensor:
    """Logits ``[q.k | q.queue | q.nda_m] / T`` of shape (B, 1 + K + M), features L2-normalised.

    Args:
        q: (B, D) queries. k: (B, D) positive keys.
        queue: K shared negatives: (K, D), one feature per row, or (D, K) with ``queue_layout="DK"``.
        nda: (B, M, D) per-sample NDA negatives.
        temperature: softmax temperature T.
        queue_layout: ``"KD"`` or ``"DK"``. The default None reads the queue as (K, D) and refuses a
            queue whose layout its shape cannot tell: a square one (K == D), and a (D, K) one.
    """
    temperature = check_positive(temperature, "temperature", "MoCo uses 0.07 (CIFAR) or 0.2 (ImageNet-100).")
    _check_features("q", q, 2, "(B, D)")
    _check_features("k", k, 2, "(B, D)")
    if k.shape != q.shape:
        raise UsageError(f"k must have the shape of q {tuple(q.shape)}, got {tuple(k.shape)}.")
    q = F.normalize(q, dim=1)
    parts = [(q * F.normalize(k, dim=1)).sum(1, keepdim=True)]
    if queue is not None:
        parts.append(q @ _queue_columns(queue, q.shape[1], queue_layout))
    if nda is not None:
        _check_own_negatives(nda, q.shape[0], q.shape[1], q.device)
        parts.append(own_negative_logits(q.unsqueeze(1), F.normalize(nda, dim=2)).squeeze(1))
    return torch.cat(parts, dim=1) / temperature


def nda_info_nce(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor | None = None,
    nda: torch.Tensor | None = None,
    temperature: float = 0.07,
    *,
    queue_layout: str | None = None,
) -> torch.Tensor:
    """NDA InfoNCE: cross-entropy of :func:`info_nce_logits` with the positive at index 0.

    ``queue`` is (K, D), one feature per row; pass mmselfsup's (D, K) ``self.queue`` with
    ``queue_layout="DK"``.

    Example:
        >>> import torch
        >>> q = torch.tensor([[1.0, 0.0]]); k = torch.tensor([[1.0, 0.0]])
        >>> nda = torch.tensor([[[0.0, 1.0]]])
        >>> round(float(nda_info_nce(q, k, None, nda, temperature=1.0)), 4)  # -log(e / (e + 1))
        0.3133
    """
    logits = info_nce_logits(q, k, queue, nda, temperature, queue_layout=queue_layout)
    targets = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, targets)


class NDAInfoNCELoss(nn.Module):
    """Module form of :func:`nda_info_nce` with a fixed ``temperature`` and ``queue_layout``."""

    def __init__(self, temperature: float = 0.07, queue_layout: str | None = None) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        if queue_layout is not None:
            check_choice(queue_layout, "queue_layout", QUEUE_LAYOUTS)
        self.queue_layout = queue_layout

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        queue: torch.Tensor | None = None,
        nda: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return nda_info_nce(q, k, queue, nda, self.temperature, queue_layout=self.queue_layout)

    def extra_repr(self) -> str:
        layout = "" if self.queue_layout is None else f", queue_layout={self.queue_layout!r}"
        return f"temperature={self.temperature}{layout}"


def nt_xent_logits(
    z0: torch.Tensor,
    z1: torch.Tensor,
    nda: torch.Tensor | None = None,
    temperature: float = 0.5,
    z0_all: torch.Tensor | None = None,
    z1_all: torch.Tensor | None = None,
    first_index: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (2B, 2N - 1 + M) and targets (2B,) of NT-Xent (SimCLR) with per-sample NDA negatives.

    All features are L2-normalised. For B pairs (z0_i, z1_i) whose batch gathered over ranks has
    N pairs and starts at ``first_index`` there, the row of z0_i is, divided by T,
    ``[z0_i . z1_all (N) | z0_i . z0_all without z0_i (N - 1) | z0_i . nda_i1 ... z0_i . nda_iM]``
    with the positive at column ``first_index + i``; the row of z1_i swaps 0 and 1. Every row has
    2N - 2 in-batch negatives and its own sample's M NDA negatives, which never reach another
    sample's rows. With ``nda=None`` it is SimCLR's NT-Xent in lightly's column order.

    Args:
        z0, z1: (B, D) the two views of this batch.
        nda: (B, M, D) per-sample extra negatives (NDA embeddings), or None.
        temperature: softmax temperature T > 0.
        z0_all, z1_all: (N, D) the views gathered over every rank (default: z0, z1); they must
            contain z0 and z1 at rows ``first_index .. first_index + B - 1``.
        first_index: index of this batch's first pair in the gathered batch (rank * B).
    """
    temperature = check_positive(temperature, "temperature", "SimCLR uses 0.5 (lightly's default) or 0.1-0.2.")
    _check_features("z0", z0, 2, "(B, D)")
    _check_features("z1", z1, 2, "(B, D)")
    if z1.shape != z0.shape:
        raise UsageError(f"z1 must have the shape of z0 {tuple(z0.shape)}, got {tuple(z1.shape)}.")
    batch, dim = z0.shape
    z0_all = z0 if z0_all is None else _check_features("z0_all", z0_all, 2, f"(N, {dim})")
    z1_all = z1 if z1_all is None else _check_features("z1_all", z1_all, 2, f"(N, {dim})")
    if z0_all.shape != z1_all.shape or z0_all.shape[1] != dim or z0_all.shape[0] < batch:
        raise UsageError(
            f"z0_all and z1_all must both have shape (N, {dim}) with N >= {batch}, got "
            f"{tuple(z0_all.shape)} and {tuple(z1_all.shape)}."
        )
    total = z0_all.shape[0]
    check_int(
        first_index, "first_index", 0, hint=f"it is rank * B, at most N - B = {total - batch}.", high=total - batch
    )
    gathered = z0_all is not z0
    z0, z1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    z0_all, z1_all = (F.normalize(z0_all, dim=1), F.normalize(z1_all, dim=1)) if gathered else (z0, z1)
    rows = torch.arange(batch, device=z0.device)
    others = torch.ones(batch, total, dtype=torch.bool, device=z0.device)
    others[rows, rows + first_index] = False  # each row's own view in the same-view block
    same0 = (z0 @ z0_all.t())[others].view(batch, total - 1)
    same1 = (z1 @ z1_all.t())[others].view(batch, total - 1)
    logits = torch.cat([torch.cat([z0 @ z1_all.t(), same0], 1), torch.cat([z1 @ z0_all.t(), same1], 1)], 0)
    if nda is not None:
        _check_own_negatives(nda, batch, dim, z0.device)
        extra = own_negative_logits(torch.stack([z0, z1], dim=1), F.normalize(nda, dim=2))  # (B, 2, M)
        logits = torch.cat([logits, torch.cat([extra[:, 0], extra[:, 1]], 0)], 1)
    targets = (rows + first_index).repeat(2)
    return logits / temperature, targets


def nda_nt_xent(
    z0: torch.Tensor,
    z1: torch.Tensor,
    nda: torch.Tensor | None = None,
    temperature: float = 0.5,
    z0_all: torch.Tensor | None = None,
    z1_all: torch.Tensor | None = None,
    first_index: int = 0,
) -> torch.Tensor:
    """Mean cross-entropy of :func:`nt_xent_logits` over its 2B rows.

    Example:
        >>> import torch
        >>> z0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); z1 = z0.clone()
        >>> round(float(nda_nt_xent(z0, z1, temperature=1.0)), 4)  # -log(e / (e + 1 + 1))
        0.5514
    """
    logits, targets = nt_xent_logits(z0, z1, nda, temperature, z0_all, z1_all, first_index)
    return F.cross_entropy(logits, targets)
