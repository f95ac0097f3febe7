"""Dense Predictive Coding (Han, Xie, Zisserman 2019) and its action classifier.

``DPC`` encodes each of ``num_seq`` blocks of ``seq_len`` frames with a 2D+3D ResNet, averages
the features over time, aggregates the ReLU features of the first ``num_seq - pred_step`` blocks
with a ConvGRU (kernel 1), and predicts the remaining ``pred_step`` blocks' features one after
another with a 1x1-ReLU-1x1 head, feeding ReLU(prediction) back into the GRU. The targets are
the pre-ReLU features of the last ``pred_step`` blocks. ``DPCClassifier`` is DPC's evaluation
model: encoder and GRU over all blocks, spatial average pooling, BatchNorm, dropout, linear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nda_core._checks import check_bool, check_int, check_probability, check_tensor
from nda_core.errors import UsageError, UsageTypeError
from video_dpc.backbone import ConvGRU, ResNet2d3d, feature_map_size

__all__ = ["DPC", "DPCClassifier", "MODEL_DEFAULTS", "SMALLEST_FRAME", "classifier_arguments"]

#: DPC's published setting (``dpc/main.py``): ResNet-18 2D+3D at 128 px, 8 blocks of 5 frames, 3 predicted.
MODEL_DEFAULTS: dict[str, Any] = {
    "depth": 18,
    "width": 64,
    "in_channels": 3,
    "input_size": 128,
    "num_seq": 8,
    "seq_len": 5,
    "pred_step": 3,
    "gru_layers": 1,
    "gru_dropout": 0.1,
    "track_running_stats": True,
    "stem_pool": True,
}
#: Below 8 px the stem alone reduces a frame to a single pixel.
SMALLEST_FRAME = 8
_BLOCKS_RANK = 6  # (B, N, C, T, H, W)


def _size_pair(input_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_size, (list, tuple)) and len(input_size) == 2:
        return (
            check_int(
                input_size[0], "input_size[0]", SMALLEST_FRAME, hint="give the frame height in pixels, e.g. 128."
            ),
            check_int(input_size[1], "input_size[1]", SMALLEST_FRAME, hint="give the frame width in pixels, e.g. 128."),
        )
    size = check_int(
        input_size, "input_size", SMALLEST_FRAME, hint="DPC uses 128 (or 224); give an int or [height, width]."
    )
    return size, size


def classifier_arguments(model: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture of a ``model`` config section (the keys of ``MODEL_DEFAULTS``) as
    :class:`DPCClassifier` arguments: without ``pred_step``, which only pre-training uses, and
    without the training options (``lr``, ``nda``, ...), so that one section serves both."""
    return {key: value for key, value in model.items() if key in MODEL_DEFAULTS and key != "pred_step"}


def _init_orthogonal(module: nn.Module) -> None:
    """DPC's initialisation of its GRU and predictor: orthogonal weights, zero biases."""
    for name, parameter in module.named_parameters():
        if "bias" in name:
            nn.init.zeros_(parameter)
        elif "weight" in name:
            nn.init.orthogonal_(parameter)


class _BlockEncoder(nn.Module):
    """Shared part of DPC and its classifier: the encoder, the GRU and the input checks."""

    def __init__(
        self,
        depth: int,
        width: int,
        in_channels: int,
        input_size: int | Sequence[int],
        num_seq: int,
        seq_len: int,
        gru_layers: int,
        gru_dropout: float,
        track_running_stats: bool,
        stem_pool: bool,
    ) -> None:
        super().__init__()
        self.input_size = _size_pair(input_size)
        self.num_seq = check_int(num_seq, "num_seq", 1, hint="DPC uses 8 blocks.")
        self.seq_len = check_int(seq_len, "seq_len", 1, hint="DPC uses 5 frames per block.")
        self.in_channels = check_int(in_channels, "in_channels", 1, hint="use 3 for RGB frames, 1 for grey.")
        check_bool(stem_pool, "stem_pool")
        self.backbone = ResNet2d3d(depth, width, in_channels, track_running_stats, stem_pool)
        self.feature_size = self.backbone.feature_size
        self.feature_map = feature_map_size(self.input_size, self.seq_len, stem_pool)
        check_probability(gru_dropout, "gru_dropout", high_open=True, hint="DPC uses 0.1.")
        self.agg = ConvGRU(self.feature_size, self.feature_size, 1, gru_layers, gru_dropout)

    def check_blocks(self, blocks: Any, name: str = "blocks", num_seq: int | None = None) -> torch.Tensor:
        """Raise a clear error unless ``blocks`` is (B, N, C, T, H, W) as this model was built for."""
        check_tensor(blocks, name)
        channels, frames = self.in_channels, self.seq_len
        layout = f"(B, {num_seq or 'N'}, {channels}, {frames}, {self.input_size[0]}, {self.input_size[1]})"
        if blocks.dim() != _BLOCKS_RANK:
            raise UsageError(
                f"{name} must be a batch of block sequences {layout} (videos, blocks, channels, frames, height, "
                f"width), got shape {tuple(blocks.shape)}; a single video needs {name}.unsqueeze(0)."
            )
        if not blocks.is_floating_point():
            raise UsageTypeError(
                f"{name} must be float (normalised frames), got {blocks.dtype}; convert with .float()."
            )
        _, count, got_channels, got_frames, height, width = blocks.shape
        if num_seq is not None and count != num_seq:
            raise UsageError(
                f"{name} has {count} blocks per video but the model was built for num_seq={num_seq}; sample "
                f"{num_seq} blocks (data layout) or build the model with num_seq={count}."
            )
        if got_channels != channels:
            raise UsageError(f"{name} has {got_channels} channels but the model was built for in_channels={channels}.")
        if got_frames != frames:
            raise UsageError(
                f"{name} has blocks of {got_frames} frames but the model was built for seq_len={frames}; sample "
                f"blocks of {frames} frames or build the model with seq_len={got_frames}."
            )
        if (height, width) != self.input_size:
            raise UsageError(
                f"{name} has frames of {height}x{width} pixels but the model was built for input_size="
                f"{self.input_size[0]}x{self.input_size[1]} (a {self.feature_map[0]}x{self.feature_map[1]} feature "
                f"map); resize or crop the frames to that size, or build the model with input_size=[{height}, {width}]."
            )
        return blocks

    def encode(self, blocks: torch.Tensor) -> torch.Tensor:
        """Pre-ReLU features (B, N, D, H', W') of blocks (B, N, C, T, H, W), averaged over time."""
        self.check_blocks(blocks)
        batch, count = blocks.shape[:2]
        features = self.backbone(blocks.flatten(0, 1)).mean(2)
        return features.view(batch, count, *features.shape[1:])


class DPC(_BlockEncoder):
    """Dense Predictive Coding with the RNN aggregator (DPC's ``DPC_RNN``).

    Args:
        depth, width, in_channels, stem_pool, track_running_stats: of the 2D+3D ResNet
            (:class:`~video_dpc.backbone.ResNet2d3d`).
        input_size: frame size, an int or [height, width] (DPC: 128, a 4x4 feature map).
        num_seq: blocks per video (DPC: 8). seq_len: frames per block (DPC: 5).
        pred_step: predicted blocks (DPC: 3), at most ``num_seq - 1``.
        gru_layers, gru_dropout: of the ConvGRU aggregator (DPC: 1 layer, dropout 0.1).

    Example:
        >>> import torch
        >>> model = DPC(depth=10, width=4, input_size=32, num_seq=4, seq_len=3, pred_step=2)
        >>> pred, target = model(torch.randn(2, 4, 3, 3, 32, 32))
        >>> pred.shape, target.shape
        (torch.Size([2, 2, 16, 1, 1]), torch.Size([2, 2, 16, 1, 1]))
    """

    def __init__(
        self,
        depth: int = MODEL_DEFAULTS["depth"],
        width: int = MODEL_DEFAULTS["width"],
        in_channels: int = MODEL_DEFAULTS["in_channels"],
        input_size: int | Sequence[int] = MODEL_DEFAULTS["input_size"],
        num_seq: int = MODEL_DEFAULTS["num_seq"],
        seq_len: int = MODEL_DEFAULTS["seq_len"],
        pred_step: int = MODEL_DEFAULTS["pred_step"],
        gru_layers: int = MODEL_DEFAULTS["gru_layers"],
        gru_dropout: float = MODEL_DEFAULTS["gru_dropout"],
        track_running_stats: bool = MODEL_DEFAULTS["track_running_stats"],
        stem_pool: bool = MODEL_DEFAULTS["stem_pool"],
    ) -> None:
        super().__init__(
            depth,
            width,
            in_channels,
            input_size,
            num_seq,
            seq_len,
            gru_layers,
            gru_dropout,
            track_running_stats,
            stem_pool,
        )
        self.pred_step = check_int(
            pred_step,
            "pred_step",
            1,
            hint=f"DPC predicts 3 of 8 blocks; it must leave at least one of num_seq={num_seq} blocks as context.",
            high=num_seq - 1,
        )
        size = self.feature_size
        self.predictor = nn.Sequential(nn.Conv2d(size, size, 1), nn.ReLU(inplace=True), nn.Conv2d(size, size, 1))
        _init_orthogonal(self.agg)
        _init_orthogonal(self.predictor)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Predict the last ``pred_step`` blocks' features from pre-ReLU ``features`` (B, N, D, H', W')."""
        context = self.num_seq - self.pred_step
        _, states = self.agg(F.relu(features[:, :context]))
        predictions = []
        for step in range(self.pred_step):
            prediction = self.predictor(states[-1])
            predictions.append(prediction)
            if step + 1 < self.pred_step:  # the last update's state would go unused
                _, states = self.agg(F.relu(prediction).unsqueeze(1), states)
        return torch.stack(predictions, 1)

    def forward(self, blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``pred, target`` (B, pred_step, D, H', W') each, from blocks (B, num_seq, C, T, H, W)."""
        self.check_blocks(blocks, num_seq=self.num_seq)
        features = self.encode(blocks)
        return self.predict(features), features[:, self.num_seq - self.pred_step :]


class DPCClassifier(_BlockEncoder):
    """DPC's action classifier (``eval/model_3d_lc.py``, ``LC``): the DPC encoder and GRU over all
    blocks, ReLU before the time average, the last GRU state average-pooled over space, then
    BatchNorm, dropout and a linear layer. ``forward`` returns logits (B, num_classes).

    Args:
        num_classes: action classes (UCF-101: 101, HMDB-51: 51).
        dropout: before the linear layer (DPC: 0.5).
        Others as for :class:`DPC`.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = MODEL_DEFAULTS["depth"],
        width: int = MODEL_DEFAULTS["width"],
        in_channels: int = MODEL_DEFAULTS["in_channels"],
        input_size: int | Sequence[int] = MODEL_DEFAULTS["input_size"],
        num_seq: int = MODEL_DEFAULTS["num_seq"],
        seq_len: int = MODEL_DEFAULTS["seq_len"],
        gru_layers: int = MODEL_DEFAULTS["gru_layers"],
        gru_dropout: float = MODEL_DEFAULTS["gru_dropout"],
        track_running_stats: bool = MODEL_DEFAULTS["track_running_stats"],
        stem_pool: bool = MODEL_DEFAULTS["stem_pool"],
        dropout: float = 0.5,
    ) -> None:
        super().__init__(
            depth,
            width,
            in_channels,
            input_size,
            num_seq,
            seq_len,
            gru_layers,
            gru_dropout,
            track_running_stats,
            stem_pool,
        )
        self.num_classes = check_int(num_classes, "num_classes", 2, hint="UCF-101 has 101 classes, HMDB-51 has 51.")
        check_probability(dropout, "dropout", high_open=True, hint="DPC uses 0.5.")
        self.final_bn = nn.BatchNorm1d(self.feature_size)
        self.final_fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_size, num_classes))
        _init_orthogonal(self.agg)
        _init_orthogonal(self.final_fc)

    def features(self, blocks: torch.Tensor) -> torch.Tensor:
        """(B, D) video features: the last GRU state over all blocks, averaged over space."""
        self.check_blocks(blocks, num_seq=self.num_seq)
        batch, count = blocks.shape[:2]
        features = F.relu(self.backbone(blocks.flatten(0, 1))).mean(2)
        context, _ = self.agg(features.view(batch, count, *features.shape[1:]))
        return context[:, -1].mean((2, 3))

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.final_fc(self.final_bn(self.features(blocks)))

    def load_encoder(self, state_dict: Mapping[str, torch.Tensor], source: str = "the checkpoint") -> list[str]:
        """Load the encoder and GRU (``backbone.*``, ``agg.*``) of a DPC state dict; return the keys loaded.

        Raises ``ValueError`` naming the mismatch when the checkpoint's encoder differs from this one.
        """
        wanted = {key: value for key, value in self.state_dict().items() if key.startswith(("backbone.", "agg."))}
        found = {key: value for key, value in state_dict.items() if key in wanted}
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise UsageError(
                f"{source} lacks {len(missing)} encoder weights of this classifier (e.g. {missing[:3]}); it must be "
                f"a DPC pre-training checkpoint of the same depth, width and GRU (model.* in its config)."
            )
        shapes = [
            f"{key}: {tuple(found[key].shape)} vs {tuple(wanted[key].shape)}"
            for key in found
            if found[key].shape != wanted[key].shape
        ]
        if shapes:
            raise UsageError(
                f"{source} has encoder weights of other shapes than this classifier ({shapes[:3]}); use the same "
                f"model.depth, model.width and model.in_channels as in pre-training."
            )
        self.load_state_dict(found, strict=False)
        return sorted(found)
