"""DPC's model: shapes, the 2D+3D encoder's design, device-agnostic forward, the classifier,
and clear errors for inputs the model cannot take."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from video_dpc import DPC, DPCClassifier, ResNet2d3d
from video_dpc.backbone import output_size

TINY = dict(depth=10, width=4, in_channels=3, input_size=64, num_seq=4, seq_len=3)


@pytest.fixture(scope="module")
def tiny() -> DPC:
    torch.manual_seed(0)
    return DPC(pred_step=2, **TINY)


def test_forward_returns_predictions_and_pre_relu_targets(tiny):
    blocks = torch.randn(3, 4, 3, 3, 64, 64)
    pred, target = tiny(blocks)
    assert pred.shape == target.shape == (3, 2, 16, 2, 2)
    features = tiny.encode(blocks)
    assert features.shape == (3, 4, 16, 2, 2)
    torch.testing.assert_close(target, features[:, 2:])  # the last pred_step blocks, before any ReLU
    assert (target < 0).any()  # pre-ReLU: the encoder's last block has no final ReLU


def test_predictions_depend_only_on_the_context_blocks(tiny):
    """The GRU sees blocks 0..N-P-1; changing a predicted block changes its target, not the prediction."""
    tiny.eval()
    blocks = torch.randn(2, 4, 3, 3, 64, 64)
    changed = blocks.clone()
    changed[:, 3] = torch.randn_like(changed[:, 3])
    with torch.no_grad():
        (pred_a, target_a), (pred_b, target_b) = tiny(blocks), tiny(changed)
    tiny.train()
    torch.testing.assert_close(pred_a, pred_b)
    assert not torch.allclose(target_a[:, 1], target_b[:, 1])


def test_encoder_is_2d_in_early_stages_3d_late_and_strides_32():
    net = ResNet2d3d(depth=18, width=8)
    kernels = {
        name: m.kernel_size
        for name, m in net.named_modules()
        if isinstance(m, nn.Conv3d) and m.kernel_size != (1, 1, 1)
    }
    assert all(k == (1, 3, 3) for n, k in kernels.items() if n.startswith(("layer1", "layer2")))
    assert all(k == (3, 3, 3) for n, k in kernels.items() if n.startswith(("layer3", "layer4")))
    assert net.feature_size == 32  # last stage as wide as the third (DPC: 256 for width 64)
    assert output_size(5, 128, 128) == (2, 4, 4)  # DPC: last_duration ceil(5/4), last_size ceil(128/32)
    assert output_size(5, 224, 224)[1:] == (7, 7)
    assert net(torch.randn(1, 3, 5, 64, 64)).shape == (1, 32, 2, 2, 2)
    assert ResNet2d3d(depth=50, width=4).feature_size == 64  # bottlenecks: 4 x 4 x width


def test_dpc_running_statistics_option():
    with_stats = ResNet2d3d(depth=10, width=4, track_running_stats=True)
    without = ResNet2d3d(depth=10, width=4, track_running_stats=False)  # DPC's pre-training setting
    assert any("running_mean" in k for k in with_stats.state_dict())
    assert not any("running_mean" in k for k in without.state_dict())
    x = torch.randn(2, 3, 3, 32, 32)
    without.load_state_dict({k: v for k, v in with_stats.state_dict().items() if k in without.state_dict()})
    torch.testing.assert_close(with_stats(x), without(x))  # identical in training mode


def test_forward_is_device_agnostic():
    """No .cuda() anywhere: the model runs on whatever device its weights and input are on (meta here)."""
    model = DPC(pred_step=2, **TINY).to("meta")
    pred, target = model(torch.empty(2, 4, 3, 3, 64, 64, device="meta"))
    assert pred.device.type == target.device.type == "meta" and pred.shape == (2, 2, 16, 2, 2)


def test_classifier_loads_the_pretrained_encoder(tiny):
    classifier = DPCClassifier(num_classes=5, **TINY)
    loaded = classifier.load_encoder(tiny.state_dict())
    assert loaded and all(k.startswith(("backbone.", "agg.")) for k in loaded)
    for key in loaded:
        torch.testing.assert_close(classifier.state_dict()[key], tiny.state_dict()[key])
    logits = classifier(torch.randn(3, 4, 3, 3, 64, 64))
    assert logits.shape == (3, 5)
    with pytest.raises(ValueError, match="lacks .* encoder weights"):
        classifier.load_encoder({"predictor.0.weight": torch.zeros(1)})
    wider = DPC(pred_step=2, **{**TINY, "width": 8})
    with pytest.raises(ValueError, match="other shapes.*model.width"):
        classifier.load_encoder(wider.state_dict())


@pytest.mark.parametrize(
    "blocks, match",
    [
        (
            torch.randn(2, 4, 3, 3, 48, 64),
            r"frames of 48x64 pixels but the model was built for input_size=64x64.*resize",
        ),
        (torch.randn(2, 3, 3, 3, 64, 64), r"3 blocks per video but the model was built for num_seq=4"),
        (torch.randn(2, 4, 3, 2, 64, 64), r"blocks of 2 frames but the model was built for seq_len=3"),
        (torch.randn(2, 4, 1, 3, 64, 64), r"1 channels but the model was built for in_channels=3"),
        (torch.randn(4, 3, 3, 64, 64), r"\(B, 4, 3, 3, 64, 64\).*unsqueeze\(0\)"),
    ],
)
def test_inputs_the_model_cannot_take(tiny, blocks, match):
    with pytest.raises(ValueError, match=match):
        tiny(blocks)


def test_integer_frames_are_refused(tiny):
    with pytest.raises(TypeError, match=r"float \(normalised frames\).*\.float\(\)"):
        tiny(torch.zeros(2, 4, 3, 3, 64, 64, dtype=torch.uint8))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(pred_step=4), ValueError, r"pred_step must be <= 3"),
        (dict(pred_step=0), ValueError, r"pred_step must be >= 1"),
        (dict(depth=20), ValueError, r"depth must be one of \[10, 18, 34, 50, 101, 152\]"),
        (dict(input_size=4), ValueError, r"input_size must be >= 8"),
        (dict(input_size=64.0), TypeError, r"input_size must be an int"),
        (dict(gru_dropout=1.0), ValueError, r"gru_dropout must lie in \[0, 1\)"),
    ],
)
def test_bad_model_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        DPC(**{**TINY, "pred_step": 2, **kwargs})


@pytest.mark.parametrize("name", ["video_dpc.loss", "video_dpc.model"])
def test_docstring_examples(name):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
