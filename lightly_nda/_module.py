"""What ``NDAMoCo`` and ``NDASimCLR`` share: NDA views, online linear evaluation, logging, optimiser."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from lightly.utils.benchmarking import OnlineLinearClassifier
from torch import nn

import nda_core
from lightly_nda.backbones import cifar_resnet
from lightly_nda.loss import NDANTXentLoss
from nda_core._checks import check_choice, check_int, check_number, check_positive
from nda_core.errors import UsageError, UsageTypeError, parse_nda_argument
from nda_core.random import RankGenerator
from nda_core.transforms import build_entry, nda_views, per_sample_views

__all__ = ["NDAContrastiveModule", "NDASpec", "BackboneSpec", "describe_nda", "is_distributed", "nda_spec"]

#: What an ``nda`` argument holds: an NDA's name, a spec dict (``{"type": "jigsaw", "k": 3}``), or None (no NDA).
#: A string goes through ``nda_core.errors.parse_nda_argument``: ``"none"`` is None, JSON text is that spec.
NDASpec = str | dict | None
#: A ``backbone`` argument: a module, the name of one of lightly's CIFAR ResNets (``"resnet-9"``, ...),
#: or None (ResNet-18).
BackboneSpec = nn.Module | str | None

_TRAINING_VIEWS = 2  # (query, key) or (x0, x1); further views are NDA views from the pipeline
_TOP5_MIN_CLASSES = 5
_IMAGE_RANK = 4
_SGD_MOMENTUM = 0.9


def is_distributed() -> bool:
    """True inside a process group of more than one rank."""
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def _shapes(batch: Any) -> Any:
    """Shapes of the tensors in a (nested) batch, for error messages."""
    if isinstance(batch, torch.Tensor):
        return tuple(batch.shape)
    if isinstance(batch, (list, tuple)):
        return [_shapes(item) for item in batch]
    return type(batch).__name__


def nda_spec(nda: Any, where: str = "nda") -> Any:
    """An ``nda`` argument as ``nda_core.build`` takes it: strings are parsed as ``--nda`` values are
    (``nda_core.errors.parse_nda_argument``: ``"none"`` -> None, JSON text -> that spec, else a name)."""
    if not isinstance(nda, str):
        return nda
    try:
        return parse_nda_argument(nda)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"{where}: {error}; pass an NDA name (jigsaw, stitch, ...), a JSON spec or none.") from None


def describe_nda(nda: Any) -> Any:
    """A checkpoint-safe (primitive) description of an NDA spec."""
    if isinstance(nda, nda_core.NDATransform):
        return {
            "type": nda.name,
            **{k: v for k, v in nda.config().items() if isinstance(v, (int, float, str, list, dict))},
        }
    return nda


class NDAContrastiveModule(pl.LightningModule):
    """Base of ``NDAMoCo`` and ``NDASimCLR``; subclasses set ``nda_encoders`` and ``embed_nda``.

    Batches are lightly's ``(views, targets[, filenames])``: ``views[0]`` and ``views[1]`` are the
    two augmented views, further views are NDA views made by the data pipeline (``NDAView``).
    """

    #: Valid ``nda_encoder`` values, the default first.
    nda_encoders: tuple[str, ...] = ()

    def __init__(
        self,
        backbone: BackboneSpec,
        feature_dim: int | None,
        nda: Any,
        num_nda_views: int,
        nda_encoder: str,
        num_classes: int | None,
        lr: float,
        weight_decay: float,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        if backbone is None or isinstance(backbone, str):
            name = "resnet-18" if backbone is None else backbone
            backbone, default_dim = cifar_resnet(name, width)
            if feature_dim not in (None, default_dim):
                raise UsageError(
                    f"feature_dim={feature_dim} but the backbone {name!r} (lightly's CIFAR ResNet, width "
                    f"{width}) gives "
                    f"{default_dim}; leave feature_dim=None or pass your own backbone."
                )
            feature_dim = default_dim
        elif width != 1.0:
            raise UsageError(
                f"width={width} applies to a named backbone (e.g. backbone='resnet-9'), not to your own "
                "module; leave it at 1.0."
            )
        if not isinstance(backbone, nn.Module):
            raise UsageTypeError(
                "backbone must be a torch.nn.Module or the name of lightly's CIFAR ResNet (resnet-9, "
                "resnet-18, resnet-34, "
                f"resnet-50), got {type(backbone).__name__}."
            )
        self.feature_dim = check_int(
            feature_dim,
            "feature_dim",
            1,
            hint="pass the size of backbone(x).flatten(start_dim=1), e.g. 512 for a ResNet-18.",
        )
        self.backbone = backbone
        where = f"{type(self).__name__} nda"
        nda = nda_spec(nda, where)
        # a submodule without weights, so it follows the module across devices
        self.nda = None if nda is None else build_entry(nda, where)
        self.num_nda_views = check_int(
            num_nda_views, "num_nda_views", 0, hint="the paper uses 2 (one NDA of each view)."
        )
        self.nda_generator = RankGenerator()  # the global RNG in one process, seed + rank under DDP
        if self.nda is not None and self.num_nda_views == 0:
            raise UsageError(
                f"num_nda_views=0 with nda={nda!r} would make no NDA images; set num_nda_views >= 1 or nda=None."
            )
        self.nda_encoder = check_choice(nda_encoder, "nda_encoder", self.nda_encoders)
        self.num_classes = (
            None if num_classes is None else check_int(num_classes, "num_classes", 2, hint="or None without labels.")
        )
        self.lr = check_positive(lr, "lr")
        self.weight_decay = check_number(weight_decay, "weight_decay", 0.0)
        self.online_classifier = None
        if self.num_classes is not None:
            topk = (1, 5) if self.num_classes >= _TOP5_MIN_CLASSES else (1,)
            self.online_classifier = OnlineLinearClassifier(self.feature_dim, self.num_classes, topk=topk)
        self.criterion: NDANTXentLoss

    def _describe_inputs(self, backbone: Any, nda: Any) -> None:
        """Checkpoint-safe (primitive) hyperparameters for the arguments ``save_hyperparameters`` ignores."""
        self.hparams["nda"] = describe_nda(nda_spec(nda, f"{type(self).__name__} nda"))
        if backbone is None or isinstance(backbone, str):
            self.hparams["backbone"] = backbone

    # ----------------------------------------------------------------------------- views
    def split_batch(self, batch: Any) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """``(views, targets)`` of a lightly batch ``(views, targets[, filenames])`` or of bare views."""
        if isinstance(batch, (tuple, list)) and len(batch) >= 2 and isinstance(batch[0], (list, tuple)):
            views, targets = batch[0], batch[1] if isinstance(batch[1], torch.Tensor) else None
        else:
            views, targets = batch, None
        valid = (
            isinstance(views, (list, tuple))
            and len(views) >= _TRAINING_VIEWS
            and all(isinstance(v, torch.Tensor) and v.dim() == _IMAGE_RANK and v.shape == views[0].shape for v in views)
        )
        if not valid:
            raise UsageError(
                f"{type(self).__name__} needs batch[0] to be a list of at least 2 image batches (x0, x1[, NDA views]) "
                f"of equal shape (B, C, H, W), got {_shapes(batch)}; build the dataset with lightly's "
                f"MoCoV2Transform / SimCLRTransform (or any MultiViewTransform)."
            )
        return list(views), targets

    def nda_images(self, views: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """(M * B, C, H, W): NDA images made on the device, then the pipeline's NDA views; None if none."""
        chunks = []
        if self.nda is not None:
            generator = self.nda_generator(views[0].device)
            chunks.append(nda_views(self.nda, views[:_TRAINING_VIEWS], self.num_nda_views, generator))
        chunks += list(views[_TRAINING_VIEWS:])
        return torch.cat(chunks) if chunks else None

    def nda_negatives(self, views: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """(B, M, D): each sample's NDA images (``nda_images``) embedded by ``embed_nda``; None if none."""
        images = self.nda_images(views)
        if images is None:
            return None
        embeddings = self.embed_nda(images)
        return per_sample_views(embeddings, views[0].shape[0])

    def embed_nda(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ----------------------------------------------------------------------------- logging
    def log_step(self, loss: torch.Tensor, batch_size: int) -> None:
        sync = is_distributed()
        self.log("train_loss", loss, prog_bar=True, sync_dist=sync, batch_size=batch_size)
        self.log_dict(dict(self.criterion.logit_means), sync_dist=sync, batch_size=batch_size)

    def online_step(self, features: torch.Tensor, targets: torch.Tensor | None, batch_idx: int) -> torch.Tensor | None:
        """Train the online linear classifier on detached backbone features; returns its loss."""
        if self.online_classifier is None or targets is None:
            return None
        cls_loss, cls_log = self.online_classifier.training_step((features.detach(), targets), batch_idx)
        self.log_dict(cls_log, sync_dist=is_distributed(), batch_size=len(targets))
        return cls_loss

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """Online linear top-1 (and top-5) on held-out ``(images, targets)``."""
        if self.online_classifier is None:
            return None
        images, targets = batch[0], batch[1]
        features = self.backbone(images).flatten(start_dim=1)
        cls_loss, cls_log = self.online_classifier.validation_step((features.detach(), targets), batch_idx)
        self.log_dict(cls_log, prog_bar=True, sync_dist=is_distributed(), batch_size=len(targets))
        return cls_loss

    # ----------------------------------------------------------------------------- optimiser
    def trained_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def total_steps(self) -> int | None:
        """Optimiser steps of the whole run (for the schedules), or None when unbounded."""
        if self._trainer is None:
            return None
        if getattr(self, "_total_steps", None) is None or self._total_steps[0] != id(self._trainer):
            steps = self.trainer.estimated_stepping_batches  # cached: it is read on every step
            self._total_steps = (id(self._trainer), int(steps) if steps != float("inf") and steps > 0 else None)
        return self._total_steps[1]

    def configure_optimizers(self) -> Any:
        params = [p for module in self.trained_modules() for p in module.parameters() if p.requires_grad]
        groups = [{"name": "ssl", "params": params}]
        if self.online_classifier is not None:
            groups.append(
                {"name": "online_classifier", "params": list(self.online_classifier.parameters()), "weight_decay": 0.0}
            )
        optimizer = torch.optim.SGD(groups, lr=self.lr, momentum=_SGD_MOMENTUM, weight_decay=self.weight_decay)
        steps = self.total_steps()
        if steps is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
