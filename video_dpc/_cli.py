"""The ``LightningCLI`` of ``video_dpc``'s verbs (imported by ``video_dpc.cli`` when a command runs).

A module-level class, so that ``ddp_spawn`` can pickle the trainer's config callback, which refers
to it through its parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from jsonargparse.typing import PositiveInt
from pytorch_lightning.cli import LightningCLI

from nda_core.runs import RunCheckpoint, refuse_finished_run
from video_dpc.cli import DEFAULT_WORK_ROOT, LOG, TRAINING_COMMANDS, _resume

__all__ = ["CHECKPOINT_DEFAULTS", "DPCCLI", "LINKED"]

#: Model arguments that the data module takes too (the block layout and the frame size).
LINKED = ("num_seq", "seq_len", "in_channels", "input_size")
#: The run's checkpoints: ``last.ckpt`` and the latest, named by epoch and step.
CHECKPOINT_DEFAULTS = {
    "checkpoint.filename": "epoch{epoch:03d}-step{step:07d}",
    "checkpoint.auto_insert_metric_name": False,
    "checkpoint.save_last": True,
    "checkpoint.save_top_k": 1,
}


class DPCCLI(LightningCLI):
    """One verb of ``video_dpc``: its model class, the data modules, the Trainer and our options."""

    def __init__(
        self, command: str, *args: Any, instantiate: bool = True, prog: str = "python -m video_dpc", **kwargs: Any
    ) -> None:
        self.command = command
        self.instantiate = instantiate
        self.prog = prog
        self.resume: str | None = None
        super().__init__(*args, **kwargs)

    def instantiate_classes(self) -> None:
        if self.instantiate:
            super().instantiate_classes()

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument(
            "--threads",
            type=PositiveInt | None,
            default=None,
            help="torch CPU threads of this process (default: torch's choice)",
        )
        if self.command == "evaluate":
            parser.add_argument(
                "--ckpt_path",
                type=str | None,
                default=None,
                help="the `finetune` checkpoint to test, or 'last' for <default_root_dir>/checkpoints/"
                "last.ckpt (default: %(default)s)",
            )
        else:
            parser.add_argument(
                "--ckpt_path",
                type=str | None,
                default=None,
                help="resume: 'last' (<default_root_dir>/checkpoints/last.ckpt; a new run when there is "
                "none) or a .ckpt of this run (default: %(default)s, a new run)",
            )
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")  # evaluate takes (and ignores) a training config's
        parser.set_defaults(CHECKPOINT_DEFAULTS)
        for key in LINKED:
            parser.link_arguments(f"model.{key}", f"data.init_args.{key}")

    def before_instantiate_classes(self) -> None:
        config = self.config
        if config.threads is not None and self.instantiate:
            torch.set_num_threads(config.threads)
        if not config.trainer.default_root_dir:
            stems = [Path(str(path)).stem for path in config.get("config") or []]
            config.trainer.default_root_dir = str(Path(DEFAULT_WORK_ROOT) / ("+".join(stems) or self.command))
        if not config.checkpoint.dirpath:
            config.checkpoint.dirpath = str(Path(config.trainer.default_root_dir) / "checkpoints")
        if self.instantiate and self.command in TRAINING_COMMANDS:  # refused before anything is built
            folder = Path(config.checkpoint.dirpath)
            self.resume = _resume(config.ckpt_path, folder, self.command, self.prog)
            if self.resume is None:  # a new run never replaces an earlier run's checkpoints
                refuse_finished_run(
                    folder, "--trainer.default_root_dir", config.trainer.default_root_dir, "--ckpt_path last"
                )

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        if self.config_init.trainer.get("logger") in (None, True):
            training = self.command in TRAINING_COMMANDS
            kwargs["logger"] = _loggers(self.config.trainer.default_root_dir) if training else False
        return super().instantiate_trainer(**kwargs)


def _loggers(work_dir: str) -> list[Any]:
    """CSV logs under ``<work_dir>/csv`` (its ``version_N`` also gets the config), TensorBoard under ``tb``."""
    from pytorch_lightning.loggers import CSVLogger

    loggers: list[Any] = [CSVLogger(work_dir, name="csv")]
    try:
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(work_dir, name="tb"))  # raises when no tensorboard is installed
    except ModuleNotFoundError:  # pragma: no cover - depends on the environment
        LOG.info("tensorboard is not installed: CSV logs only")
    return loggers
