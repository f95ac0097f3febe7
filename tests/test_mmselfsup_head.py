"""NDAContrastiveHead against the paper's equation; NDAView; config errors; missing framework.

The upstream workarounds, safe checkpoint loading and registrations: test_mmselfsup_workarounds.py."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("mmselfsup")
from mmselfsup_helpers import tiny_nda_moco  # noqa: E402

from mmselfsup_nda import NDAContrastiveHead, NDAView  # noqa: E402
from nda_core.errors import UsageError, UsageTypeError  # noqa: E402
from nda_core.losses import nda_info_nce  # noqa: E402


def slow_nda_info_nce(q, k, queue, nda, temperature):
    """Loop form of L = mean_i -log softmax([q.k | q.queue | q.nda] / T)_0 on unit vectors."""

    def unit(v):
        return [x / math.sqrt(sum(y * y for y in v)) for x in v]

    def dot(a, b):
        return sum(x * y for x, y in zip(unit(a), unit(b)))

    total = 0.0
    for i in range(len(q)):
        logits = [dot(q[i], k[i])] + [dot(q[i], n) for n in queue] + [dot(q[i], n) for n in nda[i]]
        logits = [value / temperature for value in logits]
        top = max(logits)
        total += -(logits[0] - top - math.log(sum(math.exp(value - top) for value in logits)))
    return total / len(q)


def test_head_known_value():
    # q = k = e1, queue = {e2}, nda = {-e1}, T = 1: logits [1, 0, -1], loss = log(1 + e^-1 + e^-2).
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[2.0, 0.0]])  # normalised inside
    queue = torch.tensor([[0.0, 1.0]])
    nda = torch.tensor([[[-1.0, 0.0]]])
    out = NDAContrastiveHead(temperature=1.0)(q, k, queue, nda)
    assert out["loss"].item() == pytest.approx(math.log(1 + math.exp(-1) + math.exp(-2)), abs=1e-6)
    assert out["logit_pos"].item() == pytest.approx(1.0)
    assert out["logit_queue"].item() == pytest.approx(0.0)
    assert out["logit_nda"].item() == pytest.approx(-1.0)


def test_head_matches_slow_reference_and_nda_core():
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(5, 6, generator=generator), torch.randn(5, 6, generator=generator)
    queue, nda = torch.randn(7, 6, generator=generator), torch.randn(5, 3, 6, generator=generator)
    head = NDAContrastiveHead(temperature=0.07)
    loss = head(q, k, queue, nda)["loss"]
    reference = slow_nda_info_nce(q.tolist(), k.tolist(), queue.tolist(), nda.tolist(), 0.07)
    assert loss.item() == pytest.approx(reference, rel=1e-5)
    assert loss.item() == pytest.approx(nda_info_nce(q, k, queue, nda, 0.07).item(), rel=1e-6)
    # NDA negatives change the loss: without them it is plain MoCo InfoNCE.
    without = head(q, k, queue, None)["loss"]
    assert without.item() == pytest.approx(slow_nda_info_nce(q.tolist(), k.tolist(), queue.tolist(), [[]] * 5, 0.07))
    assert loss.item() > without.item()


def test_head_gradient_reaches_query():
    q = torch.randn(4, 8, requires_grad=True)
    NDAContrastiveHead()(q, torch.randn(4, 8), torch.randn(16, 8), torch.randn(4, 2, 8))["loss"].backward()
    assert q.grad is not None and q.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", [dict(type="mmcls.FocalLoss"), dict(type="CrossEntropyLoss", label_smoothing=0.1)])
def test_head_rejects_other_losses(loss):
    with pytest.raises(UsageError, match="loss=.*Remove 'loss'"):
        NDAContrastiveHead(loss=loss)


@pytest.mark.parametrize(
    "temperature, error", [(0, UsageError), (-0.07, UsageError), ("0.07", UsageTypeError), (True, UsageTypeError)]
)
def test_head_rejects_bad_temperature(temperature, error):
    with pytest.raises(error, match=f"NDAContrastiveHead temperature must be .*got {temperature!r}.*paper uses 0.07"):
        NDAContrastiveHead(temperature=temperature)


def test_nda_view_jigsaw_is_a_permutation_of_patches():
    # random pixels: all four patches differ (a uint8 ramp would repeat its top half below)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = NDAView(nda=dict(type="jigsaw", k=2)).transform({"img": image.copy()})["img"]
    assert out.shape == image.shape and out.dtype == image.dtype
    assert not np.array_equal(out, image)
    patches = lambda a: sorted(a[r : r + 16, c : c + 16].tobytes() for r in (0, 16) for c in (0, 16))  # noqa: E731
    assert patches(out) == patches(image)


def test_nda_view_rejects_partner_nda():
    with pytest.raises(UsageError, match="'stitch'.*two-image NDA.*NDAMoCo"):
        NDAView(nda=dict(type="stitch"))


def test_nda_view_rejects_unknown_nda():
    with pytest.raises(UsageError, match="NDAView nda=.*unknown NDA 'jigsw'"):
        NDAView(nda="jigsw")


def test_nda_view_after_packing_names_the_place_it_belongs():
    message = "NDAView expects results\\['img'\\] to be a numpy array.*got Tensor.*before PackSelfSupInputs"
    with pytest.raises(UsageTypeError, match=message):
        NDAView(nda="jigsaw").transform({"img": torch.zeros(3, 32, 32)})


def test_one_view_per_image_names_the_multiview_setting():
    with pytest.raises(UsageError, match="NDAMoCo needs at least 2 views per image.*got 1.*MultiView"):
        tiny_nda_moco().loss([torch.randn(2, 3, 32, 32)], [])


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (dict(nda=dict(type="jigsw")), UsageError, "model nda=.*unknown NDA 'jigsw'; known NDAs"),
        (dict(nda=dict(type="jigsaw", k=1)), UsageError, "model nda=.*k must be >= 2, got 1"),
        (dict(nda=dict(type="jigsaw", kk=2)), UsageTypeError, "model nda=.*accepts \\['k'\\]"),
        (dict(nda_encoder="value"), UsageError, "nda_encoder must be one of \\['key', 'query'\\], got 'value'"),
        (dict(num_nda_views=0), UsageError, "num_nda_views must be >= 1, got 0. The paper uses 2"),
        (dict(num_nda_views=2.0), UsageTypeError, "num_nda_views must be an int, got 2.0"),
        (
            dict(head=dict(type="ContrastiveHead", loss=dict(type="mmcls.CrossEntropyLoss"))),
            UsageTypeError,
            "NDAContrastiveHead",
        ),
    ],
)
def test_bad_model_configs_fail_clearly(overrides, error, message):
    with pytest.raises(error, match=message):
        tiny_nda_moco(**overrides)


def test_k_that_does_not_divide_the_image_fails_at_the_first_step_with_the_config_entry():
    model = tiny_nda_moco(nda=dict(type="jigsaw", k=3))
    batch = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)]
    with pytest.raises(UsageError, match="model nda=\\{'type': 'jigsaw', 'k': 3\\}.*H divisible by k"):
        model.loss(batch, [])


def test_partner_nda_needs_two_images():
    model = tiny_nda_moco(nda=dict(type="stitch"))
    with pytest.raises(UsageError, match="model nda=.*stitch.*needs at least 2 samples"):
        model.loss([torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)], [])


def test_model_uses_query_encoder_option_with_gradient():
    model = tiny_nda_moco(nda_encoder="query", num_nda_views=3)
    captured = {}
    model.head.register_forward_hook(lambda module, args, out: captured.update(nda=args[3]))
    out = model.loss([torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)], [])
    assert captured["nda"].shape == (4, 3, 8) and captured["nda"].requires_grad
    out["loss"].backward()


def test_missing_framework_names_the_install_command():
    code = (
        "import sys\n"
        "for name in ('mmselfsup', 'mmpretrain', 'mmengine', 'mmcv'):\n"
        "    sys.modules[name] = None\n"
        "import mmselfsup_nda\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "pip install 'nda-plugins[mmselfsup]'" in result.stderr


def test_feature_batch_norm_standardises_pooled_features_without_parameters():
    from mmselfsup_nda import FeatureBatchNorm

    norm = FeatureBatchNorm(num_features=4)
    features = (
        torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 10.0, 100.0, 0.1]) + 5
    )
    (out,) = norm((features,))
    assert out.mean(0).abs().max() < 1e-4
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    assert list(norm.parameters()) == []  # the classifier after it stays the only trained layer
    with pytest.raises(UsageTypeError, match="FeatureBatchNorm num_features must be an int, got 4.0"):
        FeatureBatchNorm(num_features=4.0)
