"""NDA negatives for DPC: which blocks become NDA clips, and which of their features enter the loss.

An NDA clip is made on the device from the batch with one ``nda_core`` transform drawn once per
video and applied identically to every frame of the chosen blocks (the blocks are joined into
one clip (C, n * T, H, W) for the draw). Two-image NDAs (stitch, cutmix, mixup) pair each video
with a different video of the batch. The clips are encoded by the model's own encoder, and their
pre-ReLU features at every position become extra negatives of their source video's predictions
only (:func:`video_dpc.loss.dpc_loss`); they are never targets.

Defaults (the paper's setting as we read it; see docs/video_dpc.md): NDA of the predicted
(target) blocks, one NDA clip per video, every position of every NDA block a negative, so each
prediction of video b meets ``pred_step * H' * W'`` NDA negatives of video b (48 for DPC's
3 steps on a 4x4 map), gradients flowing through the NDA features as through DPC's targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

import nda_core
from nda_core._checks import check_bool, check_choice, check_int
from nda_core.errors import UsageError

__all__ = ["NDA_BLOCKS", "NDA_DEFAULTS", "DPCNegatives", "NDAOptions"]

#: ``target``: the pred_step predicted blocks (default); ``context``: the blocks the GRU sees;
#: ``all``: every block.
NDA_BLOCKS = ("target", "context", "all")
NDA_DEFAULTS: dict[str, Any] = {"blocks": "target", "clips": 1, "vectors": None, "grad": True}
_BLOCKS_RANK = 6


@dataclass
class NDAOptions:
    """The NDA negatives of NDA-DPC pre-training (the arguments of :class:`DPCNegatives`).

    Args:
        transform: an ``nda_core`` spec: a name (``jigsaw``), ``{type: cutmix}``, ``{type: jigsaw, k: 2}``, a mixture.
        blocks: which blocks become NDA clips: ``target`` (the predicted blocks, the paper's setting), ``context``
            or ``all``.
        clips: NDA clips per video, each with its own draw.
        vectors: NDA feature vectors kept per video (drawn at random), or null for all of them.
        grad: let gradients flow through the NDA features (as through DPC's targets).
    """

    transform: dict[str, Any] | list[Any] | str
    blocks: Literal["target", "context", "all"] = "target"
    clips: int = 1
    vectors: int | None = None
    grad: bool = True


class DPCNegatives(nn.Module):
    """Makes NDA clips from a batch of block sequences and turns their features into (B, M, D).

    Args:
        transform: an ``nda_core`` spec (``"jigsaw"``, ``{"type": "cutmix"}``, a mixture, ...).
        blocks: which blocks become NDA clips: ``"target"`` (default), ``"context"`` or ``"all"``.
        clips: NDA clips per video, each with its own draw (default 1).
        vectors: NDA feature vectors per video kept as negatives, drawn at random from the
            ``clips * blocks * H' * W'`` available; None (default) keeps them all.
        grad: let gradients flow through the NDA features (default True, as through DPC's
            targets); False encodes the NDA clips without building a graph (cheaper).
    """

    def __init__(
        self,
        transform: Any,
        blocks: str = NDA_DEFAULTS["blocks"],
        clips: int = NDA_DEFAULTS["clips"],
        vectors: int | None = NDA_DEFAULTS["vectors"],
        grad: bool = NDA_DEFAULTS["grad"],
    ) -> None:
        super().__init__()
        self.spec = transform
        self.transform = nda_core.build_entry(transform, "nda.transform")
        self.blocks = check_choice(blocks, "nda.blocks", NDA_BLOCKS, "the paper's setting is 'target'.")
        self.clips = check_int(clips, "nda.clips", 1, hint="use 1 NDA clip per video (the paper's setting).")
        self.vectors = (
            None if vectors is None else check_int(vectors, "nda.vectors", 1, hint="or null to keep every NDA feature.")
        )
        self.grad = check_bool(grad, "nda.grad")

    def extra_repr(self) -> str:
        return f"blocks={self.blocks!r}, clips={self.clips}, vectors={self.vectors}, grad={self.grad}"

    def block_indices(self, num_seq: int, pred_step: int) -> list[int]:
        """Indices of the blocks that become NDA clips."""
        context = num_seq - pred_step
        return {"target": list(range(context, num_seq)), "context": list(range(context)), "all": list(range(num_seq))}[
            self.blocks
        ]

    def make_clips(
        self,
        blocks: torch.Tensor,
        pred_step: int,
        generator: torch.Generator | None = None,
        return_params: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[dict]]:
        """NDA clips (clips * B, n, C, T, H, W) of the chosen blocks of ``blocks`` (B, N, C, T, H, W).

        Clip ``k * B + b`` is draw ``k`` of video ``b``; one draw covers all n * T frames.
        """
        if not isinstance(blocks, torch.Tensor) or blocks.dim() != _BLOCKS_RANK:
            shape = tuple(blocks.shape) if isinstance(blocks, torch.Tensor) else type(blocks).__name__
            raise UsageError(f"blocks must be (B, N, C, T, H, W), got {shape}.")
        batch, _, channels, frames, height, width = blocks.shape
        index = self.block_indices(blocks.shape[1], pred_step)
        chosen = blocks[:, index[0] : index[-1] + 1]  # consecutive blocks: a view, copied once by the reshape
        clip = chosen.transpose(1, 2).reshape(batch, channels, len(index) * frames, height, width)
        outputs, params = [], []
        for _ in range(self.clips):
            try:
                out, drawn = self.transform(clip, generator=generator, return_params=True)
            except ValueError as error:
                raise UsageError(
                    f"nda.transform={self.spec!r} cannot make NDA clips from a batch of {batch} videos with frames "
                    f"{height}x{width}: {error}"
                ) from None
            outputs.append(out.view(batch, channels, len(index), frames, height, width).transpose(1, 2))
            params.append(drawn)
        clips = torch.cat(outputs)
        return (clips, params) if return_params else clips

    def vectors_of(self, features: torch.Tensor, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, M, D) negatives of each video from NDA features (clips * B, n, D, H', W')."""
        count, dim = features.shape[1], features.shape[2]
        per_video = features.view(self.clips, batch, count, dim, -1).permute(1, 0, 2, 4, 3).reshape(batch, -1, dim)
        if self.vectors is None or self.vectors >= per_video.shape[1]:
            return per_video
        device = features.device if generator is None else generator.device
        keep = torch.rand(batch, per_video.shape[1], generator=generator, device=device).argsort(1)[:, : self.vectors]
        return per_video.gather(1, keep.to(features.device).unsqueeze(2).expand(-1, -1, dim))

    def forward(self, model: nn.Module, blocks: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """NDA negatives (B, M, D) of ``blocks`` encoded by ``model`` (a :class:`~video_dpc.DPC`)."""
        with torch.no_grad():
            clips = self.make_clips(blocks, model.pred_step, generator)
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()):
            features = model.encode(clips)
        return self.vectors_of(features, blocks.shape[0], generator)
