"""The parts of DPC: a 2D+3D ResNet encoder of video blocks and a convolutional GRU aggregator.

The encoder is DPC's "2d3d" ResNet (Han et al. 2019, ``backbone/resnet_2d3d.py``): a (1x7x7)
stem with max-pooling, residual stages 1-2 with 2D (1x3x3) convolutions, stages 3-4 with 3D
(3x3x3) convolutions that also stride in time, the last stage as wide as the third (256 for
ResNet-18), and no ReLU after the last block, so that the encoder returns the pre-ReLU features
that DPC predicts. It is assembled from torchvision's video ResNet blocks
(``torchvision.models.video.resnet``): ``BasicBlock``/``Bottleneck`` with the
``Conv3DNoTemporal`` (2D) and ``Conv3DSimple`` (3D) convolution builders.

Why not torchvision's ``r3d_18``/``mc3_18``/``r2plus1d_18`` as they are: they end with a ReLU
(DPC's targets are pre-ReLU features), stride 16 instead of 32 (an 8x8 instead of a 4x4 map
at 128 px, four times the dense negatives), use 3D convolutions in the early stages
(``mc3_18`` puts them in the first stage, the opposite of DPC), and fix the widths to
64-512; DPC's encoder is 2D in the high-resolution stages and 3D only where the maps are small.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nda_core._checks import check_bool, check_choice, check_int, check_probability

__all__ = ["DEPTHS", "ResNet2d3d", "ConvGRUCell", "ConvGRU", "output_size", "feature_map_size"]

#: Blocks per stage for each depth, and whether the stage uses bottleneck blocks.
DEPTHS: dict[int, tuple[tuple[int, int, int, int], bool]] = {
    10: ((1, 1, 1, 1), False),
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}
#: Stage widths as multiples of ``width``: DPC keeps the last stage as wide as the third.
STAGE_WIDTHS = (1, 2, 4, 4)
STAGE_STRIDES = (1, 2, 2, 2)
STEM_KERNEL = 7
#: Spatial stride of the stem convolution and of the stem max-pool.
STEM_STRIDE = 2
POOL_STRIDE = 2


def _downsampled(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def output_size(frames: int, height: int, width: int, stem_pool: bool = True) -> tuple[int, int, int]:
    """(T', H', W') of the encoder's output for blocks of ``frames`` x ``height`` x ``width``.

    128 x 128 gives 4 x 4 (DPC's ``ceil(size / 32)``); 5 frames give 2, averaged away by DPC.
    """
    height = _downsampled(height, STEM_KERNEL, STEM_STRIDE, STEM_KERNEL // 2)
    width = _downsampled(width, STEM_KERNEL, STEM_STRIDE, STEM_KERNEL // 2)
    if stem_pool:
        height, width = _downsampled(height, 3, POOL_STRIDE, 1), _downsampled(width, 3, POOL_STRIDE, 1)
    for stage, stride in enumerate(STAGE_STRIDES):
        height, width = _downsampled(height, 3, stride, 1), _downsampled(width, 3, stride, 1)
        if stage >= 2:  # 3D stages stride in time too
            frames = _downsampled(frames, 3, stride, 1)
    return frames, height, width


class ResNet2d3d(nn.Module):
    """DPC's 2D+3D ResNet on blocks (B, C, T, H, W); returns pre-ReLU features (B, D, T', H', W').

    Args:
        depth: 10, 18, 34 (basic blocks) or 50, 101, 152 (bottlenecks); DPC uses 18 or 34.
        width: channels of the first stage (DPC: 64); stages have width x (1, 2, 4, 4), times 4
            for bottlenecks, so ``feature_size`` is 256 for DPC's ResNet-18.
        in_channels: channels of the frames (3 for RGB, 1 for grey).
        track_running_stats: keep BatchNorm running statistics. DPC's pre-training sets False
            (batch statistics also in eval mode, identical training); True (default) saves them
            so that a frozen encoder can be evaluated (DPC's README notes its first Kinetics
            checkpoint could not be linearly probed for lack of them).
        stem_pool: the stem's 3x3 max-pool (DPC: True). False halves the stride for small frames.
    """

    def __init__(
        self,
        depth: int = 18,
        width: int = 64,
        in_channels: int = 3,
        track_running_stats: bool = True,
        stem_pool: bool = True,
    ) -> None:
        super().__init__()
        from torchvision.models.video.resnet import BasicBlock, Bottleneck, Conv3DNoTemporal, Conv3DSimple

        check_choice(depth, "depth", sorted(DEPTHS), "DPC uses 18 (or 34 at 224 px).")
        self.depth = depth
        self.width = check_int(width, "width", 1, hint="DPC uses 64; small CPU models use 8-16.")
        self.in_channels = check_int(in_channels, "in_channels", 1, hint="use 3 for RGB frames, 1 for grey.")
        self.track_running_stats = check_bool(track_running_stats, "track_running_stats")
        self.stem_pool = check_bool(stem_pool, "stem_pool")
        counts, bottleneck = DEPTHS[depth]
        block = Bottleneck if bottleneck else BasicBlock
        builders = (Conv3DNoTemporal, Conv3DNoTemporal, Conv3DSimple, Conv3DSimple)
        pad = STEM_KERNEL // 2
        stem = [
            nn.Conv3d(
                in_channels,
                width,
                (1, STEM_KERNEL, STEM_KERNEL),
                (1, STEM_STRIDE, STEM_STRIDE),
                (0, pad, pad),
                bias=False,
            ),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool3d((1, 3, 3), (1, POOL_STRIDE, POOL_STRIDE), (0, 1, 1)))
        self.stem = nn.Sequential(*stem)
        self._inplanes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._make_stage(block, builder, width * multiple, count, stride)
            for builder, multiple, count, stride in zip(builders, STAGE_WIDTHS, counts, STAGE_STRIDES)
        )
        self.layer4[-1].relu = nn.Identity()  # pre-ReLU output: DPC's targets
        self.feature_size = self._inplanes
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
                if not track_running_stats:
                    module.track_running_stats = False
                    module.running_mean = module.running_var = module.num_batches_tracked = None

    def _make_stage(self, block: type, builder: type, planes: int, count: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self._inplanes, planes * block.expansion, 1, builder.get_downsample_stride(stride), bias=False
                ),
                nn.BatchNorm3d(planes * block.expansion),
            )
        blocks = [block(self._inplanes, planes, builder, stride, downsample)]
        self._inplanes = planes * block.expansion
        blocks += [block(self._inplanes, planes, builder) for _ in range(count - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def extra_repr(self) -> str:
        return f"depth={self.depth}, width={self.width}, feature_size={self.feature_size}"


class ConvGRUCell(nn.Module):
    """One convolutional GRU step: ``h' = (1 - z) * h + z * tanh(W [x, r * h])``.

    ``r`` (reset) and ``z`` (update) come from one convolution of ``[x, h]``; weights are
    orthogonal per gate, biases zero (as DPC initialises its aggregator).
    """

    def __init__(self, input_size: int, hidden_size: int, kernel_size: int = 1) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        padding = kernel_size // 2
        self.gates = nn.Conv2d(input_size + hidden_size, 2 * hidden_size, kernel_size, padding=padding)
        self.candidate = nn.Conv2d(input_size + hidden_size, hidden_size, kernel_size, padding=padding)
        with torch.no_grad():
            for weight in (*self.gates.weight.chunk(2), self.candidate.weight):
                nn.init.orthogonal_(weight)
            self.gates.bias.zero_()
            self.candidate.bias.zero_()

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden_size, *x.shape[2:])
        reset, update = torch.sigmoid(self.gates(torch.cat([x, hidden], 1))).chunk(2, 1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * hidden], 1)))
        return torch.lerp(hidden, candidate, update)


class ConvGRU(nn.Module):
    """A stack of :class:`ConvGRUCell` over a sequence (B, N, C, H, W), dropout on every new state.

    Args:
        input_size: channels of the inputs. hidden_size: channels of the state.
        kernel_size: of the gate convolutions (DPC: 1, a GRU per feature-map position).
        num_layers: stacked cells (DPC: 1). dropout: on each new state (DPC: 0.1).
    """

    def __init__(
        self, input_size: int, hidden_size: int, kernel_size: int = 1, num_layers: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__()
        check_int(kernel_size, "kernel_size", 1, hint="DPC uses 1.")
        check_int(num_layers, "num_layers", 1, hint="DPC uses 1.")
        check_probability(dropout, "dropout", high_open=True, hint="DPC uses 0.1.")
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(ConvGRUCell(size, hidden_size, kernel_size) for size in sizes)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, hidden: Sequence[torch.Tensor | None] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run over ``x`` (B, N, C, H, W) from ``hidden`` (one state per layer, default zeros).

        Returns:
            The last layer's states (B, N, hidden, H, W) and the final state of every layer.
        """
        states = list(hidden) if hidden is not None else [None] * len(self.cells)
        layer_input = x.unbind(1)
        for index, cell in enumerate(self.cells):
            outputs = []
            state = states[index]
            for step in layer_input:
                state = self.dropout(cell(step, state))
                outputs.append(state)
            states[index] = state
            layer_input = outputs
        return torch.stack(layer_input, 1), states


def feature_map_size(input_size: int | Sequence[int], seq_len: int, stem_pool: bool = True) -> tuple[int, int]:
    """(H', W') of the encoder's feature map for frames of ``input_size``."""
    height, width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return output_size(seq_len, height, width, stem_pool)[1:]
