"""Properties of the NDA transforms, checked against slow per-sample references.

Every reference below is written from the paper's definition with Python loops and slicing,
independently of the vectorised code in ``nda_core.functional``.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nda_core
from nda_core import functional as F

PAIRED = ["stitch", "cutmix", "mixup"]
SINGLE = ["jigsaw", "cutout", "vflip", "noise"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8]


def _random_batch(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- slow references


def ref_jigsaw_sample(image: torch.Tensor, permutation: list[int], k: int) -> torch.Tensor:
    """Output patch p (row-major) is input patch permutation[p]."""
    height, width = image.shape[-2:]
    ph, pw = height // k, width // k
    out = torch.empty_like(image)
    for p, src in enumerate(permutation):
        (oi, oj), (si, sj) = divmod(p, k), divmod(src, k)
        out[..., oi * ph : (oi + 1) * ph, oj * pw : (oj + 1) * pw] = image[
            ..., si * ph : (si + 1) * ph, sj * pw : (sj + 1) * pw
        ]
    return out


def ref_stitch_sample(own: torch.Tensor, other: torch.Tensor, vertical: bool, own_first: bool) -> torch.Tensor:
    height, width = own.shape[-2:]
    out = own.clone()
    if vertical:
        rows = slice(height // 2, height) if own_first else slice(0, height // 2)
        out[..., rows, :] = other[..., rows, :]
    else:
        cols = slice(width // 2, width) if own_first else slice(0, width // 2)
        out[..., :, cols] = other[..., :, cols]
    return out


def ref_cutout_sample(image: torch.Tensor, box: list[int]) -> torch.Tensor:
    top, left, h, w = box
    out = image.clone()
    region = image[..., top : top + h, left : left + w].double()
    mean = region.mean(dim=(-2, -1), keepdim=True)  # per channel (and frame)
    if not image.is_floating_point():
        mean = mean.round()
    out[..., top : top + h, left : left + w] = mean.to(image.dtype).expand_as(region)
    return out


# ---------------------------------------------------------------- jigsaw


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(2, 4),
    patch=st.integers(1, 5),
    batch=st.integers(1, 6),
    channels=st.integers(1, 3),
    frames=st.one_of(st.none(), st.integers(1, 3)),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**31 - 1),
)
def test_jigsaw_is_a_permutation_of_patches_and_never_the_input(k, patch, batch, channels, frames, dtype, seed):
    size = k * patch
    shape = (batch, channels) + ((frames,) if frames else ()) + (size, size)
    x = _random_batch(shape, dtype, seed)
    t = nda_core.build({"type": "jigsaw", "k": k})
    out, params = t(x, generator=_gen(seed), return_params=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    perm = params["permutation"]
    for b in range(batch):
        assert sorted(perm[b].tolist()) == list(range(k * k))
        assert perm[b].tolist() != list(range(k * k))
        assert torch.equal(out[b], ref_jigsaw_sample(x[b], perm[b].tolist(), k))


def test_jigsaw_never_returns_the_unchanged_image_on_real_images(cifar_float):
    """The official code lets 1 in 23 negatives through unchanged; ours never does."""
    t = nda_core.build("jigsaw")
    x = cifar_float
    unchanged = 0
    rounds = 60  # 80 images x 60 draws = 4,800 negatives; the official rate would give ~200
    for seed in range(rounds):
        out = t(x, generator=_gen(seed))
        unchanged += int((out == x).flatten(1).all(1).sum())
    assert unchanged == 0


def test_jigsaw_permutations_cover_all_23_non_identity_orders_uniformly():
    n = 23 * 400
    perms = nda_core.random.non_identity_permutations(n, 4, _gen(0))
    counts: dict[tuple[int, ...], int] = {}
    for row in perms.tolist():
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    assert (0, 1, 2, 3) not in counts
    assert set(counts) == set(itertools.permutations(range(4))) - {(0, 1, 2, 3)}
    expected = n / 23
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 50  # 22 degrees of freedom: P(chi2 > 50) < 0.001


def test_jigsaw_functional_known_values():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = F.jigsaw(x, torch.tensor([[1, 0, 3, 2]]), k=2)  # swap left and right halves
    assert torch.equal(out[0, 0], torch.cat([x[0, 0, :, 2:], x[0, 0, :, :2]], dim=1))


# ---------------------------------------------------------------- stitch


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(2, 6),
    height=st.integers(2, 9),
    width=st.integers(2, 9),
    frames=st.one_of(st.none(), st.integers(1, 3)),
    dtype=st.sampled_from(DTYPES),
    orientation=st.sampled_from(["random", "horizontal", "vertical"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_stitch_halves_come_from_the_sample_and_a_different_sample(
    batch, height, width, frames, dtype, orientation, seed
):
    shape = (batch, 3) + ((frames,) if frames else ()) + (height, width)
    x = _random_batch(shape, dtype, seed)
    t = nda_core.build({"type": "stitch", "orientation": orientation})
    out, params = t(x, generator=_gen(seed), return_params=True)
    for b in range(batch):
        j = int(params["partner"][b])
        assert j != b
        vertical, own_first = bool(params["vertical"][b]), bool(params["own_first"][b])
        if orientation != "random":
            assert vertical == (orientation == "vertical")
        assert torch.equal(out[b], ref_stitch_sample(x[b], x[j], vertical, own_first))


def test_stitch_draws_both_orientations_and_sides():
    out, params = nda_core.build("stitch")(torch.rand(400, 1, 4, 4), generator=_gen(1), return_params=True)
    assert 0.4 < params["vertical"].float().mean() < 0.6
    assert 0.4 < params["own_first"].float().mean() < 0.6


def test_stitch_of_a_pair_uses_the_other_image():
    x = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    out = nda_core.build("stitch")(x, generator=_gen(0))
    for b in range(2):  # exactly half of every output comes from the other image
        assert float(out[b].mean()) == 0.5


# ---------------------------------------------------------------- cutout / cutmix


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 6),
    height=st.integers(2, 40),
    width=st.integers(2, 40),
    frames=st.one_of(st.none(), st.integers(1, 3)),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.uint8]),
    seed=st.integers(0, 2**31 - 1),
)
def test_cutout_box_size_in_range_and_fill_is_the_box_mean(batch, height, width, frames, dtype, seed):
    shape = (batch, 3) + ((frames,) if frames else ()) + (height, width)
    x = _random_batch(shape, dtype, seed)
    out, params = nda_core.build("cutout")(x, generator=_gen(seed), return_params=True)
    for b in range(batch):
        top, left, h, w = params["boxes"][b].tolist()
        assert math.ceil(height / 3) <= h <= height // 2 or (height < 3 and h == 1)
        assert math.ceil(width / 3) <= w <= width // 2 or (width < 3 and w == 1)
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        expected = ref_cutout_sample(x[b], [top, left, h, w])
        if dtype == torch.uint8:
            assert torch.equal(out[b], expected)
        else:
            torch.testing.assert_close(out[b], expected, rtol=1e-5, atol=1e-6)


def test_cutout_fill_equals_patch_mean_on_real_images(cifar_batch):
    images = cifar_batch[0]
    out, params = nda_core.build("cutout")(images, generator=_gen(3), return_params=True)
    for b in range(images.shape[0]):
        top, left, h, w = params["boxes"][b].tolist()
        patch = images[b, :, top : top + h, left : left + w].double()
        fill = out[b, :, top : top + h, left : left + w]
        assert torch.equal(fill, patch.mean(dim=(1, 2)).round().to(torch.uint8).view(3, 1, 1).expand_as(fill))
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[top : top + h, left : left + w] = False
        assert torch.equal(out[b][:, outside], images[b][:, outside])


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(2, 6),
    height=st.integers(2, 24),
    width=st.integers(2, 24),
    frames=st.one_of(st.none(), st.integers(1, 3)),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**31 - 1),
)
def test_cutmix_box_comes_from_a_different_sample_at_the_same_place(batch, height, width, frames, dtype, seed):
    shape = (batch, 2) + ((frames,) if frames else ()) + (height, width)
    x = _random_batch(shape, dtype, seed)
    out, params = nda_core.build("cutmix")(x, generator=_gen(seed), return_params=True)
    for b in range(batch):
        j = int(params["partner"][b])
        assert j != b
        top, left, h, w = params["boxes"][b].tolist()
        expected = x[b].clone()
        expected[..., top : top + h, left : left + w] = x[j][..., top : top + h, left : left + w]
        assert torch.equal(out[b], expected)


# ---------------------------------------------------------------- mixup


def test_mixup_blends_with_a_different_sample_with_a_per_sample_weight():
    x = torch.rand(64, 3, 8, 8, dtype=torch.float64)
    t = nda_core.build({"type": "mixup", "alpha": 20.0})
    out, params = t(x, generator=_gen(0), return_params=True)
    weights = params["weight"]
    assert weights.unique().numel() == 64  # one draw per sample, not one per batch
    for b in range(64):
        j = int(params["partner"][b])
        assert j != b
        g = float(weights[b])
        torch.testing.assert_close(out[b], g * x[b] + (1 - g) * x[j])


@pytest.mark.parametrize("alpha", [2.0, 20.0])
def test_mixup_weights_follow_beta_alpha_alpha(alpha):
    n = 20000
    params = nda_core.build({"type": "mixup", "alpha": alpha}).draw_params((n, 1, 2, 2), _gen(5))
    w = params["weight"].double()
    variance = 1.0 / (4.0 * (2.0 * alpha + 1.0))  # Beta(a, a): mean 1/2, var 1 / (4 (2a + 1))
    assert abs(float(w.mean()) - 0.5) < 4 * math.sqrt(variance / n)
    assert abs(float(w.var()) / variance - 1.0) < 0.05
    assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0


@pytest.mark.parametrize("alpha", [0.5, 2.0, 20.0])
@pytest.mark.parametrize("with_generator", [True, False], ids=["generator", "global-rng"])
def test_mixup_weights_pass_a_ks_test_against_scipy_beta(alpha, with_generator):
    """Both samplers: Marsaglia-Tsang candidates (a generator, or alpha < 1) and torch's Gamma kernel."""
    stats = pytest.importorskip("scipy.stats")
    torch.manual_seed(7)
    w = nda_core.random.beta(20000, alpha, _gen(7) if with_generator else None).double().numpy()
    assert stats.kstest(w, stats.beta(alpha, alpha).cdf).pvalue > 0.01


@pytest.mark.parametrize("concentration", [0.05, 0.7, 1.0, 3.0, 20.0])
def test_gamma_draws_pass_a_ks_test_against_scipy_gamma(concentration):
    stats = pytest.importorskip("scipy.stats")
    draws = nda_core.random.log_standard_gamma((20000,), concentration, _gen(11)).double().exp().numpy()
    assert stats.kstest(draws, stats.gamma(concentration).cdf).pvalue > 0.01


def test_beta_with_a_tiny_alpha_keeps_its_u_shape():
    """Beta(0.05, 0.05) puts most mass within 1e-10 of 0 and 1: compared folded, in log space."""
    stats = pytest.importorskip("scipy.stats")
    log_x, log_y = nda_core.random.log_standard_gamma((2, 20000), 0.05, _gen(2)).double()
    folded = torch.sigmoid(-(log_x - log_y).abs()).numpy()  # min(w, 1 - w)
    assert stats.kstest(folded, lambda t: 2 * stats.beta(0.05, 0.05).cdf(t)).pvalue > 0.01


def test_gamma_candidates_bound_the_fallback_below_two_to_the_minus_64():
    for concentration in [0.01, 0.5, 1.0, 2.0, 20.0, 1e3, 1e9]:
        a = concentration + 1 if concentration < 1 else concentration
        d = a - 1 / 3
        accept = math.exp(d + math.lgamma(a) + 0.5 * math.log(d) - 0.5 * math.log(2 * math.pi) - a * math.log(d))
        assert (1 - accept) ** nda_core.random.gamma_candidates(concentration) < 2.0**-64
    assert nda_core.random.gamma_candidates(20.0) <= 8  # the mixup default stays cheap


def test_gamma_acceptance_formula_matches_the_sampler():
    """Marsaglia-Tsang's acceptance rate at shape 1 is 0.951: measured on single candidates."""
    g = _gen(0)
    d, c = 2 / 3, 1 / math.sqrt(6)
    z, u = torch.randn(200000, generator=g, dtype=torch.float64), torch.rand(200000, generator=g, dtype=torch.float64)
    v = (1 + c * z) ** 3
    accepted = (v > 0) & (u.log() < 0.5 * z * z + d - d * v + d * v.clamp_min(1e-300).log())
    assert abs(float(accepted.double().mean()) - 0.9517) < 0.003


def test_gamma_draws_stay_finite_when_every_candidate_is_rejected(monkeypatch):
    monkeypatch.setattr(nda_core.random, "gamma_candidates", lambda concentration: 1)
    draws = nda_core.random.log_standard_gamma((20000,), 1.0, _gen(0))
    assert torch.isfinite(draws).all()  # about 5% took the fallback d = 2/3
    assert float((draws == math.log(2 / 3)).float().mean()) > 0.02


def test_mixup_uint8_rounds_the_blend():
    x = torch.tensor([[[[0]]], [[[255]]]], dtype=torch.uint8)
    out = F.mixup(x, torch.tensor([0.25, 0.25]), torch.tensor([1, 0]))
    assert out.flatten().tolist() == [191, 64]  # 0.75 * 255 = 191.25, 0.25 * 255 = 63.75


# ---------------------------------------------------------------- clips, seeds, dtypes, devices


@pytest.mark.parametrize("name", SINGLE + PAIRED)
def test_a_clip_gets_the_same_transform_on_every_frame(name):
    x = torch.rand(4, 3, 5, 16, 16)
    t = nda_core.build(name)
    out, params = t(x, generator=_gen(7), return_params=True)
    if name == "noise":  # the noise field is drawn once per clip
        assert params["noise"].shape[2] == 1
    for frame in range(x.shape[2]):
        frame_params = params if name != "noise" else {"noise": params["noise"][:, :, 0]}
        assert torch.allclose(out[:, :, frame], t.replay(x[:, :, frame], frame_params))


@pytest.mark.parametrize("name", SINGLE + PAIRED)
def test_a_clip_of_one_repeated_frame_stays_one_repeated_frame(name):
    frame = torch.rand(4, 3, 1, 16, 16)
    out = nda_core.build(name)(frame.expand(4, 3, 6, 16, 16).contiguous(), generator=_gen(2))
    assert torch.equal(out, out[:, :, :1].expand_as(out))


@pytest.mark.parametrize("name", SINGLE + PAIRED + ["mixture"])
def test_same_seed_same_output_other_seed_other_output(name):
    spec = {"type": "mixture", "transforms": ["jigsaw", "stitch", "cutout"]} if name == "mixture" else name
    t = nda_core.build(spec)
    x = torch.rand(16, 3, 32, 32)
    first, second = t(x, generator=_gen(11)), t(x, generator=_gen(11))
    assert torch.equal(first, second)
    if name != "vflip":
        assert not torch.equal(first, t(x, generator=_gen(12)))


@pytest.mark.parametrize("name", SINGLE + PAIRED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_shape_dtype_device_are_kept_and_params_replay(name, dtype):
    x = _random_batch((6, 3, 12, 12), dtype, 0)
    t = nda_core.build(name)
    out, params = t(x, generator=_gen(4), return_params=True)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
    assert torch.equal(t.replay(x, params), out)
    assert not torch.equal(out, x)


def test_global_generator_is_used_when_none_is_given():
    x = torch.rand(8, 3, 8, 8)
    torch.manual_seed(123)
    first = nda_core.build("cutmix")(x)
    torch.manual_seed(123)
    assert torch.equal(first, nda_core.build("cutmix")(x))


@pytest.mark.gpu
@pytest.mark.parametrize("name", SINGLE + PAIRED)
def test_cuda_matches_cpu(name):
    x = torch.rand(8, 3, 16, 16)
    t = nda_core.build(name)
    out, params = t(x, generator=_gen(0), return_params=True)
    assert torch.allclose(t.replay(x.cuda(), params).cpu(), out, atol=1e-6)


def test_non_contiguous_input():
    x = torch.rand(6, 16, 16, 3).permute(0, 3, 1, 2)
    for name in SINGLE + PAIRED:
        t = nda_core.build(name)
        out, params = t(x, generator=_gen(1), return_params=True)
        assert torch.equal(out, t.replay(x.contiguous(), params))


# ---------------------------------------------------------------- policies


def test_mixture_picks_one_component_per_sample_and_pairs_across_the_whole_batch():
    x = torch.rand(300, 3, 8, 8)
    names = ["jigsaw", "stitch", "cutmix"]
    t = nda_core.build({"type": "mixture", "transforms": names, "weights": [1.0, 1.0, 2.0]})
    out, params = t(x, generator=_gen(0), return_params=True)
    choice = params["choice"]
    fractions = [float((choice == c).float().mean()) for c in range(3)]
    assert abs(fractions[0] - 0.25) < 0.08 and abs(fractions[2] - 0.5) < 0.08
    for position, (component, drawn) in enumerate(zip(t.transforms, params["components"])):
        index = (choice == position).nonzero().flatten()
        # every sample is its own component applied with the parameters drawn for it
        assert torch.equal(out[index], component.replay(x, drawn, source=x)[index])
        if component.needs_partner:
            partner = drawn["partner"][index]
            assert (partner != index).all()
            assert (choice[partner] != position).any()  # partners come from the whole batch
    assert not (out == x).flatten(1).all(1).any()


def test_mixture_weights_of_zero_are_never_chosen():
    t = nda_core.build(
        {"type": "mixture", "transforms": ["jigsaw", "vflip", "cutout", "stitch"], "weights": [0.0, 1.0, 0.0, 0.0]}
    )
    params = t.draw_params((5000, 1, 4, 4), _gen(0))
    assert params["choice"].eq(1).all()


@pytest.mark.parametrize(
    "spec",
    [
        {
            "type": "mixture",
            "transforms": ["jigsaw", "stitch", "mixup", {"type": "noisy", "nda": "cutmix", "p_clean": 0.5}],
        },
        {"type": "noisy", "nda": {"type": "mixture", "transforms": ["cutout", "stitch"]}, "p_clean": 0.4},
    ],
)
def test_policies_give_the_same_output_on_subsets_and_on_the_whole_batch(spec, monkeypatch):
    """Eager CPU calls run each part on its own rows; GPU and compiled calls run every part on all rows."""
    x = torch.rand(40, 3, 8, 8)
    t = nda_core.build(spec)
    out, params = t(x, generator=_gen(3), return_params=True)
    monkeypatch.setattr(nda_core.transforms, "_by_subsets", lambda x: False)
    assert torch.equal(t.replay(x, params), out)


def test_noisy_lets_a_fraction_through_unchanged():
    x = torch.rand(2000, 1, 4, 4)
    out, params = nda_core.build({"type": "noisy", "nda": "jigsaw", "p_clean": 0.3})(
        x, generator=_gen(0), return_params=True
    )
    unchanged = (out == x).flatten(1).all(1)
    assert torch.equal(unchanged, params["clean"])
    assert abs(float(unchanged.float().mean()) - 0.3) < 0.04


def test_other_classes_draws_only_from_other_classes(cifar_batch):
    images, labels = cifar_batch
    t = nda_core.build({"type": "other_classes", "images": images, "labels": labels, "classes": [0, 1]})
    x = images[labels < 2]
    out, params = t(x, generator=_gen(0), return_params=True)
    assert out.shape == x.shape
    drawn_labels = labels[params["index"]]
    assert not torch.isin(drawn_labels, torch.tensor([0, 1])).any()
    assert torch.equal(out, images[params["index"]])


def test_other_dataset_reads_a_map_style_dataset():
    bank = [(torch.full((3, 4, 4), float(i)), i) for i in range(5)]
    out, params = nda_core.build({"type": "other_dataset", "images": bank})(
        torch.zeros(7, 3, 4, 4), generator=_gen(0), return_params=True
    )
    assert out[:, 0, 0, 0].tolist() == params["index"].float().tolist()


def test_available_and_build_round_trip():
    names = nda_core.available()
    assert {
        "jigsaw",
        "stitch",
        "cutout",
        "cutmix",
        "mixup",
        "vflip",
        "noise",
        "mixture",
        "noisy",
        "other_classes",
        "other_dataset",
    } <= set(names)
    t = nda_core.build({"type": "jigsaw", "k": 4})
    assert isinstance(t, torch.nn.Module) and t.k == 4
    rebuilt = nda_core.build(
        {"type": "mixture", **nda_core.build({"type": "mixture", "transforms": ["jigsaw", "vflip"]}).config()}
    )
    assert [c.name for c in rebuilt.transforms] == ["jigsaw", "vflip"]


@pytest.mark.parametrize("name", PAIRED)
def test_two_image_transforms_never_pair_a_sample_with_itself(name):
    t = nda_core.build(name)
    for batch in (2, 3, 17):
        params = t.draw_params((20000 // batch * batch, 1, 4, 4), _gen(batch))
        partner = params["partner"]
        assert (partner != torch.arange(partner.numel())).all()
        assert partner.min() >= 0 and partner.max() < partner.numel()
    for seed in range(50):  # a batch of two always pairs the two images
        _, params = t(torch.rand(2, 1, 4, 4), generator=_gen(seed), return_params=True)
        assert params["partner"].tolist() == [1, 0]


def test_partners_are_uniform_over_the_other_samples():
    partner = nda_core.random.partners(torch.zeros(30000, dtype=torch.long), 4, _gen(0))
    counts = torch.bincount(partner, minlength=4)
    assert counts[0] == 0
    assert ((counts[1:].float() / 10000 - 1).abs() < 0.05).all()


def test_module_apply_still_walks_submodules():
    """Frameworks call ``model.apply(fn)`` on models that hold NDA transforms (mmengine does)."""
    seen = []
    model = torch.nn.Sequential(
        torch.nn.Identity(), nda_core.build({"type": "mixture", "transforms": ["jigsaw", "vflip"]})
    )
    model.apply(lambda module: seen.append(type(module).__name__))
    assert {"Mixture", "Jigsaw", "VFlip"} <= set(seen)


def test_rejection_path_for_larger_k_is_uniform_and_never_identity():
    perms = nda_core.random.non_identity_permutations(20000, 9, _gen(3))  # k = 3: no table
    assert not (perms == torch.arange(9)).all(1).any()
    assert torch.equal(perms.sort(1).values, torch.arange(9).expand(20000, 9))
    first = torch.bincount(perms[:, 0], minlength=9).float() / 20000
    assert ((first - 1 / 9).abs() < 0.015).all()


def test_candidate_permutations_fall_back_to_a_rotation_and_stay_uniform(monkeypatch):
    """With one candidate per sample, 1 in 6 permutations of 3 items is the identity: the fallback
    rotates it; with the real count of candidates all 5 non-identity orders are equally likely."""
    monkeypatch.setattr(nda_core.random, "PERMUTATION_TABLE_MAX_ITEMS", 1)
    monkeypatch.setattr(nda_core.random, "permutation_candidates", lambda n: 1)
    perms = nda_core.random.non_identity_permutations(6000, 3, _gen(0))
    assert not (perms == torch.arange(3)).all(1).any()
    monkeypatch.undo()
    monkeypatch.setattr(nda_core.random, "PERMUTATION_TABLE_MAX_ITEMS", 1)
    perms = nda_core.random.non_identity_permutations(15000, 3, _gen(1))
    codes = perms[:, 0] * 9 + perms[:, 1] * 3 + perms[:, 2]
    counts = torch.bincount(codes, minlength=27)[codes.unique()]
    assert counts.numel() == 5 and ((counts.float() / 3000 - 1).abs() < 0.08).all()


def test_the_permutation_table_is_every_non_identity_order_in_lexicographic_order():
    for n in range(2, 7):
        expected = list(itertools.permutations(range(n)))[1:]
        assert nda_core.random.permutation_table(n).tolist() == [list(p) for p in expected]


def test_box_sides_and_corners_are_uniform_over_their_ranges():
    boxes = nda_core.random.boxes(30000, 30, 12, _gen(0), 1 / 3, 1 / 2)
    top, left, h, w = boxes.T
    assert set(h.tolist()) == set(range(10, 16)) and set(w.tolist()) == set(range(4, 7))
    assert ((torch.bincount(h)[10:].float() / 30000 - 1 / 6).abs() < 0.02).all()
    assert (top + h <= 30).all() and (left + w <= 12).all() and top.min() == 0 and left.min() == 0
    assert ((top + h) == 30).any() and ((left + w) == 12).any()


def test_public_masks_match_what_stitch_and_cutmix_do():
    x = torch.rand(6, 2, 8, 10)
    out, params = nda_core.build("stitch")(x, generator=_gen(0), return_params=True)
    mask = F.stitch_mask(x.shape, params["vertical"], params["own_first"])
    assert mask.dtype == torch.bool and mask.float().mean(dim=(1, 2)).eq(0.5).all()
    assert torch.equal(F.paste_from_partner(x, mask, params["partner"]), out)
    out, params = nda_core.build("cutmix")(x, generator=_gen(1), return_params=True)
    mask = F.box_mask(x.shape, params["boxes"])
    assert torch.equal(mask.sum(dim=(1, 2)), params["boxes"][:, 2] * params["boxes"][:, 3])
    assert torch.equal(F.paste_from_partner(x, mask, params["partner"]), out)


@pytest.mark.parametrize(
    "shape, k",
    [((5, 3, 8, 8), 2), ((3, 2, 4, 12, 6), 2), ((3, 2, 4, 12, 6), 3), ((7, 1, 9, 9), 3), ((2, 3, 16, 16), 4)],
)
def test_jigsaw_row_maps_agree_on_every_device_path(shape, k):
    """CPUs spread the patch offsets with a float64 matmul, GPUs in integers: the same rows."""
    batch, planes, height = shape[0], math.prod(shape[1:-2]), shape[-2]
    perm = nda_core.random.non_identity_permutations(batch, k * k, _gen(batch))
    per_patch = perm + (perm // k) * (height // k * k - k)
    integer_rows = F._jigsaw_rows(per_patch, k, planes, height, planes * height * k)
    matmul_rows = F._jigsaw_rows_by_matmul(per_patch, k, planes, height, planes * height * k)
    assert torch.equal(integer_rows, matmul_rows.long())
    assert torch.equal(integer_rows.sort().values, torch.arange(batch * planes * height * k))  # a permutation of rows


def test_nda_views_alternate_query_and_key_and_regroup_per_sample():
    from nda_core.transforms import nda_views, per_sample_views

    g = torch.Generator().manual_seed(0)
    query, key = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    images = nda_views(nda_core.build("vflip"), [query, key], num_views=3)
    assert torch.equal(images, torch.cat([query.flip(-2), key.flip(-2), query.flip(-2)]))
    # features of (view v, sample b) sit at row v * B + b; per sample they come back in view order
    features = torch.arange(3 * 4, dtype=torch.float32).view(12, 1).expand(12, 5)
    grouped = per_sample_views(features, 4)
    assert grouped.shape == (4, 3, 5)
    assert torch.equal(
        grouped[:, :, 0], torch.tensor([[v * 4 + b for v in range(3)] for b in range(4)], dtype=torch.float32)
    )
    with pytest.raises(
        ValueError,
        match=r"model nda=\{'type': 'jigsaw', 'k': 3\} cannot be applied to the batch of shape \(4, 3, 8, 8\)",
    ):
        nda_views(
            nda_core.build({"type": "jigsaw", "k": 3}), [query, key], named="model nda={'type': 'jigsaw', 'k': 3}"
        )
