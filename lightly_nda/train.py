"""``nda lightly train``: NDA-MoCo (or plain MoCo) on image folders, through Lightning's ``LightningCLI``.

Imported by ``nda lightly train`` only inside its ``main`` (it imports Lightning and torchvision).

Every option is LightningCLI's (jsonargparse): ``--model.*`` are the typed arguments of
``NDAMoCo``, ``--data.*`` those of ``ImageFolderData``, ``--trainer.*`` every ``Trainer`` option,
``--checkpoint.*`` those of the checkpoint callback (``nda_core.runs.RunCheckpoint``), ``--config``
reads YAML files (stacked: later ones override earlier ones; the shipped ones are in
``plugins/lightly/``), ``--print_config`` prints the resolved config, and ``--ckpt_path last``
(or a file) resumes a run: model, optimiser, step count and memory bank.

The run folder is ``--trainer.default_root_dir`` (default ``lightly-nda-out``): CSV logs (and
the resolved ``config.yaml``) in ``csv/version_N/``, checkpoints in ``checkpoints/``. A new run
refuses a folder whose ``checkpoints/`` already holds a run's checkpoints (continue it with
``--ckpt_path last``), a training folder smaller than one batch, and a resumed run that would do
no step; a resumed checkpoint's stored file paths outside the checkpoint folder are dropped before
Lightning's ``ModelCheckpoint`` could delete them (``RunCheckpoint``). The online linear evaluation
runs inside ``fit``, under the progress bar, at the last step (or every
``--trainer.val_check_interval`` steps); ``--data.val_dir none`` skips it.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.loggers import CSVLogger

from lightly_nda.data import ImageFolderData
from lightly_nda.moco import NDAMoCo
from nda_core.errors import UsageError, report_usage_error
from nda_core.runs import DEFAULT_LAST_NAME, RunCheckpoint, refuse_finished_run, refuse_idle_run

__all__ = ["main", "TrainCLI", "DEFAULT_ROOT_DIR", "TRAINER_DEFAULTS", "RESUME_LAST"]

DEFAULT_ROOT_DIR = "lightly-nda-out"
#: ``--ckpt_path`` value that resumes ``CHECKPOINT_DIR/last.ckpt``.
RESUME_LAST = "last"
#: ``Trainer`` defaults of ``nda lightly train`` (each one changes with ``--trainer.NAME``).
TRAINER_DEFAULTS: dict[str, Any] = {
    "default_root_dir": DEFAULT_ROOT_DIR,
    "max_steps": 1000,
    # validation by steps: at the last step, or every --trainer.val_check_interval steps
    "check_val_every_n_epoch": None,
    "num_sanity_val_steps": 0,
    "log_every_n_steps": 50,
}
CHECKPOINT_DEFAULTS: dict[str, Any] = {"checkpoint.save_last": True, "checkpoint.every_n_train_steps": 100}
_CHECKPOINT_FOLDER = "checkpoints"
_LOGGER_NAME = "csv"
_DESCRIPTION = (
    "Train NDA-MoCo (or plain MoCo with --model.nda none) with lightly and PyTorch Lightning on image folders: "
    "--data.root holds train/ and test/ laid out as <class>/<image> (default: CIFAR-10 from the offline archive). "
    "Options are LightningCLI's: --model.* (NDAMoCo), --data.* (ImageFolderData), --trainer.* (every Trainer option), "
    "--checkpoint.* (the checkpoint callback); --config FILE (stackable; shipped ones: nda configs list lightly), "
    "--print_config, --ckpt_path last to resume."
)


class _ValidationNotice(Callback):
    """Says what the first validation evaluates and how to skip it, through the progress bar."""

    def __init__(self, data: ImageFolderData) -> None:
        self.data, self.said = data, False

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.said or trainer.sanity_checking or self.data.val_set is None:
            return
        self.said = True
        pl_module.print(
            f"validation: online linear classifier on {len(self.data.val_set)} images of {self.data.val_dir} "
            f"(skip it with --data.val_dir none or --trainer.limit_val_batches 0)"
        )


class TrainCLI(LightningCLI):
    """``LightningCLI`` of ``NDAMoCo`` and ``ImageFolderData`` with the run-folder rules of ``nda lightly train``.

    Built with ``run=False``: the parser has no sub-command, so ``--help`` shows ``PROG [options]``;
    :meth:`train` runs ``Trainer.fit`` between the checks.
    """

    def __init__(self, args: list[str] | None = None, prog: str | None = None) -> None:
        self.resume: str | None = None
        self.checkpoint_option = ("--trainer.default_root_dir", DEFAULT_ROOT_DIR)
        with warnings.catch_warnings():  # args is the command line here (of `nda lightly train`), not a second one
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            self._build(args, prog)

    def _build(self, args: list[str] | None, prog: str | None) -> None:
        super().__init__(
            NDAMoCo,
            ImageFolderData,
            trainer_defaults=TRAINER_DEFAULTS,
            seed_everything_default=0,
            parser_kwargs={"prog": prog, "description": _DESCRIPTION},
            args=args,
            run=False,
            auto_configure_optimizers=False,  # NDAMoCo's SGD with a cosine schedule per step is the recipe
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.set_defaults(CHECKPOINT_DEFAULTS)
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_argument(
            "--ckpt_path",
            type=str | None,
            default=None,
            help="resume from this checkpoint, or 'last' for CHECKPOINT_DIR/last.ckpt (default: a new run)",
        )

    def before_instantiate_classes(self) -> None:
        """Fill the defaults that depend on other options, then check the run folder (before anything is written)."""
        config, trainer = self.config, self.config.trainer
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(Path(trainer.default_root_dir) / _CHECKPOINT_FOLDER)
            self.checkpoint_option = ("--trainer.default_root_dir", trainer.default_root_dir)
        else:
            self.checkpoint_option = ("--checkpoint.dirpath", config.checkpoint.dirpath)
        steps = trainer.max_steps if trainer.max_steps is not None and trainer.max_steps > 0 else None
        if trainer.val_check_interval is None and trainer.check_val_every_n_epoch is None:
            if steps is not None:
                trainer.val_check_interval = steps  # once, at the last step, inside fit (under the progress bar)
            else:
                trainer.check_val_every_n_epoch = 1
        elif steps is not None and isinstance(trainer.val_check_interval, int) and trainer.val_check_interval > steps:
            trainer.val_check_interval = steps  # a stacked smaller budget still validates, at its last step
        if steps is not None and trainer.log_every_n_steps is not None and trainer.log_every_n_steps > steps:
            trainer.log_every_n_steps = steps
        self.resume = self._resume_path(config.ckpt_path, Path(config.checkpoint.dirpath))
        if self.resume is None:
            option, value = self.checkpoint_option
            refuse_finished_run(config.checkpoint.dirpath, option, value, f"--ckpt_path {RESUME_LAST} (same {option})")

    def _resume_path(self, ckpt_path: str | None, folder: Path) -> str | None:
        if ckpt_path is None:
            return None
        path = folder / DEFAULT_LAST_NAME if ckpt_path == RESUME_LAST else Path(ckpt_path)
        if not path.is_file():
            option, value = self.checkpoint_option
            raise UsageError(
                f"--ckpt_path {ckpt_path}: no checkpoint at {path}; train once without --ckpt_path (same "
                f"{option} {value}) first."
            )
        return str(path)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Lightning's ``Trainer`` with a CSV logger in the run folder and a step-friendly progress bar by default."""
        trainer_config = self.config_init.trainer
        if trainer_config.logger in (None, True):
            kwargs["logger"] = CSVLogger(trainer_config.default_root_dir, name=_LOGGER_NAME)
        callbacks = trainer_config.callbacks
        callbacks = [] if callbacks is None else list(callbacks) if isinstance(callbacks, list) else [callbacks]
        if trainer_config.enable_progress_bar is not False and not any(isinstance(c, ProgressBar) for c in callbacks):
            callbacks.append(TQDMProgressBar())  # "Epoch N" (Rich's bar would show "Epoch 0/-2" for a run of max_steps)
        callbacks.append(_ValidationNotice(self.datamodule))
        return super().instantiate_trainer(callbacks=callbacks, **kwargs)

    def train(self) -> int:
        """Check the data and the checkpoint, fit, refuse a run without a step, save the last step and report."""
        model, data, trainer = self.model, self.datamodule, self.trainer
        data.setup("fit")  # a folder smaller than one batch stops here, before anything is written
        start_step = 0
        if self.resume is not None:
            checkpoint = torch.load(self.resume, map_location="cpu", weights_only=True, mmap=True)
            start_step = int(checkpoint.get("global_step", 0))
            model.check_resumable(checkpoint)
            del checkpoint
        if data.val_set is None:
            trainer.limit_val_batches = 0
        # checkpoints hold tensors and primitive types only, so they load with weights_only=True
        trainer.fit(model, datamodule=data, ckpt_path=self.resume, weights_only=True if self.resume else None)
        refuse_idle_run(
            start_step,
            trainer.global_step,
            trainer.max_steps,
            "--trainer.max_steps",
            f"{len(data.train_set)} images gave no full batch of --data.batch_size {data.batch_size} per device; "
            "lower --data.batch_size or add images",
        )
        checkpoints = self._checkpoint_callback()
        # the final step, whatever --checkpoint.every_n_train_steps (model, optimiser, loops, step count, memory bank)
        trainer.save_checkpoint(str(Path(checkpoints.dirpath) / DEFAULT_LAST_NAME), weights_only=False)
        if trainer.is_global_zero:
            metrics = {k: round(float(v), 4) for k, v in sorted(trainer.callback_metrics.items())}
            logs = trainer.logger.log_dir if trainer.logger is not None else "(no logger)"
            print(f"done: {trainer.global_step} steps, logs in {logs}, checkpoints in {checkpoints.dirpath}")
            print(json.dumps(metrics))
        return 0

    def _checkpoint_callback(self) -> Any:
        return next(c for c in self.trainer.callbacks if isinstance(c, RunCheckpoint))


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Train NDA-MoCo or plain MoCo with lightly on image folders (``nda lightly train``, LightningCLI options).

    Usage errors (an option's value, a run folder holding an earlier run, too few images, a run that
    did no step) print ``PROG: error: ...`` and return 2; LightningCLI's own parse errors exit 2 with its usage.
    """
    prog = prog or Path(sys.argv[0]).name
    try:
        return TrainCLI(args=argv, prog=prog).train()
    except UsageError as error:
        return report_usage_error(prog, error)
