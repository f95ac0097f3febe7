"""NDA-MoCo (or plain MoCo) on an image folder with lightly and a Lightning ``Trainer``.

Imported by ``nda lightly train`` only inside its ``main`` (it imports torchvision).

The recipe of ``examples/lightly_moco_nda.py`` and of ``nda lightly train``: lightly's
``MoCoV2Transform`` on a torchvision ``ImageFolder`` (real CIFAR-10 from the offline archive by
default), ``NDAMoCo`` with lightly's CIFAR ResNet, an online linear classifier on the labels, a
progress bar, CSV or TensorBoard logs and checkpoints that resume (model, optimiser, step count
and memory bank).

A new run refuses an ``--out`` whose ``checkpoints/`` already holds a run's checkpoints (continue
it with ``--resume``), a folder smaller than one batch, and a resumed run that would do no step;
a resumed checkpoint's stored file paths outside ``OUT/checkpoints`` are dropped before
Lightning's ``ModelCheckpoint`` could delete them (:class:`RunCheckpoint`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from torchvision.datasets import ImageFolder

from nda_core.data import class_files
from nda_core.runs import RunCheckpoint, checkpoint_step, refuse_finished_run, refuse_idle_run

__all__ = ["build_parser", "image_folder", "parse_nda", "main", "RunCheckpoint", "DEFAULT_OUT", "EXIT_USAGE"]

DEFAULT_OUT = "lightly-nda-out"
EXIT_USAGE = 2
_MAX_WORKERS = 4
_MIN_BATCH = 2  # the smallest batch MoCo trains on


def parse_nda(text: str) -> Any:
    """``none`` -> None, a JSON object/list -> that spec, anything else -> the NDA's name."""
    if text.strip().lower() == "none":
        return None
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"--nda {text!r} is not valid JSON: {error}") from None
    return text


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" unless the help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        return text if "(default:" in text else super()._get_help_string(action)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train NDA-MoCo (or plain MoCo with --nda none) with lightly and PyTorch Lightning on an "
        "image folder laid out as root/<class>/<image>.",
        formatter_class=_DefaultsFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, default=None, help="training image folder (default: CIFAR-10 train/ from the offline archive)")
    data.add_argument(
        "--val-data", default=None,
        help="held-out image folder for the online linear accuracy, or 'none' (default: the test/ folder beside --data if there is one)",
    )
    data.add_argument("--per-class", type=int, default=None, help="use only this many images per class (default: all)")
    data.add_argument("--input-size", type=int, default=32, help="crop size of MoCoV2Transform")
    data.add_argument("--workers", type=int, default=min(_MAX_WORKERS, os.cpu_count() or 1), help="dataloader workers")
    model = parser.add_argument_group("model")
    model.add_argument("--nda", type=parse_nda, default="jigsaw", help="NDA name (jigsaw, stitch, cutout, cutmix, mixup, vflip, noise), a JSON spec, or 'none' for plain MoCo")
    model.add_argument("--num-nda-views", type=int, default=2, help="NDA images per sample (alternating query / key view)")
    model.add_argument("--nda-encoder", choices=["key", "query"], default="key", help="'key': momentum encoder, no gradient (paper)")
    model.add_argument("--backbone", default="resnet-18", help="lightly CIFAR ResNet: resnet-9, resnet-18, resnet-34, resnet-50")
    model.add_argument("--width", type=float, default=1.0, help="width multiplier of the ResNet")
    model.add_argument("--temperature", type=float, default=0.1, help="InfoNCE temperature")
    model.add_argument("--memory-bank", type=int, default=4096, help="negatives in the memory bank")
    model.add_argument("--projection-dim", type=int, default=128, help="output size of the projection head")
    model.add_argument("--lr", type=float, default=0.06, help="SGD learning rate (cosine schedule)")
    run = parser.add_argument_group("run")
    run.add_argument("--max-steps", type=int, default=1000, help="optimiser steps")
    run.add_argument("--batch-size", type=int, default=128, help="batch size per device")
    run.add_argument("--devices", default="auto", help="Lightning devices (e.g. 1, 2, auto)")
    run.add_argument("--accelerator", default="auto", help="Lightning accelerator (cpu, gpu, auto)")
    run.add_argument("--strategy", default="auto", help="Lightning strategy (e.g. ddp)")
    run.add_argument("--precision", default=None, help="Lightning precision (e.g. 16-mixed on a GPU)")
    run.add_argument("--logger", choices=["csv", "tensorboard"], default="csv", help="where metrics are logged")
    run.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="folder for logs and checkpoints")
    run.add_argument("--checkpoint-every", type=int, default=100, help="save a checkpoint every N steps (and at the end)")
    run.add_argument("--val-every", type=int, default=None, help="run the online linear evaluation every N steps (default: at the end)")
    run.add_argument("--resume", default=None, help="checkpoint to resume from, or 'last' for OUT/checkpoints/last.ckpt")
    run.add_argument("--seed", type=int, default=0, help="seed of weights, data order and NDA draws")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


class _FirstPerClassFolder(ImageFolder):
    """``ImageFolder`` of the first ``per_class`` images (by name) of each class."""

    def __init__(self, root: str, transform: Any, per_class: int) -> None:
        self.per_class = per_class
        super().__init__(root, transform=transform)

    def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
        files, _ = class_files(directory, self.per_class, seed=None)  # nda_core's one subset picker
        return [(str(path), label) for path, label in files]


def image_folder(root: Path, transform: Any, per_class: int | None = None) -> ImageFolder:
    """torchvision ``ImageFolder`` of ``root``, or of the first ``per_class`` images (by name) of each class."""
    if not Path(root).is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist; pass a folder laid out as root/<class>/<image>.")
    if per_class is None:
        return ImageFolder(str(root), transform=transform)
    return _FirstPerClassFolder(str(root), transform, per_class)


def _devices(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _resume_path(args: argparse.Namespace) -> str | None:
    resume = str(args.out / "checkpoints" / "last.ckpt") if args.resume == "last" else args.resume
    if resume is not None and not Path(resume).is_file():
        raise ValueError(f"--resume {args.resume}: no checkpoint at {resume}; train once without --resume (same --out) first.")
    return resume


def _validate(args: argparse.Namespace) -> str | None:
    """Check the arguments before training; returns the checkpoint to resume from."""
    from nda_core._checks import check_int

    check_int(args.max_steps, "--max-steps", 1)
    check_int(args.batch_size, "--batch-size", _MIN_BATCH, hint="MoCo needs at least 2 images per batch.")
    check_int(args.checkpoint_every, "--checkpoint-every", 1)
    check_int(args.workers, "--workers", 0)
    if args.per_class is not None:
        check_int(args.per_class, "--per-class", 1)
    if args.val_every is not None:
        check_int(args.val_every, "--val-every", 1)
    resume = _resume_path(args)
    if resume is None:
        refuse_finished_run(args.out / "checkpoints", "--out", args.out, "--resume last (same --out)")
    if args.logger == "tensorboard" and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ValueError("--logger tensorboard needs TensorBoard: pip install tensorboard (or use --logger csv).")
    return resume


def _check_enough_images(train_set: ImageFolder, args: argparse.Namespace, root: Path) -> None:
    """MoCo drops the incomplete batch: a folder smaller than one batch would train no step."""
    if len(train_set) < args.batch_size:
        subset = f" (--per-class {args.per_class})" if args.per_class is not None else ""
        fix = f"pass --batch-size {len(train_set)} or fewer, or more images" if len(train_set) >= _MIN_BATCH else "add images"
        raise ValueError(
            f"--data {root} gives {len(train_set)} images{subset}, fewer than one batch of --batch-size {args.batch_size}; "
            f"the incomplete batch is dropped, so no step would be trained: {fix}."
        )


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Train NDA-MoCo or plain MoCo with lightly on an image folder (``nda lightly train``).

    Usage errors (bad options, an ``--out`` holding an earlier run, too few images, a run that
    did no step) print ``PROG: error: ...`` and return 2.
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return _train(args)
    except (ValueError, TypeError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _train(args: argparse.Namespace) -> int:
    resume = _validate(args)
    import pytorch_lightning as pl
    import torch
    from lightly.transforms import MoCoV2Transform
    from lightly.transforms.utils import IMAGENET_NORMALIZE
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
    from torchvision import transforms as T

    from lightly_nda import NDAMoCo, cifar_resnet
    from nda_core.data import cifar10_root

    pl.seed_everything(args.seed, workers=True, verbose=False)
    train_root = args.data if args.data is not None else cifar10_root() / "train"
    val_root: Path | None
    if args.val_data is None:
        val_root = Path(train_root).parent / "test"
        val_root = val_root if val_root.is_dir() else None
    else:
        val_root = None if args.val_data.lower() == "none" else Path(args.val_data)

    # Two augmented views per image (lightly's MoCo-v2 recipe; no blur on 32 px images).
    transform = MoCoV2Transform(input_size=args.input_size, gaussian_blur=0.0)
    train_set = image_folder(train_root, transform, args.per_class)
    _check_enough_images(train_set, args, Path(train_root))
    loader_options = dict(num_workers=args.workers, persistent_workers=args.workers > 0)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, **loader_options)
    val_loader = None
    if val_root is not None:
        eval_transform = T.Compose(
            [T.Resize(args.input_size), T.CenterCrop(args.input_size), T.ToTensor(), T.Normalize(IMAGENET_NORMALIZE["mean"], IMAGENET_NORMALIZE["std"])]
        )
        val_set = image_folder(val_root, eval_transform, args.per_class)
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=args.batch_size, **loader_options)

    backbone, feature_dim = cifar_resnet(args.backbone, args.width)
    model = NDAMoCo(
        backbone,
        feature_dim,
        nda=args.nda,
        num_nda_views=args.num_nda_views,
        nda_encoder=args.nda_encoder,
        temperature=args.temperature,
        memory_bank_size=(args.memory_bank, args.projection_dim),
        projection_dim=args.projection_dim,
        num_classes=len(train_set.classes),
        lr=args.lr,
    )
    logger = (CSVLogger if args.logger == "csv" else TensorBoardLogger)(str(args.out), name=args.logger)
    checkpoints = RunCheckpoint(dirpath=args.out / "checkpoints", every_n_train_steps=args.checkpoint_every, save_last=True)
    trainer = pl.Trainer(
        max_steps=args.max_steps,
        devices=_devices(args.devices),
        accelerator=args.accelerator,
        strategy=args.strategy,
        precision=args.precision,
        logger=logger,
        callbacks=[checkpoints],
        log_every_n_steps=min(50, args.max_steps),
        # with --val-every: online linear evaluation every N steps; otherwise once at the end
        val_check_interval=args.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        enable_progress_bar=not args.no_progress,
    )
    start_step = checkpoint_step(resume) if resume else 0
    # checkpoints hold tensors and primitive types only, so they load with weights_only=True
    trainer.fit(model, train_loader, val_loader if args.val_every else None, ckpt_path=resume, weights_only=True if resume else None)
    refuse_idle_run(start_step, trainer.global_step, args.max_steps, "--max-steps",
                    f"{len(train_set)} images gave no full batch of --batch-size {args.batch_size} per device; lower --batch-size or add images")
    # the final step, whatever --checkpoint-every (model, optimiser, loops, step count, memory bank)
    trainer.save_checkpoint(checkpoints.dirpath + "/last.ckpt", weights_only=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if val_loader is not None and not args.val_every:
        metrics.update({k: float(v) for k, v in trainer.validate(model, val_loader, verbose=False)[0].items()})
    if trainer.is_global_zero:
        print(f"done: {trainer.global_step} steps, logs in {logger.log_dir}, checkpoints in {checkpoints.dirpath}")
        print(json.dumps({k: round(v, 4) for k, v in sorted(metrics.items())}))
    return 0
