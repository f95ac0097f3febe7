"""``NDAMoCo``: MoCo-v2 as lightly's examples build it, with NDA negatives.

Built like lightly's ``examples/pytorch_lightning/moco.py`` and its ImageNet benchmark: a backbone,
lightly's ``MoCoProjectionHead``, a momentum copy updated with ``update_momentum`` on a
``cosine_schedule``, batch shuffling for the momentum encoder (``batch_shuffle``), and the loss
``NDANTXentLoss`` with a memory bank. For every sample, ``num_nda_views`` NDA images of its own
query and key views are made on the device and embedded (by default by the momentum encoder,
without gradient: the paper's cost of one extra forward pass per NDA image); they are extra
negatives of that sample only and never enter the memory bank.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import batch_shuffle, batch_unshuffle, deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule
from torch import nn

from lightly_nda._module import BackboneSpec, NDAContrastiveModule, NDASpec, is_distributed
from lightly_nda.loss import NDANTXentLoss
from nda_core._checks import check_bool, check_int, check_probability
from nda_core.errors import UsageError
from nda_core.transforms import CONTRASTIVE_NDA_VIEWS

__all__ = ["NDAMoCo"]


class NDAMoCo(NDAContrastiveModule):
    """MoCo-v2 LightningModule with per-sample NDA negatives.

    Every argument is typed, so ``LightningCLI`` (``nda lightly train``) offers each one as
    ``--model.NAME``.

    Args:
        backbone: maps images (B, 3, H, W) to features whose ``flatten(start_dim=1)`` has
            ``feature_dim`` entries, or the name of lightly's CIFAR ResNet (``"resnet-9"``,
            ``"resnet-18"``, ``"resnet-34"``, ``"resnet-50"``, see ``cifar_resnet``); default ResNet-18.
        feature_dim: backbone feature size (None: what the named backbone gives, 512 for ResNet-18).
        nda: ``nda_core`` spec made on the batch in ``training_step`` (``"jigsaw"``, ``"stitch"``,
            a mixture dict, JSON text, ...), or None / ``"none"`` for plain MoCo (pipeline NDA views still count).
        num_nda_views: NDA images per sample, alternating NDA(query view), NDA(key view).
        nda_encoder: ``"key"`` (momentum encoder, no gradient; the paper's cost) or ``"query"``
            (the trained encoder, with gradient).
        temperature: InfoNCE temperature (0.1 as in lightly's CIFAR benchmarks; the paper uses 0.07
            on CIFAR-10).
        memory_bank_size: negatives in the memory bank; its keys have ``projection_dim`` entries.
            The pair ``(num_negatives, projection_dim)`` that lightly 1.6's loss takes is accepted too.
        hidden_dim, projection_dim: sizes of the ``MoCoProjectionHead``.
        momentum: start of the momentum of the key encoder; it rises to 1 on a cosine schedule
            over the run's steps, as in lightly's example.
        shuffle_bn: shuffle the momentum encoder's batch (across ranks under DDP), as MoCo does.
        gather_distributed: enqueue the keys of every rank (lightly's option).
        num_classes: classes of the dataset's labels for the online linear classifier, or None.
        lr, weight_decay: SGD (momentum 0.9) with a cosine schedule per step.
        width: width multiplier of a named backbone (0.125 gives an 8-channel stem for CPU smoke runs).
    """

    nda_encoders = ("key", "query")

    def __init__(
        self,
        backbone: BackboneSpec = None,
        feature_dim: int | None = None,
        nda: NDASpec = "jigsaw",
        num_nda_views: int = CONTRASTIVE_NDA_VIEWS,
        nda_encoder: str = "key",
        temperature: float = 0.1,
        memory_bank_size: int | tuple[int, int] = 4096,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        momentum: float = 0.99,
        shuffle_bn: bool = True,
        gather_distributed: bool = False,
        num_classes: int | None = None,
        lr: float = 0.06,
        weight_decay: float = 5e-4,
        width: float = 1.0,
    ) -> None:
        super().__init__(backbone, feature_dim, nda, num_nda_views, nda_encoder, num_classes, lr, weight_decay, width)
        self.save_hyperparameters(ignore=["backbone", "nda"])
        self._describe_inputs(backbone, nda)  # checkpoint-safe (primitive types only)
        hidden_dim = check_int(hidden_dim, "hidden_dim", 1)
        projection_dim = check_int(projection_dim, "projection_dim", 1)
        if isinstance(memory_bank_size, int) and not isinstance(memory_bank_size, bool) and memory_bank_size > 0:
            memory_bank_size = (memory_bank_size, projection_dim)
        self.momentum = check_probability(momentum, "momentum", hint="MoCo uses 0.99-0.999.")
        self.shuffle_bn = check_bool(shuffle_bn, "shuffle_bn")
        self.projection_head = MoCoProjectionHead(self.feature_dim, hidden_dim, projection_dim)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)
        self.criterion = NDANTXentLoss(temperature, memory_bank_size, gather_distributed)
        if self.criterion.memory_bank.size[1] != projection_dim:
            raise UsageError(
                f"memory_bank_size={tuple(memory_bank_size)} stores {self.criterion.memory_bank.size[1]}-d keys but "
                f"projection_dim={projection_dim}; use "
                f"memory_bank_size=({self.criterion.memory_bank.size[0]}, {projection_dim})."
            )

    def check_resumable(self, checkpoint: Mapping[str, Any]) -> None:
        """Raise ``UsageError`` when ``checkpoint``'s memory bank does not fit this model's, naming the option to pass.

        Called by Lightning before it loads the state (``on_load_checkpoint``) and by ``nda lightly train``
        before the run starts.
        """
        state = checkpoint.get("state_dict", {}).get("criterion._extra_state")
        if not isinstance(state, Mapping) or "bank" not in state:
            return
        size, dim = tuple(state["bank"].shape)
        own_size, own_dim = self.criterion.memory_bank.size
        if (size, dim) == (own_size, own_dim):
            return
        fixes = []
        if size != own_size:
            fixes.append(f"memory_bank_size={size} (command line: --model.memory_bank_size {size})")
        if dim != own_dim:
            fixes.append(f"projection_dim={dim} (command line: --model.projection_dim {dim})")
        raise UsageError(
            f"the checkpoint's memory bank holds {size} keys of {dim} features but this NDAMoCo has "
            f"memory_bank_size={own_size} "
            f"and projection_dim={own_dim}; resume with the run's own model options: {' and '.join(fixes)}, "
            "or start a new run "
            f"in another folder."
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_resumable(checkpoint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Query projections (B, projection_dim)."""
        return self.projection_head(self.backbone(x).flatten(start_dim=1))

    @torch.no_grad()
    def forward_momentum(self, x: torch.Tensor) -> torch.Tensor:
        """Key projections by the momentum encoder, batch-shuffled for its BatchNorm."""
        distributed = is_distributed()
        if self.shuffle_bn:
            x, shuffle = batch_shuffle(x, distributed=distributed)
        keys = self.projection_head_momentum(self.backbone_momentum(x).flatten(start_dim=1))
        return batch_unshuffle(keys, shuffle, distributed=distributed) if self.shuffle_bn else keys

    def embed_nda(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_momentum(images) if self.nda_encoder == "key" else self.forward(images)

    def current_momentum(self) -> float:
        steps = self.total_steps()
        return (
            self.momentum if steps is None else cosine_schedule(min(self.global_step, steps), steps, self.momentum, 1.0)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        views, targets = self.split_batch(batch)
        x_query, x_key = views[0], views[1]
        features = self.backbone(x_query).flatten(start_dim=1)
        query = self.projection_head(features)
        # momentum update between query and key encoding, as in the reference MoCo
        momentum = self.current_momentum()
        update_momentum(self.backbone, self.backbone_momentum, m=momentum)
        update_momentum(self.projection_head, self.projection_head_momentum, m=momentum)
        key = self.forward_momentum(x_key)
        loss = self.criterion(query, key, nda=self.nda_negatives(views))
        self.log_step(loss, x_query.shape[0])
        self.log("momentum", momentum, batch_size=x_query.shape[0])
        cls_loss = self.online_step(features, targets, batch_idx)
        return loss if cls_loss is None else loss + cls_loss

    def trained_modules(self) -> list[nn.Module]:
        return [self.backbone, self.projection_head]
