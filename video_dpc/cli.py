"""Command line: ``python -m video_dpc pretrain|finetune|evaluate --config CFG.yaml [key=value ...]``.

The same function serves ``nda dpc ...``. Configs live in ``plugins/video_dpc/``; every run
writes into its work directory (default ``work_dirs/<config name>``): the resolved
``config.yaml``, ``checkpoints/`` (``last.ckpt`` and the latest epoch), CSV logs under
``csv/`` and TensorBoard logs under ``tb/``; ``evaluate`` writes ``results.json``. ``pretrain`` and
``finetune`` refuse a work directory whose ``checkpoints/`` already holds a run's checkpoints unless
they resume it (``--resume``), and a run that did no optimisation step exits 2.

Examples::

    python -m video_dpc pretrain --config plugins/video_dpc/cpu/nda-dpc-jigsaw_moving-mnist.yaml
    python -m video_dpc pretrain --config CFG.yaml --resume auto            # continue the last run
    python -m video_dpc finetune --config plugins/video_dpc/cpu/linear_moving-mnist.yaml \\
        --pretrained work_dirs/nda-dpc-jigsaw_moving-mnist/checkpoints/last.ckpt
    python -m video_dpc evaluate --config plugins/video_dpc/cpu/linear_moving-mnist.yaml \\
        --checkpoint work_dirs/linear_moving-mnist/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser", "run"]

COMMANDS = ("pretrain", "finetune", "evaluate")
TRAINING_COMMANDS = ("pretrain", "finetune")  # they write checkpoints
EXIT_USAGE = 2
DEFAULT_WORK_ROOT = "work_dirs"
LOG = logging.getLogger("video_dpc")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Dense Predictive Coding (DPC) with NDA negatives for self-supervised video representation "
        "learning: pre-train, fine-tune or linearly probe, and evaluate on UCF-101, HMDB-51 or moving-MNIST actions.",
        epilog="Overrides are key.sub=value pairs parsed as YAML, e.g. optim.lr=3e-4 trainer.max_epochs=10 nda=null.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "pretrain": "DPC or NDA-DPC self-supervised pre-training (config sections model, nda, data, optim, trainer)",
        "finetune": "train DPC's action classifier: fine-tuning or a linear probe (classifier.train_what)",
        "evaluate": "test a fine-tuned classifier: softmax averaged over every window of every test video",
    }
    for name in COMMANDS:
        sub = commands.add_parser(name, help=helps[name], description=helps[name])
        sub.add_argument("--config", required=True, help="YAML config, e.g. plugins/video_dpc/cpu/dpc_moving-mnist.yaml")
        sub.add_argument("--work-dir", default=None, help="output folder (default: the config's work_dir, else work_dirs/<config name>)")
        if name != "evaluate":
            sub.add_argument("--resume", default=None, help="checkpoint to resume from, or 'auto' for <work-dir>/checkpoints/last.ckpt (default: %(default)s)")
        if name == "finetune":
            sub.add_argument("--pretrained", default=None, help="pre-training checkpoint for the encoder (default: the config's 'pretrained'; none means random init)")
        if name == "evaluate":
            sub.add_argument("--checkpoint", default=None, help="fine-tuned checkpoint to test (default: the config's evaluate.checkpoint)")
        sub.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        sub.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides (default: none)")
    return parser


def _work_dir(args: argparse.Namespace, config: dict[str, Any]) -> Path:
    if args.work_dir:
        return Path(args.work_dir)
    if config.get("work_dir"):
        return Path(config["work_dir"])
    return Path(DEFAULT_WORK_ROOT) / Path(args.config).stem


def _resume_path(resume: str | None, work_dir: Path) -> str | None:
    if resume is None:
        return None
    if resume == "auto":
        last = work_dir / "checkpoints" / "last.ckpt"
        if last.is_file():
            LOG.info("resuming from %s", last)
            return str(last)
        LOG.info("no %s yet: starting a new run", last)
        return None
    if not Path(resume).is_file():
        raise ValueError(f"--resume {resume!r} does not exist; pass a .ckpt file or 'auto'.")
    return resume


def _trainer(config: dict[str, Any], work_dir: Path, logs: bool = True):
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from nda_core._checks import check_choice
    from video_dpc.config import check_keys
    from video_dpc.engine import PrintProgress, RunCheckpoint

    options = dict(config.get("trainer") or {})
    reserved = {"default_root_dir", "logger", "callbacks", "enable_progress_bar"} & set(options)
    if reserved:
        raise ValueError(f"trainer.{sorted(reserved)[0]} is set by video_dpc (work dir, CSV/TensorBoard logs, checkpoints, "
                         f"progress); remove it from the trainer section (use the top-level 'progress' for the bar).")
    import inspect

    check_keys(options, [p for p in inspect.signature(pl.Trainer).parameters if p != "self"], "trainer")
    progress = check_choice(config.get("progress", "bar"), "progress", ("bar", "log", "none"))
    callbacks: list[Any] = []
    if progress == "log":
        callbacks.append(PrintProgress(options.get("log_every_n_steps", 50)))
    loggers: list[Any] | bool = False
    if logs:
        loggers = [CSVLogger(str(work_dir), name="csv")]
        try:
            from pytorch_lightning.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(str(work_dir), name="tb"))
        except ModuleNotFoundError:  # pragma: no cover - depends on the environment
            LOG.info("tensorboard is not installed: CSV logs only")
        ckpt = dict(config.get("checkpoint") or {})
        check_keys(ckpt, ["every_n_epochs", "every_n_train_steps", "keep"], "checkpoint")
        callbacks.append(RunCheckpoint(
            dirpath=str(work_dir / "checkpoints"), filename="epoch{epoch:03d}-step{step:07d}", auto_insert_metric_name=False,
            save_last=True, save_top_k=ckpt.get("keep", 1), every_n_epochs=ckpt.get("every_n_epochs"),
            every_n_train_steps=ckpt.get("every_n_train_steps"),
        ))
    return pl.Trainer(default_root_dir=str(work_dir), logger=loggers, callbacks=callbacks,
                      enable_progress_bar=progress == "bar", enable_checkpointing=logs, **options)


def _model_section(config: dict[str, Any]) -> dict[str, Any]:
    from video_dpc.model import MODEL_DEFAULTS

    return {**MODEL_DEFAULTS, **dict(config.get("model") or {})}


def _data_module(config: dict[str, Any], labels: bool):
    from video_dpc.engine import VideoDataModule

    model = _model_section(config)
    if not config.get("data"):
        raise ValueError("the config has no data section; base it on plugins/video_dpc/_base_/datasets/*.yaml.")
    return VideoDataModule(config["data"], model["num_seq"], model["seq_len"], model["in_channels"], model["input_size"], labels)


def _finetuning_module(config: dict[str, Any]):
    from video_dpc.engine import DPCFinetuning

    if not config.get("classifier"):
        raise ValueError("the config has no classifier section (num_classes, dropout, train_what); base it on "
                         "plugins/video_dpc/_base_/schedules/finetune_adam.yaml.")
    return DPCFinetuning(_model_section(config), config["classifier"], config.get("optim"))


def run(command: str, config: dict[str, Any], work_dir: Path, resume: str | None = None,
        pretrained: str | None = None, checkpoint: str | None = None) -> dict[str, Any]:
    """Run ``command`` on a resolved ``config``; returns a summary (also written for ``evaluate``)."""
    import pytorch_lightning as pl
    import torch

    from nda_core._checks import check_int
    from nda_core.runs import checkpoint_step, refuse_finished_run, refuse_idle_run
    from video_dpc.config import check_keys, dump_config

    seed = check_int(config.get("seed", 0), "seed", 0)
    resume_path, start_step = None, 0
    if command in TRAINING_COMMANDS:
        resume_path = _resume_path(resume, work_dir)
        if resume_path is None:  # a new run never replaces an earlier run's checkpoints
            refuse_finished_run(work_dir / "checkpoints", "--work-dir", work_dir, "--resume auto (or --resume one of them)")
        else:
            start_step = checkpoint_step(resume_path)
    if config.get("threads") is not None:
        torch.set_num_threads(check_int(config["threads"], "threads", 1))
    pl.seed_everything(seed, workers=True, verbose=False)
    work_dir.mkdir(parents=True, exist_ok=True)
    dump_config(config, work_dir / f"{command}-config.yaml")
    start = time.perf_counter()
    if command == "pretrain":
        from video_dpc.engine import DPCPretraining

        module = DPCPretraining(_model_section(config), config.get("nda"), config.get("optim"), seed)
        data = _data_module(config, labels=False)
        trainer = _trainer(config, work_dir)
        trainer.fit(module, datamodule=data, ckpt_path=resume_path, weights_only=True if resume_path else None)
        summary = {"global_step": _global_step(trainer, work_dir), "epoch": trainer.current_epoch}
    elif command == "finetune":
        module = _finetuning_module(config)
        pretrained = pretrained or config.get("pretrained")
        if resume_path is None and pretrained:
            loaded = module.load_pretrained(pretrained)
            LOG.info("encoder and GRU initialised from %s (%d tensors)", pretrained, len(loaded))
        elif resume_path is None:
            LOG.info("no pretrained checkpoint: the encoder starts from random initialisation")
        data = _data_module(config, labels=True)
        trainer = _trainer(config, work_dir)
        trainer.fit(module, datamodule=data, ckpt_path=resume_path, weights_only=True if resume_path else None)
        summary = {"global_step": _global_step(trainer, work_dir), "epoch": trainer.current_epoch, "pretrained": pretrained}
    else:
        from video_dpc.engine import load_state_dict

        section = dict(config.get("evaluate") or {})
        check_keys(section, ["checkpoint"], "evaluate")
        checkpoint = checkpoint or section.get("checkpoint")
        if not checkpoint:
            raise ValueError("evaluate needs --checkpoint (a checkpoint written by `finetune`).")
        module = _finetuning_module(config)
        module.model.load_state_dict(load_state_dict(checkpoint))
        data = _data_module(config, labels=True)
        trainer = _trainer(config, work_dir, logs=False)
        metrics = trainer.test(module, datamodule=data, verbose=False)[0]
        pairs = module.test_predictions
        dataset = data.datasets["test-test"]
        summary = {
            "checkpoint": str(checkpoint), "videos": len(pairs), "skipped": dataset.skipped,
            "top1": 100 * float(metrics["test/top1"]), "top5": 100 * float(metrics["test/top5"]),
            "classes": dataset.classes, "per_class_top1": _per_class(pairs, len(dataset.classes)),
        }
        (work_dir / "results.json").write_text(json.dumps(summary, indent=1))
        print(f"test top-1 {summary['top1']:.2f}% top-5 {summary['top5']:.2f}% on {len(pairs)} videos "
              f"({dataset.skipped} too short skipped); wrote {work_dir / 'results.json'}")
    if command in TRAINING_COMMANDS:
        limits = dict(config.get("trainer") or {})
        refuse_idle_run(start_step, summary["global_step"], limits.get("max_steps"), "trainer.max_steps",
                        "the training split gave no full batch of data.batch_size, or a resumed run had already reached "
                        "trainer.max_epochs; lower data.batch_size or raise the limit")
    summary["seconds"] = round(time.perf_counter() - start, 1)
    summary["work_dir"] = str(work_dir)
    return summary


def _global_step(trainer: Any, work_dir: Path) -> int:
    """Steps done: the trainer's count, or the last checkpoint's (spawned DDP workers keep theirs)."""
    last = work_dir / "checkpoints" / "last.ckpt"
    if trainer.global_step == 0 and last.is_file():
        import torch

        return int(torch.load(last, map_location="cpu", weights_only=True).get("global_step", 0))
    return trainer.global_step


def _per_class(pairs: Sequence[tuple[int, int]], classes: int) -> list[float | None]:
    totals = [0] * classes
    hits = [0] * classes
    for label, predicted in pairs:
        totals[label] += 1
        hits[label] += int(label == predicted)
    return [100 * h / t if t else None for h, t in zip(hits, totals)]


def main(argv: list[str] | None = None) -> int:
    """Dense Predictive Coding with NDA negatives on video (pretrain, finetune, evaluate)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = sys.argv[0] if sys.argv and sys.argv[0].startswith("nda ") else "python -m video_dpc"
    args = build_parser(prog).parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    LOG.setLevel(logging.INFO)
    from video_dpc.config import load_config

    try:
        config = load_config(args.config, args.overrides)
        if args.print_config:
            import yaml

            print(yaml.safe_dump(config, sort_keys=False))
            return 0
        summary = run(
            args.command, config, _work_dir(args, config), getattr(args, "resume", None),
            getattr(args, "pretrained", None), getattr(args, "checkpoint", None),
        )
    except (ValueError, TypeError) as error:
        print(f"{prog} {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    LOG.info("%s done in %.0f s: %s", args.command, summary["seconds"], {k: v for k, v in summary.items() if k not in ("classes", "per_class_top1")})
    return 0
