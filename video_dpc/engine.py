"""Training on PyTorch Lightning: DPC / NDA-DPC pre-training, fine-tuning and testing.

* :class:`DPCPretraining` steps :class:`~video_dpc.DPC` with :func:`~video_dpc.dpc_loss`; with
  ``nda`` options it makes NDA clips of every batch on the device
  (:class:`~video_dpc.nda.DPCNegatives`) and adds their features as per-video negatives.
* :class:`DPCFinetuning` trains :class:`~video_dpc.DPCClassifier` (all layers, or only the
  classifier on a frozen encoder) and tests by averaging the softmax over every window.
* :class:`UCF101DataModule`, :class:`HMDB51DataModule` and :class:`MovingMNISTDataModule` build
  the clip datasets (:class:`VideoDataModule` holds what they share).
* :class:`TestResults` writes ``results.json`` of a test run; :class:`PrintProgress` logs a line
  every few steps (for runs without a progress bar).

Every ``__init__`` argument is typed, so that ``LightningCLI`` (``video_dpc.cli``) reads them
from YAML and the command line. Lightning provides the loop, progress, CSV/TensorBoard logs,
checkpoints, resuming and DDP; :class:`~nda_core.runs.RunCheckpoint` keeps a resumed checkpoint
from naming files outside the run for deletion.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from nda_core._checks import check_choice, check_int, check_number, check_positive
from nda_core.errors import UsageError
from nda_core.runs import RunCheckpoint
from video_dpc.datasets import ClipDataset, VideoSource, file_videos
from video_dpc.loss import dpc_loss
from video_dpc.model import DPC, MODEL_DEFAULTS, DPCClassifier
from video_dpc.nda import DPCNegatives, NDAOptions
from video_dpc.sampling import BlockLayout
from video_dpc.transforms import Augment, ClipTransform, _options

__all__ = [
    "DPCPretraining",
    "DPCFinetuning",
    "VideoDataModule",
    "UCF101DataModule",
    "HMDB51DataModule",
    "MovingMNISTDataModule",
    "PrintProgress",
    "RunCheckpoint",
    "TestResults",
    "TRAIN_WHAT",
    "checkpoint_kind",
    "load_state_dict",
    "per_class_top1",
]

LOG = logging.getLogger("video_dpc")
#: ``all``: fine-tune every layer (DPC's evaluation); ``last``: train BN + linear on a frozen
#: encoder and GRU (a linear probe; the encoder's BatchNorm statistics follow the labelled data).
TRAIN_WHAT = ("all", "last")
TOP5 = 5
RESULTS_FILE = "results.json"
_CLASSIFIER_KEY = "model.final_fc.1.weight"
_PREDICTOR_KEY = "model.predictor.0.weight"
Size = int | tuple[int, int]


def _checkpoint(path: str | Path, option: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{option} {str(path)!r} does not exist; pass the .ckpt written by `pretrain` or `finetune`.")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UsageError(f"{option} {str(path)!r} is not a Lightning checkpoint of video_dpc (no 'state_dict').")
    return checkpoint


def load_state_dict(path: str | Path, option: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint (``weights_only=True``: no code is loaded)."""
    prefix = "model."
    state = _checkpoint(path, option)["state_dict"]
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def checkpoint_kind(path: str | Path, option: str = "checkpoint") -> str:
    """``pretrain`` (DPC's predictor, no classifier), ``classifier`` (``finetune``'s) or ``other``."""
    state = _checkpoint(path, option)["state_dict"]
    if _CLASSIFIER_KEY in state:
        return "classifier"
    return "pretrain" if _PREDICTOR_KEY in state else "other"


def per_class_top1(pairs: Sequence[tuple[int, int]], classes: int) -> list[float | None]:
    """Top-1 (%) per class of ``(label, predicted)`` pairs; None for a class without videos."""
    totals = [0] * classes
    hits = [0] * classes
    for label, predicted in pairs:
        totals[label] += 1
        hits[label] += int(label == predicted)
    return [100 * h / t if t else None for h, t in zip(hits, totals)]


def _blocks(batch: Any) -> torch.Tensor:
    """The blocks of a batch: the data modules give (blocks, labels); pre-training ignores the labels."""
    return batch[0] if isinstance(batch, (list, tuple)) else batch


#: Upper bound of the seed a resumed DDP rank other than 0 draws from rank 0's restored NDA stream.
FORK_SEED_BOUND = 2**62


class DPCPretraining(pl.LightningModule):
    """DPC (``nda`` null) or NDA-DPC pre-training with Adam.

    Args:
        depth: ResNet 2D+3D depth (DPC: 18).
        width: channels of the first stage (DPC: 64).
        in_channels: frame channels (3 RGB, 1 grey).
        input_size: frame side in pixels, or [height, width] (DPC: 128).
        num_seq: blocks per clip (DPC: 8).
        seq_len: frames per block (DPC: 5).
        pred_step: predicted blocks (DPC: 3), at most num_seq - 1.
        gru_layers: ConvGRU layers (DPC: 1).
        gru_dropout: ConvGRU dropout (DPC: 0.1).
        track_running_stats: BatchNorm running statistics (DPC: false; true also saves them).
        stem_pool: max-pool after the stem (DPC: true).
        nda: NDA negatives (NDA-DPC), or null for plain DPC.
        lr: Adam's learning rate (DPC: 1e-3).
        weight_decay: Adam's weight decay (DPC: 1e-5).
        seed: seed of the NDA draws (each DDP rank adds its rank).
    """

    def __init__(
        self,
        depth: int = MODEL_DEFAULTS["depth"],
        width: int = MODEL_DEFAULTS["width"],
        in_channels: int = MODEL_DEFAULTS["in_channels"],
        input_size: Size = MODEL_DEFAULTS["input_size"],
        num_seq: int = MODEL_DEFAULTS["num_seq"],
        seq_len: int = MODEL_DEFAULTS["seq_len"],
        pred_step: int = MODEL_DEFAULTS["pred_step"],
        gru_layers: int = MODEL_DEFAULTS["gru_layers"],
        gru_dropout: float = MODEL_DEFAULTS["gru_dropout"],
        track_running_stats: bool = MODEL_DEFAULTS["track_running_stats"],
        stem_pool: bool = MODEL_DEFAULTS["stem_pool"],
        nda: NDAOptions | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        nda = None if nda is None else _options(NDAOptions, nda, "nda")
        self.save_hyperparameters(ignore=["nda"])
        self.hparams["nda"] = None if nda is None else dataclasses.asdict(nda)  # plain types: weights_only loads it
        self.model = DPC(
            depth,
            width,
            in_channels,
            input_size,
            num_seq,
            seq_len,
            pred_step,
            gru_layers,
            gru_dropout,
            track_running_stats,
            stem_pool,
        )
        self.negatives = None if nda is None else DPCNegatives(**dataclasses.asdict(nda))
        self.lr = check_positive(lr, "lr", "DPC uses 1e-3.")
        self.weight_decay = check_number(weight_decay, "weight_decay", 0.0, hint="DPC uses 1e-5.")
        self.seed = check_int(seed, "seed", 0)
        self._generator: torch.Generator | None = None
        self._generator_state: torch.Tensor | None = None

    @property
    def generator(self) -> torch.Generator:
        """The NDA draws' generator, on the model's device (seed + rank; on resume rank 0's saved stream, forked
        per rank)."""
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

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        blocks = _blocks(batch)
        pred, target = self.model(blocks)
        nda = None if self.negatives is None else self.negatives(self.model, blocks, self.generator)
        loss, accuracy = dpc_loss(pred, target, nda)
        self.log("train/loss", loss, prog_bar=True, batch_size=blocks.shape[0])
        self.log("train/top1", accuracy, prog_bar=True, batch_size=blocks.shape[0])
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        blocks = _blocks(batch)
        loss, accuracy = dpc_loss(*self.model(blocks))  # plain DPC loss: comparable with and without NDA
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=blocks.shape[0])
        self.log("val/top1", accuracy, sync_dist=True, batch_size=blocks.shape[0])

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
        num_classes: action classes (UCF-101: 101, HMDB-51: 51, moving MNIST: 8).
        depth: ResNet 2D+3D depth, as in pre-training.
        width: channels of the first stage, as in pre-training.
        in_channels: frame channels (3 RGB, 1 grey).
        input_size: frame side in pixels, or [height, width].
        num_seq: blocks per clip.
        seq_len: frames per block.
        gru_layers: ConvGRU layers.
        gru_dropout: ConvGRU dropout.
        track_running_stats: BatchNorm running statistics.
        stem_pool: max-pool after the stem.
        dropout: before the linear layer (DPC: 0.5).
        train_what: ``all`` (fine-tune every layer) or ``last`` (BN + linear on the frozen encoder and GRU).
        backbone_lr_mult: the encoder's learning rate factor (DPC's ``--train_what ft`` meant 0.1, but its
            parameter-name test never matches, so every layer trains at lr: 1.0).
        pretrained: a ``pretrain`` checkpoint whose encoder and GRU initialise the classifier (null: random).
        lr: Adam's learning rate (DPC: 1e-3).
        weight_decay: Adam's weight decay (DPC: 1e-3).
        milestones: epochs where lr is multiplied by gamma (DPC on UCF-101 at 128 px: [60, 80, 100]).
        gamma: the factor of the step schedule.
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = MODEL_DEFAULTS["depth"],
        width: int = MODEL_DEFAULTS["width"],
        in_channels: int = MODEL_DEFAULTS["in_channels"],
        input_size: Size = MODEL_DEFAULTS["input_size"],
        num_seq: int = MODEL_DEFAULTS["num_seq"],
        seq_len: int = MODEL_DEFAULTS["seq_len"],
        gru_layers: int = MODEL_DEFAULTS["gru_layers"],
        gru_dropout: float = MODEL_DEFAULTS["gru_dropout"],
        track_running_stats: bool = MODEL_DEFAULTS["track_running_stats"],
        stem_pool: bool = MODEL_DEFAULTS["stem_pool"],
        dropout: float = 0.5,
        train_what: Literal["all", "last"] = "all",
        backbone_lr_mult: float = 1.0,
        pretrained: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        milestones: Sequence[int] = (),
        gamma: float = 0.1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_what = check_choice(train_what, "train_what", TRAIN_WHAT)
        self.backbone_lr_mult = check_number(backbone_lr_mult, "backbone_lr_mult", 0.0)
        self.model = DPCClassifier(
            num_classes,
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
            dropout,
        )
        if self.train_what == "last":
            for module in (self.model.backbone, self.model.agg):
                module.requires_grad_(False)
        if pretrained is not None and checkpoint_kind(pretrained, "--model.pretrained") == "other":
            raise UsageError(f"--model.pretrained {pretrained!r} holds no DPC encoder; pass a `pretrain` checkpoint.")
        self.pretrained = pretrained
        self.lr = check_positive(lr, "lr", "DPC fine-tunes with 1e-3.")
        self.weight_decay = check_number(weight_decay, "weight_decay", 0.0)
        self.milestones = [check_int(m, "milestones[]", 1) for m in milestones]
        self.gamma = check_positive(gamma, "gamma")
        self.test_predictions: list[tuple[int, int]] = []
        self.loaded: list[str] = []

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Initialise the encoder and GRU from a ``pretrain`` checkpoint; returns the keys loaded."""
        return self.model.load_encoder(
            load_state_dict(path, "--model.pretrained"), f"pretrained checkpoint {str(path)!r}"
        )

    def setup(self, stage: str) -> None:
        """Before fitting a new run, load ``pretrained`` (a resumed run restores its own weights instead)."""
        if stage != "fit" or self.trainer.ckpt_path is not None:
            return
        if self.pretrained is None:
            LOG.info("no pretrained checkpoint: the encoder starts from random initialisation")
            return
        self.loaded = self.load_pretrained(self.pretrained)
        LOG.info("encoder and GRU initialised from %s (%d tensors)", self.pretrained, len(self.loaded))

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
            raise UsageError(
                "test batches must hold one video's windows (1, W, N, C, T, H, W), got "
                f"{tuple(windows.shape)}; use batch_size 1."
            )
        probabilities = F.softmax(self.model(windows[0]), dim=1).mean(0, keepdim=True)
        top = probabilities.topk(min(TOP5, probabilities.shape[1]), dim=1).indices
        label = labels.view(-1)
        self.log("test/top1", (top[:, 0] == label).float().mean(), sync_dist=True, batch_size=1)
        self.log("test/top5", (top == label.view(-1, 1)).any(1).float().mean(), sync_dist=True, batch_size=1)
        self.test_predictions.append((int(label), int(top[0, 0])))

    def on_test_epoch_start(self) -> None:
        self.test_predictions = []

    def configure_optimizers(self) -> Any:
        encoder = [
            p for name, p in self.model.named_parameters() if name.startswith(("backbone.", "agg.")) and p.requires_grad
        ]
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
    """Clip datasets for the model's block layout; the subclasses say where the videos come from.

    ``fit`` builds the training split (random clips, augmented) and the test split's centred
    clips for validation (DPC validates on the test split too); ``test`` builds every test
    window of every test video (batch size 1). Items are ``(blocks, label)``.

    Args:
        batch_size: videos per training batch (DPC drops incomplete batches).
        num_workers: DataLoader worker processes (raise it until the GPU no longer waits for clips).
        ds: temporal stride between sampled frames (DPC: 3 on UCF-101 and HMDB-51).
        window_stride: blocks between test windows (default num_seq // 2).
        augment: clip augmentation (default :class:`~video_dpc.transforms.Augment`'s fields).
        num_seq: blocks per clip (set from the model).
        seq_len: frames per block (set from the model).
        in_channels: frame channels (set from the model).
        input_size: frame size (set from the model).
    """

    name = "videos"

    def __init__(
        self,
        batch_size: int = 4,
        num_workers: int = 0,
        ds: int = 1,
        window_stride: int | None = None,
        augment: Augment | None = None,
        num_seq: int = MODEL_DEFAULTS["num_seq"],
        seq_len: int = MODEL_DEFAULTS["seq_len"],
        in_channels: int = MODEL_DEFAULTS["in_channels"],
        input_size: Size = MODEL_DEFAULTS["input_size"],
    ) -> None:
        super().__init__()
        self.layout = BlockLayout(num_seq, seq_len, ds)
        self.batch_size = check_int(batch_size, "data.batch_size", 1)
        self.num_workers = check_int(num_workers, "data.num_workers", 0)
        self.window_stride = window_stride
        augment = Augment() if augment is None else _options(Augment, augment, "data.augment")
        fields = {field.name: getattr(augment, field.name) for field in dataclasses.fields(augment)}
        self.train_transform = ClipTransform(size=input_size, channels=in_channels, train=True, **fields)
        self.test_transform = ClipTransform(size=input_size, channels=in_channels, train=False, **fields)
        self.datasets: dict[str, ClipDataset] = {}

    def source(self, subset: str) -> VideoSource:
        """The videos of ``subset`` (``train`` or ``test``)."""
        raise NotImplementedError

    def build(self, subset: str, mode: str) -> ClipDataset:
        """The clip dataset of ``subset`` (train/test) in ``mode`` (train/val/test), built once."""
        key = f"{subset}-{mode}"
        if key not in self.datasets:
            transform = self.train_transform if mode == "train" else self.test_transform
            self.datasets[key] = ClipDataset(
                self.source(subset),
                self.layout,
                mode,
                transform,
                True,
                self.window_stride,
                name=f"{self.name} {subset} split",
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
            raise UsageError(f"{dataset.source.name(dataset.keep[0])}: {error}") from None

    def _loader(self, dataset: ClipDataset, train: bool, batch_size: int) -> torch.utils.data.DataLoader:
        if train and len(dataset) < batch_size:
            raise UsageError(
                f"the training split has {len(dataset)} usable videos, fewer than "
                f"data.batch_size={batch_size}; lower the "
                f"batch size (DPC drops incomplete batches)."
            )
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("train", "train"), True, self.batch_size)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("test", "val"), False, self.batch_size)

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.build("test", "test"), False, 1)


class _FileVideosDataModule(VideoDataModule):
    """UCF-101 or HMDB-51 from the official split files (layouts in :mod:`video_dpc.datasets`)."""

    def __init__(
        self,
        root: str,
        splits: str,
        split: Literal[1, 2, 3] = 1,
        source: Literal["video", "frames"] = "video",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root, self.splits, self.split, self.video_source = root, splits, split, source

    def source(self, subset: str) -> VideoSource:
        return file_videos(self.name, self.root, self.splits, self.split, subset, self.video_source)


class UCF101DataModule(_FileVideosDataModule):
    """UCF-101: ``root/<Class>/v_*.avi`` (or frame folders) and the ``ucfTrainTestlist`` split files.

    Args:
        root: the videos (one folder per class), or with source ``frames`` one folder of frames per video.
        splits: the folder of ``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt``.
        split: the official split (1, 2 or 3).
        source: ``video`` (decode the files with PyAV) or ``frames`` (folders of extracted frames).
    """

    name = "ucf101"

    def __init__(
        self,
        root: str = "data/ucf101/videos",
        splits: str = "data/ucf101/ucfTrainTestlist",
        split: Literal[1, 2, 3] = 1,
        source: Literal["video", "frames"] = "video",
        **kwargs: Any,
    ) -> None:
        super().__init__(root, splits, split, source, **kwargs)


class HMDB51DataModule(_FileVideosDataModule):
    """HMDB-51: ``root/<action>/<video>.avi`` (or frame folders) and ``testTrainMulti_7030_splits``.

    Args:
        root: the videos (one folder per action), or with source ``frames`` one folder of frames per video.
        splits: the folder of ``<action>_test_splitN.txt`` (1 = train, 2 = test).
        split: the official split (1, 2 or 3).
        source: ``video`` (decode the files with PyAV) or ``frames`` (folders of extracted frames).
    """

    name = "hmdb51"

    def __init__(
        self,
        root: str = "data/hmdb51/videos",
        splits: str = "data/hmdb51/testTrainMulti_7030_splits",
        split: Literal[1, 2, 3] = 1,
        source: Literal["video", "frames"] = "video",
        **kwargs: Any,
    ) -> None:
        super().__init__(root, splits, split, source, **kwargs)


class MovingMNISTDataModule(VideoDataModule):
    """Moving-MNIST actions (:mod:`video_dpc.moving_mnist`), generated on the fly from MNIST.

    Args:
        train_videos: videos of the training split (MNIST's training digits).
        test_videos: videos of the test split (MNIST's test digits).
        frames: frames per video.
        size: canvas side in pixels.
        seed: seed of the generation.
        mnist: MNIST location (default: the offline archive in ../shared/data, or $NDA_DATA).
    """

    name = "moving_mnist"

    def __init__(
        self,
        train_videos: int = 4000,
        test_videos: int = 800,
        frames: int = 32,
        size: int = 64,
        seed: int = 0,
        mnist: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.videos = {"train": train_videos, "test": test_videos}
        self.frames, self.size, self.seed, self.mnist = frames, size, seed, mnist

    def source(self, subset: str) -> VideoSource:
        from video_dpc.moving_mnist import MovingMNISTActions

        return MovingMNISTActions(subset, self.videos[subset], self.frames, self.size, self.seed, self.mnist)


class TestResults(pl.Callback):
    """Writes ``results.json`` into the trainer's ``default_root_dir`` when a test run ends (rank 0).

    It holds the tested checkpoint, top-1 and top-5 (%), the videos tested and skipped (too short),
    the class names and the top-1 per class; ``summary`` keeps the same dictionary.
    """

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.summary: dict[str, Any] = {}

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        pairs = list(getattr(pl_module, "test_predictions", []))
        dataset = trainer.datamodule.datasets["test-test"]
        metrics = trainer.callback_metrics
        self.summary = {
            "checkpoint": None if trainer.ckpt_path is None else str(trainer.ckpt_path),
            "videos": len(pairs),
            "skipped": dataset.skipped,
            "top1": 100 * float(metrics["test/top1"]),
            "top5": 100 * float(metrics["test/top5"]),
            "classes": dataset.classes,
            "per_class_top1": per_class_top1(pairs, len(dataset.classes)),
        }
        path = Path(trainer.default_root_dir) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.summary, indent=1))
        print(
            f"test top-1 {self.summary['top1']:.2f}% top-5 {self.summary['top5']:.2f}% on {len(pairs)} videos "
            f"({dataset.skipped} too short skipped); wrote {path}"
        )


class PrintProgress(pl.Callback):
    """One log line every ``every`` training steps (for runs without a progress bar)."""

    def __init__(self, every: int = 50) -> None:
        self.every = check_int(every, "every", 1)
        self._start = time.perf_counter()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step % self.every and step != trainer.max_steps:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else "?"
        text = " ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))
        LOG.info(
            "epoch %d step %d/%s %s (%.0f s)",
            trainer.current_epoch,
            step,
            total,
            text,
            time.perf_counter() - self._start,
        )
