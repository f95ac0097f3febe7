"""Training on PyTorch Lightning: DPC / NDA-DPC pre-training, fine-tuning and testing.

* :class:`DPCPretraining` steps :class:`~video_dpc.DPC` with :func:`~video_dpc.dpc_loss`; with an
  ``nda`` section it makes NDA clips of every batch on the device
  (:class:`~video_dpc.nda.DPCNegatives`) and adds their features as per-video negatives.
* :class:`DPCFinetuning` trains :class:`~video_dpc.DPCClassifier` (all layers, or only the
  classifier on a frozen encoder) and tests by averaging the softmax over every window.
* :class:`VideoDataModule` builds UCF-101, HMDB-51 or moving-MNIST clip datasets.

Lightning provides the loop, progress, CSV/TensorBoard logs, checkpoints, resuming and DDP;
:class:`RunCheckpoint` keeps a resumed checkpoint from naming files outside the run for deletion.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nda_core._checks import check_choice, check_int, check_number, check_positive, check_sequence
from nda_core.runs import RunCheckpoint
from video_dpc.config import call_with, check_keys
from video_dpc.datasets import DATASETS, ClipDataset, file_videos
from video_dpc.loss import dpc_loss
from video_dpc.model import DPC, DPCClassifier, classifier_arguments
from video_dpc.nda import DPCNegatives
from video_dpc.sampling import BlockLayout
from video_dpc.transforms import ClipTransform

__all__ = [
    "DPCPretraining",
    "DPCFinetuning",
    "VideoDataModule",
    "PrintProgress",
    "RunCheckpoint",
    "TRAIN_WHAT",
    "load_state_dict",
]

LOG = logging.getLogger("video_dpc")
#: ``all``: fine-tune every layer (DPC's evaluation); ``last``: train BN + linear on a frozen
#: encoder and GRU (a linear probe; the encoder's BatchNorm statistics follow the labelled data).
TRAIN_WHAT = ("all", "last")
TOP5 = 5
_DATA_KEYS = {
    "common": ["dataset", "ds", "batch_size", "num_workers", "window_stride", "augment", "test_augment"],
    "files": ["root", "splits", "split", "source"],
    "moving_mnist": ["train_videos", "test_videos", "frames", "size", "seed", "mnist"],
}


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint (``weights_only=True``: no code is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist; pass the .ckpt written by `pretrain` or `finetune`.")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{str(path)!r} is not a Lightning checkpoint of video_dpc (no 'state_dict').")
    prefix = "model."
    return {key[len(prefix) :]: value for key, value in checkpoint["state_dict"].items() if key.startswith(prefix)}


#: Upper bound of the seed a resumed DDP rank other than 0 draws from rank 0's restored NDA stream.
FORK_SEED_BOUND = 2**62


class DPCPretraining(pl.LightningModule):
    """DPC (``nda=None``) or NDA-DPC pre-training.

    Args:
        model: keyword arguments of :class:`~video_dpc.DPC`.
        nda: keyword arguments of :class:`~video_dpc.nda.DPCNegatives` (``transform``, ``blocks``,
            ``clips``, ``vectors``, ``grad``), or None for plain DPC.
        optim: ``lr`` and ``weight_decay`` of Adam (DPC: 1e-3, 1e-5).
        seed: seed of the NDA draws (each DDP rank adds its rank).
    """

    def __init__(self, model: Mapping[str, Any], nda: Mapping[str, Any] | None = None, optim: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = call_with(DPC, model, "model")
        self.negatives = None if nda is None else call_with(DPCNegatives, nda, "nda")
        optim = dict(optim or {})
        check_keys(optim, ["lr", "weight_decay"], "optim")
        self.lr = check_positive(optim.get("lr", 1e-3), "optim.lr", "DPC uses 1e-3.")
        self.weight_decay = check_number(optim.get("weight_decay", 1e-5), "optim.weight_decay", 0.0, hint="DPC uses 1e-5.")
        self.seed = check_int(seed, "seed", 0)
        self._generator: torch.Generator | None = None
        self._generator_state: torch.Tensor | None = None

    @property
    def generator(self) -> torch.Generator:
        """The NDA draws' generator, on the model's device (seed + rank; on resume rank 0's saved stream, forked per rank)."""
        if self._generator is None or self._generator.device != self.device:
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed(self.seed * 1009 + self.global_rank)
            if self._generator_state is not None:
                self._generator.set_state(self._generator_state)
                self._generator_state = None
                if self.global_rank:  # the checkpoint holds rank 0's stream: every other rank forks its own from it
                    fork = torch.randint(0, FORK_SEED_BOUND, (1,), generator=self._generator, device=self.device)
                    self._generator.manual_seed(int(fork) + self.global_rank)
        return self._generator

    def forward(self, blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(blocks)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        pred, target = self.model(batch)
        nda = None if self.negatives is None else self.negatives(self.model, batch, self.generator)
        loss, accuracy = dpc_loss(pred, target, nda)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.shape[0])
        self.log("train/top1", accuracy, prog_bar=True, batch_size=batch.shape[0])
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        loss, accuracy = dpc_loss(*self.model(batch))  # plain DPC loss: comparable with and without NDA
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch.shape[0])
        self.log("val/top1", accuracy, sync_dist=True, batch_size=batch.shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._generator is not None:
            checkpoint["nda_generator"] = self._generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._generator_state = checkpoint.get("nda_generator")
        self._generator = None


class DPCFinetuning(pl.LightningModule):
    """Action classification with DPC's classifier: fine-tuning or a linear probe, then testing.

    Args:
        model: keyword arguments of :class:`~video_dpc.DPCClassifier` shared with pre-training
            (``pred_step`` is accepted and ignored, so one ``model`` section serves both).
        classifier: ``num_classes``, ``dropout`` (0.5), ``train_what`` (``all``/``last``) and
            ``backbone_lr_mult`` (1.0: DPC's ``--train_what ft`` meant 0.1 for the encoder, but
            its parameter-name test never matches, so every layer trains at ``lr``).
        optim: Adam's ``lr`` (1e-3) and ``weight_decay`` (1e-3); ``milestones`` and ``gamma`` of the
            step schedule in epochs (DPC on UCF-101 at 128 px: [60, 80, 100], 0.1).
    """

    def __init__(self, model: Mapping[str, Any], classifier: Mapping[str, Any], optim: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        classifier = dict(classifier)
        check_keys(classifier, ["num_classes", "dropout", "train_what", "backbone_lr_mult"], "classifier")
        if "num_classes" not in classifier:
            raise ValueError("classifier.num_classes is required (UCF-101: 101, HMDB-51: 51, moving MNIST: 8).")
        self.train_what = check_choice(classifier.get("train_what", "all"), "classifier.train_what", TRAIN_WHAT)
        self.backbone_lr_mult = check_number(classifier.get("backbone_lr_mult", 1.0), "classifier.backbone_lr_mult", 0.0)
        arguments = classifier_arguments(model)
        arguments["num_classes"] = classifier["num_classes"]
        arguments["dropout"] = classifier.get("dropout", 0.5)
        self.model = call_with(DPCClassifier, arguments, "model")
        if self.train_what == "last":
            for module in (self.model.backbone, self.model.agg):
                module.requires_grad_(False)
        optim = dict(optim or {})
        check_keys(optim, ["lr", "weight_decay", "milestones", "gamma"], "optim")
        self.lr = check_positive(optim.get("lr", 1e-3), "optim.lr", "DPC fine-tunes with 1e-3.")
        self.weight_decay = check_number(optim.get("weight_decay", 1e-3), "optim.weight_decay", 0.0)
        milestones = check_sequence(optim.get("milestones", []), "optim.milestones", "Give the epochs where lr is multiplied by gamma, e.g. [60, 80, 100].", min_length=0)
        self.milestones = [check_int(m, "optim.milestones[]", 1) for m in milestones]
        self.gamma = check_positive(optim.get("gamma", 0.1), "optim.gamma")
        self.test_predictions: list[tuple[int, int]] = []

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Initialise the encoder and GRU from a ``pretrain`` checkpoint; returns the keys loaded."""
        return self.model.load_encoder(load_state_dict(path), f"pretrained checkpoint {str(path)!r}")

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.model(blocks)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        blocks, labels = batch
        logits = self.model(blocks)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(1) == labels).float().mean()
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=sync, batch_size=labels.shape[0])
        self.log(f"{stage}/top1", accuracy, prog_bar=True, sync_dist=sync, batch_size=labels.shape[0])
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """One video per batch: (1, W, N, C, T, H, W) windows; softmax averaged over windows."""
        windows, labels = batch
        if windows.dim() != 7 or windows.shape[0] != 1:
            raise ValueError(f"test batches must hold one video's windows (1, W, N, C, T, H, W), got {tuple(windows.shape)}; use batch_size 1.")
        probabilities = F.softmax(self.model(windows[0]), dim=1).mean(0, keepdim=True)
        top = probabilities.topk(min(TOP5, probabilities.shape[1]), dim=1).indices
        label = labels.view(-1)
        self.log("test/top1", (top[:, 0] == label).float().mean(), sync_dist=True, batch_size=1)
        self.log("test/top5", (top == label.view(-1, 1)).any(1).float().mean(), sync_dist=True, batch_size=1)
        self.test_predictions.append((int(label), int(top[0, 0])))

    def on_test_epoch_start(self) -> None:
        self.test_predictions = []

    def configure_optimizers(self) -> Any:
        encoder = [p for name, p in self.model.named_parameters() if name.startswith(("backbone.", "agg.")) and p.requires_grad]
        head = [p for name, p in self.model.named_parameters() if not name.startswith(("backbone.", "agg."))]
        groups = [{"params": head}]
        if encoder:
            groups.append({"params": encoder, "lr": self.lr * self.backbone_lr_mult})
        optimizer = torch.optim.Adam(groups, lr=self.lr, weight_decay=self.weight_decay)
        if not self.milestones:
            return optimizer
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, self.milestones, self.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class VideoDataModule(pl.LightningDataModule):
    """Clip datasets of one config's ``data`` section for the model's block layout.

    ``fit`` builds the training split (random clips, augmented) and the test split's centred
    clips for validation (DPC validates on the test split too); ``test`` builds every test
    window of every test video (batch size 1).
    """

    def __init__(self, data: Mapping[str, Any], num_seq: int, seq_len: int, in_channels: int, input_size: Any, labels: bool) -> None:
        super().__init__()
        self.data = dict(data)
        dataset = check_choice(self.data.get("dataset"), "data.dataset", DATASETS)
        known = _DATA_KEYS["common"] + (_DATA_KEYS["moving_mnist"] if dataset == "moving_mnist" else _DATA_KEYS["files"])
        check_keys(self.data, known, f"data (dataset {dataset})")
        self.dataset = dataset
        self.layout = BlockLayout(num_seq, seq_len, self.data.get("ds", 1))
        self.labels = labels
        self.batch_size = check_int(self.data.get("batch_size", 4), "data.batch_size", 1)
        self.num_workers = check_int(self.data.get("num_workers", 0), "data.num_workers", 0)
        augment = {"size": input_size, "channels": in_channels, **dict(self.data.get("augment") or {})}
        self.train_transform = call_with(ClipTransform, augment, "data.augment", train=True)
        test_augment = {**augment, **dict(self.data.get("test_augment") or {})}
        self.test_transform = call_with(ClipTransform, test_augment, "data.test_augment", train=False)
        self.datasets: dict[str, ClipDataset] = {}

    def _source(self, subset: str) -> Any:
        if self.dataset == "moving_mnist":
            from video_dpc.moving_mnist import MovingMNISTActions

            count = self.data.get(f"{subset}_videos", 4000 if subset == "train" else 1000)
            return MovingMNISTActions(subset, count, self.data.get("frames", 32), self.data.get("size", 64), self.data.get("seed", 0), self.data.get("mnist"))
        for key in ("root", "splits"):
            if not self.data.get(key):
                raise ValueError(f"data.{key} is required for {self.dataset}: the folder of the videos (root) or of the split files (splits).")
        return file_videos(self.dataset, self.data["root"], self.data["splits"], self.data.get("split", 1), subset, self.data.get("source", "video"))

    def build(self, subset: str, mode: str) -> ClipDataset:
        """The clip dataset of ``subset`` (train/test) in ``mode`` (train/val/test), built once."""
        key = f"{subset}-{mode}"
        if key not in self.datasets:
            transform = self.train_transform if mode == "train" else self.test_transform
            self.datasets[key] = ClipDataset(
                self._source(subset), self.layout, mode, transform, self.labels, self.data.get("window_stride"),
                name=f"{self.dataset} {subset} split",
            )
        return self.datasets[key]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self._first_clip(self.build("train", "train"))
            self.build("test", "val")
        if stage in (None, "test"):
            self._first_clip(self.build("test", "test"))

    @staticmethod
    def _first_clip(dataset: ClipDataset) -> None:
        """Read one clip now, so that frames the model cannot take fail before training, in this process."""
        try:
            dataset[0]
        except ValueError as error:
            raise ValueError(f"{dataset.source.name(dataset.keep[0])}: {error}") from None

    def _loader(self, dataset: ClipDataset, train: bool, batch_size: int) -> torch.utils.data.DataLoader:
        if train and len(dataset) < batch_size:
            raise ValueError(
                f"the training split has {len(dataset)} usable videos, fewer than data.batch_size={batch_size}; lower the "
                f"batch size (DPC drops incomplete batches)."
            )
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=train, drop_last=train, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("train", "train"), True, self.batch_size)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("test", "val"), False, self.batch_size)

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("test", "test"), False, 1)


class PrintProgress(pl.Callback):
    """One log line every ``every`` training steps (for runs without a progress bar)."""

    def __init__(self, every: int = 50) -> None:
        self.every = check_int(every, "every", 1)
        self._start = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every and step != trainer.max_steps:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else "?"
        text = " ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))
        LOG.info("epoch %d step %d/%s %s (%.0f s)", trainer.current_epoch, step, total, text, time.perf_counter() - self._start)


