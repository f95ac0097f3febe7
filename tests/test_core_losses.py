"""Losses against slow references written from their equations, and known values."""

from __future__ import annotations

import math

import pytest
import torch

from nda_core import losses
from nda_core.losses import (
    NDADiscriminatorLoss,
    NDAInfoNCELoss,
    generator_loss,
    info_nce_logits,
    nda_discriminator_loss,
    nda_info_nce,
)


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# Per-sample real and fake terms, straight from each loss's definition.
REF_REAL = {
    "hinge": lambda d: max(0.0, 1.0 - d),
    "vanilla": lambda d: -math.log(1.0 / (1.0 + math.exp(-d))),  # -log sigmoid(d)
    "logistic": lambda d: _softplus(-d),
    "ls": lambda d: 0.5 * (d - 1.0) ** 2,
    "wasserstein": lambda d: -d,
}
REF_FAKE = {
    "hinge": lambda d: max(0.0, 1.0 + d),
    "vanilla": lambda d: -math.log(1.0 - 1.0 / (1.0 + math.exp(-d))),  # -log(1 - sigmoid(d))
    "logistic": lambda d: _softplus(d),
    "ls": lambda d: 0.5 * d**2,
    "wasserstein": lambda d: d,
}
REF_GEN = {
    "hinge": lambda d: -d,
    "vanilla": lambda d: -math.log(1.0 / (1.0 + math.exp(-d))),
    "logistic": lambda d: _softplus(-d),
    "ls": lambda d: 0.5 * (d - 1.0) ** 2,
    "wasserstein": lambda d: -d,
}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def ref_d_loss(real: list[float], fake: list[float], nda: list[float], kind: str, lam: float) -> float:
    """L_real + lam * L_fake(G(z)) + (1 - lam) * L_fake(NDA(x))."""
    return (
        _mean([REF_REAL[kind](d) for d in real])
        + lam * _mean([REF_FAKE[kind](d) for d in fake])
        + (1 - lam) * _mean([REF_FAKE[kind](d) for d in nda])
    )


@pytest.mark.parametrize("kind", losses.ADVERSARIAL_KINDS)
@pytest.mark.parametrize("lam", [0.25, 0.5, 1.0])
def test_discriminator_loss_matches_the_equation(kind, lam):
    g = torch.Generator().manual_seed(0)
    real, fake, nda = (torch.randn(n, generator=g, dtype=torch.float64) * 2 for n in (7, 5, 9))
    got = float(nda_discriminator_loss(real, fake, nda, kind, lam))
    assert got == pytest.approx(ref_d_loss(real.tolist(), fake.tolist(), nda.tolist(), kind, lam), rel=1e-12)
    assert float(NDADiscriminatorLoss(kind, lam)(real, fake, nda)) == pytest.approx(got, rel=1e-12)


@pytest.mark.parametrize("kind", losses.ADVERSARIAL_KINDS)
def test_generator_loss_is_unchanged_by_nda(kind):
    fake = torch.tensor([-1.5, 0.0, 0.7, 3.0], dtype=torch.float64)
    assert float(generator_loss(fake, kind)) == pytest.approx(
        _mean([REF_GEN[kind](d) for d in fake.tolist()]), rel=1e-12
    )


def test_known_values_hinge():
    # real 2 -> relu(1-2)=0; fake 0 -> relu(1+0)=1; nda -2 -> relu(1-2)=0: 0 + 0.25 * 1 + 0.75 * 0
    assert (
        float(nda_discriminator_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([-2.0]), "hinge", 0.25))
        == 0.25
    )
    # nda 1 -> relu(2) = 2: 0 + 0.25 * 1 + 0.75 * 2 = 1.75
    assert (
        float(nda_discriminator_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([1.0]), "hinge", 0.25))
        == 1.75
    )


def test_known_values_vanilla_at_zero_logits():
    zero = torch.zeros(3)
    # every term is log 2: log2 + 0.5 log2 + 0.5 log2 = 2 log 2
    assert float(nda_discriminator_loss(zero, zero, zero, "vanilla", 0.5)) == pytest.approx(2 * math.log(2))


def test_lam_one_is_the_plain_gan_and_needs_no_nda():
    real, fake = torch.tensor([0.3, -0.2]), torch.tensor([0.1, 0.9])
    plain = float(nda_discriminator_loss(real, fake, None, "hinge", 1.0))
    assert plain == pytest.approx(_mean([1 - 0.3, 1 + 0.2]) + _mean([1.1, 1.9]))


def test_gradients_flow_to_all_three_inputs():
    real, fake, nda = (torch.randn(4, requires_grad=True) for _ in range(3))
    nda_discriminator_loss(real, fake, nda, "vanilla", 0.25).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (real, fake, nda))


@pytest.mark.parametrize("lam", [0.0, -0.1, 1.5, float("nan")])
def test_lam_outside_zero_one(lam):
    with pytest.raises(ValueError, match=r"lam must lie in \(0, 1\].*0.25"):
        nda_discriminator_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), "hinge", lam)
    with pytest.raises(ValueError, match="lam must lie in"):
        NDADiscriminatorLoss("hinge", lam)


def test_bad_kind_and_missing_nda():
    with pytest.raises(ValueError, match=r"kind must be one of \['hinge'"):
        nda_discriminator_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), "softmax")
    with pytest.raises(ValueError, match="d_nda is None but lam=0.25"):
        nda_discriminator_loss(torch.zeros(2), torch.zeros(2), None, "hinge", 0.25)
    with pytest.raises(TypeError, match="lam must be a number"):
        nda_discriminator_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), "hinge", "0.25")


# ---------------------------------------------------------------- InfoNCE


def _normalise(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(a * a for a in v))
    return [a / norm for a in v]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def ref_info_nce(q, k, queue, nda, temperature) -> float:
    """mean_i -log( exp(q_i.k_i/T) / (exp(q_i.k_i/T) + sum_j exp(q_i.queue_j/T) + sum_m exp(q_i.nda_im/T)) )."""
    total = 0.0
    for i in range(len(q)):
        qi = _normalise(q[i])
        logits = [_dot(qi, _normalise(k[i])) / temperature]
        logits += [_dot(qi, _normalise(n)) / temperature for n in queue]
        logits += [_dot(qi, _normalise(n)) / temperature for n in nda[i]]
        total += -logits[0] + math.log(sum(math.exp(v) for v in logits))
    return total / len(q)


@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
@pytest.mark.parametrize("with_queue, with_nda", [(True, True), (True, False), (False, True)])
def test_info_nce_matches_the_equation(temperature, with_queue, with_nda):
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    queue = torch.randn(11, 8, generator=g, dtype=torch.float64) if with_queue else None
    nda = torch.randn(5, 3, 8, generator=g, dtype=torch.float64) if with_nda else None
    got = float(nda_info_nce(q, k, queue, nda, temperature))
    expected = ref_info_nce(
        q.tolist(),
        k.tolist(),
        queue.tolist() if with_queue else [],
        nda.tolist() if with_nda else [[] for _ in range(5)],
        temperature,
    )
    assert got == pytest.approx(expected, rel=1e-10)
    assert float(NDAInfoNCELoss(temperature)(q, k, queue, nda)) == pytest.approx(got, rel=1e-12)


def test_info_nce_known_value():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[2.0, 0.0]])  # normalised inside: positive logit 1
    nda = torch.tensor([[[0.0, 5.0]]])  # orthogonal NDA negative: logit 0
    assert float(nda_info_nce(q, k, None, nda, temperature=1.0)) == pytest.approx(math.log(1 + math.exp(-1)))


def test_nda_negatives_raise_the_loss_when_they_resemble_the_query():
    q = torch.randn(4, 16)
    k = q + 0.1 * torch.randn(4, 16)
    far = -q.unsqueeze(1)
    close = (q + 0.2 * torch.randn(4, 16)).unsqueeze(1)
    assert nda_info_nce(q, k, None, close) > nda_info_nce(q, k, None, far)


def test_info_nce_logit_layout():
    q = torch.eye(3)
    logits = info_nce_logits(q, q, torch.eye(3)[:2], torch.eye(3).flip(0).unsqueeze(1).repeat(1, 2, 1), temperature=0.5)
    assert logits.shape == (3, 1 + 2 + 2)
    assert torch.equal(logits[:, 0], torch.full((3,), 2.0))


def test_info_nce_bad_shapes():
    q = torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"nda must have shape \(4, M, 8\)"):
        nda_info_nce(q, q, None, torch.randn(3, 2, 8))
    with pytest.raises(ValueError, match=r"nda must be a float tensor of shape \(4, M, 8\)"):
        nda_info_nce(q, q, None, torch.randn(4, 8))
    with pytest.raises(ValueError, match="queue has feature size 7"):
        nda_info_nce(q, q, torch.randn(5, 7))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        nda_info_nce(q, q, temperature=0.0)


# ---------------------------------------------------------------- input shapes and layouts


@pytest.mark.parametrize("shape", [(4, 2), (4, 1, 1), (), (4, 3)])
def test_discriminator_scores_must_be_one_per_image(shape):
    good = torch.zeros(4)
    with pytest.raises(
        ValueError, match=r"d_real must hold one discriminator score per image, shape \(B,\) or \(B, 1\)"
    ):
        nda_discriminator_loss(torch.zeros(shape), good, good)
    with pytest.raises(ValueError, match=r"d_nda must hold one discriminator score per image"):
        nda_discriminator_loss(good, good, torch.zeros(shape))
    with pytest.raises(ValueError, match=r"d_fake must hold one"):
        generator_loss(torch.zeros(shape))


def test_discriminator_scores_of_shape_b_and_b1_give_the_same_loss():
    g = torch.Generator().manual_seed(0)
    real, fake, nda = (torch.randn(6, generator=g) for _ in range(3))
    flat = nda_discriminator_loss(real, fake, nda, "vanilla")
    column = nda_discriminator_loss(real.view(6, 1), fake.view(6, 1), nda.view(6, 1), "vanilla")
    assert float(flat) == pytest.approx(float(column), rel=1e-6)


def test_a_square_queue_needs_its_layout_named():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(4, 8, generator=g, dtype=torch.float64), torch.randn(4, 8, generator=g, dtype=torch.float64)
    queue_kd = torch.randn(8, 8, generator=g, dtype=torch.float64)  # K == D: rows are features
    with pytest.raises(ValueError, match=r"queue is square \(8, 8\).*queue_layout='KD'.*'DK'"):
        nda_info_nce(q, k, queue_kd)
    expected = ref_info_nce(q.tolist(), k.tolist(), queue_kd.tolist(), [[] for _ in range(4)], 0.07)
    assert float(nda_info_nce(q, k, queue_kd, queue_layout="KD")) == pytest.approx(expected, rel=1e-10)
    # the same queue kept the mmselfsup way, one feature per column
    assert float(nda_info_nce(q, k, queue_kd.t(), queue_layout="DK")) == pytest.approx(expected, rel=1e-10)
    assert float(nda_info_nce(q, k, queue_kd.t(), queue_layout="KD")) != pytest.approx(expected, rel=1e-3)


def test_a_transposed_queue_is_refused_with_the_fix():
    q = torch.randn(4, 8)
    mmselfsup_queue = torch.randn(8, 32)  # (D, K), as MoCo's self.queue
    with pytest.raises(ValueError, match=r"queue has shape \(8, 32\).*looks like a \(D, K\) queue.*queue_layout='DK'"):
        nda_info_nce(q, q, mmselfsup_queue)
    logits = info_nce_logits(q, q, mmselfsup_queue, queue_layout="DK")
    assert torch.allclose(logits, info_nce_logits(q, q, mmselfsup_queue.t().contiguous()), atol=1e-6)
    with pytest.raises(ValueError, match=r"queue has feature size 32 \(axis 1 in layout 'KD'\)"):
        nda_info_nce(q, q, mmselfsup_queue, queue_layout="KD")
    with pytest.raises(ValueError, match=r"queue_layout must be one of \['KD', 'DK'\]"):
        nda_info_nce(q, q, mmselfsup_queue, queue_layout="dk")
    assert "queue_layout='DK'" in repr(NDAInfoNCELoss(0.1, queue_layout="DK"))
    with pytest.raises(ValueError, match="queue_layout must be one of"):
        NDAInfoNCELoss(0.1, queue_layout="rows")


def test_lam_errors_have_the_shared_form():
    with pytest.raises(TypeError, match=r"lam must be a number in \(0, 1\], got True \(bool\)"):
        nda_discriminator_loss(torch.zeros(2), torch.zeros(2), torch.zeros(2), "hinge", True)


# ----------------------------------------------------------------- NT-Xent with NDA negatives


def ref_nt_xent(z0_all, z1_all, nda, temperature, first: int = 0) -> float:
    """NT-Xent with per-sample NDA negatives, one anchor at a time, from the equation.

    ``z0_all`` / ``z1_all`` hold the N (gathered) pairs; this rank's B = len(nda) samples are rows
    first .. first + B - 1. Each of their 2B views is an anchor against the other view of its pair
    (the positive), every other gathered view (2N - 2 negatives) and its own sample's NDA features.
    """
    views = [[_normalise(v) for v in z0_all], [_normalise(v) for v in z1_all]]
    total = 0.0
    for view in (0, 1):
        for i, own in enumerate(nda):
            anchor = views[view][first + i]
            logits = [_dot(anchor, views[1 - view][first + i]) / temperature]
            logits += [
                _dot(anchor, views[v][j]) / temperature for v in (0, 1) for j in range(len(z0_all)) if j != first + i
            ]
            logits += [_dot(anchor, _normalise(n)) / temperature for n in own]  # its own NDA features only
            total += -logits[0] + math.log(sum(math.exp(x) for x in logits))
    return total / (2 * len(nda))


def test_nt_xent_with_nda_matches_the_slow_reference():
    from nda_core.losses import nda_nt_xent

    generator = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(5, 8, generator=generator), torch.randn(5, 8, generator=generator)
    nda = torch.randn(5, 3, 8, generator=generator)
    expected = torch.tensor(ref_nt_xent(z0.tolist(), z1.tolist(), nda.tolist(), 0.3), dtype=torch.float32)
    torch.testing.assert_close(nda_nt_xent(z0, z1, nda, 0.3), expected)


def test_pending_nt_xent_with_gathered_batch_matches_reference():
    """Rank 1 of 3: its rows see every gathered view as a negative, but only its own NDA."""
    from nda_core.losses import nda_nt_xent, nt_xent_logits

    batch, dim, temperature = 6, 8, 0.2
    generator = torch.Generator().manual_seed(5)
    z0_all = torch.randn(3 * batch, dim, generator=generator, dtype=torch.float64)
    z1_all = torch.randn(3 * batch, dim, generator=generator, dtype=torch.float64)
    nda = torch.randn(batch, 2, dim, generator=generator, dtype=torch.float64)
    local = slice(batch, 2 * batch)
    loss = nda_nt_xent(z0_all[local], z1_all[local], nda, temperature, z0_all, z1_all, first_index=batch)
    expected = ref_nt_xent(z0_all.tolist(), z1_all.tolist(), nda.tolist(), temperature, first=batch)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-10)
    logits, targets = nt_xent_logits(z0_all[local], z1_all[local], nda, temperature, z0_all, z1_all, batch)
    assert logits.shape == (2 * batch, 2 * 3 * batch - 1 + 2)
    assert targets.tolist() == list(range(batch, 2 * batch)) * 2


def test_nda_features_of_a_sample_only_reach_its_own_rows():
    from nda_core.losses import nt_xent_logits

    generator = torch.Generator().manual_seed(4)
    z0, z1 = torch.randn(4, 6, generator=generator), torch.randn(4, 6, generator=generator)
    nda = torch.randn(4, 2, 6, generator=generator, requires_grad=True)
    logits, targets = nt_xent_logits(z0, z1, nda, 0.5)
    assert logits.shape == (8, 2 * 4 - 1 + 2) and targets.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    logits[[1, 5]].sum().backward()  # the two rows of sample 1
    touched = nda.grad.abs().sum(dim=(1, 2)) > 0
    assert touched.tolist() == [False, True, False, False]


def test_own_negative_logits_refuses_features_of_another_batch():
    from nda_core.losses import own_negative_logits

    with pytest.raises(ValueError, match=r"nda must have shape \(3, M, 4\)"):
        own_negative_logits(torch.randn(3, 2, 4), torch.randn(2, 5, 4))
