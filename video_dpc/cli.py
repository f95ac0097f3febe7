"""Command line: ``python -m video_dpc pretrain|finetune|evaluate --config CFG.yaml [--key VALUE ...]``.

The same function serves ``nda dpc ...``. Each verb is a ``LightningCLI`` (jsonargparse) with its
LightningModule and the data modules of ``video_dpc.engine``:

* ``pretrain``: :class:`~video_dpc.engine.DPCPretraining` (DPC, or NDA-DPC with ``model.nda``), ``Trainer.fit``;
* ``finetune``: :class:`~video_dpc.engine.DPCFinetuning` (fine-tuning or a linear probe, the encoder
  from ``--model.pretrained``), ``Trainer.fit``;
* ``evaluate``: the same classifier, ``Trainer.test`` of ``--ckpt_path`` on every window of every
  test video; :class:`~video_dpc.engine.TestResults` writes ``results.json``.

Configs (``plugins/video_dpc/``) have ``model:``, ``data:`` (``class_path`` of a data module and its
``init_args``), ``trainer:`` and ``checkpoint:`` (:class:`~nda_core.runs.RunCheckpoint`) sections;
``--config`` may be repeated (later files override earlier ones), every option can be set on the
command line (``--model.lr 3e-4``, ``--trainer.max_steps 100``, ``--trainer.devices 4``) and
``--print_config`` shows the result. ``model.num_seq``, ``seq_len``, ``in_channels`` and
``input_size`` are also the data module's (linked). A run writes into ``--trainer.default_root_dir``
(default ``work_dirs/<config names>``): ``checkpoints/`` (``last.ckpt`` and the latest), CSV logs
and the resolved config under ``csv/version_N/``, TensorBoard logs under ``tb/``; ``evaluate`` writes
``results.json``. ``pretrain`` and ``finetune`` refuse a folder whose ``checkpoints/`` already holds
a run's checkpoints unless they resume it (``--ckpt_path last``), and a run that did no optimisation
step exits 2.

Examples::

    python -m video_dpc pretrain --config plugins/video_dpc/cpu/nda-dpc-jigsaw_moving-mnist.yaml
    python -m video_dpc pretrain --config CFG.yaml --ckpt_path last          # continue the last run
    python -m video_dpc finetune --config plugins/video_dpc/cpu/linear_moving-mnist.yaml \\
        --model.pretrained work_dirs/nda-dpc-jigsaw_moving-mnist/checkpoints/last.ckpt
    python -m video_dpc evaluate --config plugins/video_dpc/cpu/linear_moving-mnist.yaml --ckpt_path last
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

from nda_core.errors import UsageError, report_usage_error

__all__ = ["COMMANDS", "DEFAULT_WORK_ROOT", "build", "done_line", "load_config", "main", "run"]

#: The verbs and their line in ``--help``.
COMMANDS = {
    "pretrain": "DPC or NDA-DPC self-supervised pre-training (Trainer.fit of DPCPretraining)",
    "finetune": "train DPC's action classifier: fine-tuning or a linear probe (Trainer.fit of DPCFinetuning)",
    "evaluate": "test a fine-tuned classifier: softmax averaged over every window of every test video (Trainer.test)",
}
TRAINING_COMMANDS = ("pretrain", "finetune")  # they write checkpoints
DEFAULT_WORK_ROOT = "work_dirs"
LOG = logging.getLogger("video_dpc")


def build(command: str, argv: list[str], prog: str = "python -m video_dpc", instantiate: bool = True) -> Any:
    """The ``LightningCLI`` of ``command`` parsed from ``argv``: ``.model``, ``.datamodule``, ``.trainer``, ``.config``
    (with ``instantiate=False`` only ``.config``: nothing is built).

    Parse errors raise ``jsonargparse.ArgumentError`` (``--help`` and ``--print_config`` exit).
    """
    from video_dpc.engine import DPCFinetuning, DPCPretraining, TestResults, VideoDataModule

    if command not in COMMANDS:
        raise ValueError(f"command must be one of {list(COMMANDS)}, got {command!r}")
    model = DPCPretraining if command == "pretrain" else DPCFinetuning
    defaults = {"callbacks": [TestResults()]} if command == "evaluate" else {}
    save = {"config_filename": f"{command}-config.yaml", "overwrite": command == "evaluate"}
    program, sys.argv = sys.argv, sys.argv[:1]  # the arguments are argv: no LightningCLI warning about sys.argv
    from video_dpc._cli import DPCCLI

    try:
        return DPCCLI(
            command,
            model,
            VideoDataModule,
            instantiate=instantiate,
            prog=prog,
            subclass_mode_data=True,
            run=False,
            args=argv,
            seed_everything_default=0,
            auto_configure_optimizers=False,
            trainer_defaults=defaults,
            save_config_kwargs=save,
            parser_kwargs={
                "prog": f"{prog} {command}",
                "exit_on_error": False,
                "allow_abbrev": False,
                "description": COMMANDS[command],
            },
        )
    finally:
        sys.argv = program


def load_config(command: str, argv: list[str]) -> dict[str, Any]:
    """The resolved config of ``command`` with arguments ``argv`` (what ``--print_config`` shows), as a dict."""
    import yaml

    cli = build(command, argv, instantiate=False)
    return yaml.safe_load(cli.parser.dump(cli.config, skip_link_targets=False))


def _steps(trainer: Any, folder: Path) -> int:
    """Steps done: the trainer's count, or the last checkpoint's (spawned DDP workers keep theirs)."""
    last = folder / "last.ckpt"
    if trainer.global_step == 0 and last.is_file():
        from nda_core.runs import checkpoint_step

        return checkpoint_step(last)
    return trainer.global_step


def _resume(ckpt_path: str | None, folder: Path, command: str, prog: str) -> str | None:
    """The checkpoint a training run resumes from (None: a new run)."""
    from video_dpc.engine import checkpoint_kind

    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        last = folder / "last.ckpt"
        if not last.is_file():
            LOG.info("no %s yet: starting a new run", last)
            return None
        ckpt_path = str(last)
    kind = checkpoint_kind(ckpt_path, "--ckpt_path")
    wanted = "pretrain" if command == "pretrain" else "classifier"
    if kind != wanted:
        fix = (
            f"initialise a classifier from it with `{prog} finetune --config CFG --model.pretrained {ckpt_path}`"
            if kind == "pretrain"
            else f"resume a checkpoint written by `{prog} {command}`"
        )
        raise UsageError(
            f"--ckpt_path {ckpt_path} is not a checkpoint of `{command}` (it holds a {kind} model); {fix}."
        )
    return ckpt_path


def _fit(cli: Any, command: str, prog: str) -> dict[str, Any]:
    from nda_core.runs import checkpoint_step, refuse_idle_run

    trainer, folder, resume = cli.trainer, Path(cli.config.checkpoint.dirpath), cli.resume  # refusals: video_dpc._cli
    start = checkpoint_step(resume) if resume else 0
    trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=resume, weights_only=True)
    steps = _steps(trainer, folder)
    max_steps = trainer.max_steps if trainer.max_steps is not None and trainer.max_steps >= 0 else None
    refuse_idle_run(
        start,
        steps,
        max_steps,
        "--trainer.max_steps",
        "the training split gave no full batch of data.batch_size, or a resumed run had already reached "
        "trainer.max_epochs; lower data.batch_size or raise the limit",
    )
    summary: dict[str, Any] = {"steps": steps, "steps_this_run": steps - start}
    per_epoch = trainer.num_training_batches
    if isinstance(per_epoch, int) and per_epoch > 0:  # not known in the parent of spawned DDP workers
        summary.update(
            steps_per_epoch=per_epoch, epochs=round(steps / per_epoch, 3), completed_epochs=steps // per_epoch
        )
    if command == "finetune":
        summary["pretrained"] = cli.model.pretrained
    summary["checkpoints"] = str(folder)
    return summary


def _evaluate(cli: Any, prog: str) -> dict[str, Any]:
    from video_dpc.engine import TestResults, checkpoint_kind

    ckpt_path = cli.config.ckpt_path
    work = Path(cli.trainer.default_root_dir)
    if ckpt_path is None:
        raise UsageError(
            f"evaluate needs --ckpt_path: the checkpoint written by `{prog} finetune` (or 'last' for "
            f"{work / 'checkpoints' / 'last.ckpt'})."
        )
    if ckpt_path == "last":
        ckpt_path = str(work / "checkpoints" / "last.ckpt")
    kind = checkpoint_kind(ckpt_path, "--ckpt_path")
    if kind == "pretrain":
        raise UsageError(
            f"--ckpt_path {ckpt_path} is a pre-training checkpoint (DPC's predictor, no classifier); evaluate tests a "
            f"classifier. Train one on its encoder first: `{prog} finetune --config CFG --model.pretrained "
            f"{ckpt_path}`, "
            f"then evaluate that run's checkpoints/last.ckpt."
        )
    if kind != "classifier":
        raise UsageError(
            f"--ckpt_path {ckpt_path} holds no DPC classifier; pass a checkpoint written by `{prog} finetune`."
        )
    cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)
    results = next(c for c in cli.trainer.callbacks if isinstance(c, TestResults))
    return dict(results.summary)


def run(command: str, argv: list[str], prog: str = "python -m video_dpc") -> dict[str, Any]:
    """Run ``command`` with the command-line arguments ``argv``; returns a summary (``evaluate``: results.json's)."""
    start = time.perf_counter()
    cli = build(command, argv, prog)
    summary = _evaluate(cli, prog) if command == "evaluate" else _fit(cli, command, prog)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    summary["work_dir"] = str(cli.trainer.default_root_dir)
    return summary


def done_line(command: str, summary: dict[str, Any]) -> str:
    """The line a finished run prints: steps (this run and in all), epochs as steps / steps per epoch."""
    if command == "evaluate":
        return (
            f"evaluate done in {summary['seconds']:.0f} s: top-1 {summary['top1']:.2f}% on {summary['videos']} videos"
        )
    line = (
        f"{command} done in {summary['seconds']:.0f} s: {summary['steps_this_run']} steps (now at step "
        f"{summary['steps']}"
    )
    if "epochs" in summary:
        line += f", {summary['epochs']:g} epochs of {summary['steps_per_epoch']} steps"
    return line + f"); checkpoints in {summary['checkpoints']}"


def _one_line(error: BaseException) -> str:
    """A jsonargparse error on one line (its messages span several, indented)."""
    return re.sub(r"\s*\n\s*", " ", str(error)).strip()


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        add_help=True,
        description="Dense Predictive Coding (DPC) with NDA negatives for self-supervised video representation "
        "learning: pre-train, fine-tune or linearly probe, and evaluate on UCF-101, HMDB-51 or moving-MNIST actions. "
        "Each command is a LightningCLI: `COMMAND --help` lists its options, "
        "`COMMAND --config CFG.yaml --print_config` its config.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dense Predictive Coding with NDA negatives on video (pretrain, finetune, evaluate)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = sys.argv[0] if sys.argv and sys.argv[0].startswith("nda ") else "python -m video_dpc"
    if not argv or argv[0] not in COMMANDS:
        _parser(prog).parse_args(argv[:1])  # help, or argparse's error naming the commands (exit 2)
    command, rest = argv[0], argv[1:]
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    LOG.setLevel(logging.INFO)
    from jsonargparse import ArgumentError

    try:
        summary = run(command, rest, prog)
    except ArgumentError as error:
        return report_usage_error(f"{prog} {command}", _one_line(error))
    except UsageError as error:
        return report_usage_error(f"{prog} {command}", error)
    except SystemExit as exit_:  # --help, --print_config
        return (
            int(exit_.code or 0)
            if not isinstance(exit_.code, str)
            else report_usage_error(f"{prog} {command}", exit_.code)
        )
    print(done_line(command, summary))
    return 0
