"""The ``python -m studiogan_nda`` / ``nda studiogan`` command line.

::

    python -m studiogan_nda [--studiogan-root PATH] [--cpu [--cpu-ranks N]] [--total_steps N]
                            [--set SECTION.key=VALUE ...] <StudioGAN's own main.py flags>
    python -m studiogan_nda data cifar10 --out DIR [--from PATH]
    python -m studiogan_nda anomaly ...          (same as python -m studiogan_nda.anomaly)
    python -m studiogan_nda configs              (the shipped NDA YAMLs)

The launcher runs StudioGAN's own ``src/main.py`` (unmodified, in this process, so that
``-DDP``'s spawned workers start from it as they would from ``python3 src/main.py``) with the
NDA keys, the launcher's ``--set`` / ``--total_steps`` overrides and the NDA discriminator objective
installed (:mod:`studiogan_nda.hooks`), after checking the config (every section and key against
StudioGAN's own, the NDA keys), the dataset folder, and that a CUDA device exists (else ``--cpu``).

``--cpu -DDP`` runs StudioGAN's own ``-DDP`` (``torch.multiprocessing.spawn``, one process per
device, ``DistributedDataParallel``) with ``--cpu-ranks`` CPU processes talking gloo: the launcher
adds ``--backend gloo`` and, unless set, ``MASTER_ADDR=127.0.0.1`` and a free ``MASTER_PORT``
(StudioGAN initialises its process group from ``env://``), and the logged workarounds
``cuda-set-device-on-cpu`` and ``ddp-device-ids-on-cpu`` (:mod:`studiogan_nda.workarounds`).
"""

from __future__ import annotations

import argparse
import logging
import os
import runpy
import socket
import sys
import time
from pathlib import Path
from typing import Any

from nda_core._checks import check_int
from nda_core.data import IMAGE_SUFFIXES
from nda_core.errors import EXIT_USAGE, UsageError, report_usage_error

__all__ = ["main", "build_parser", "configs_dir", "run_studiogan"]

SUBCOMMANDS = ("data", "anomaly", "configs")
#: DATA.name values for which StudioGAN calls torchvision's downloader instead of reading image folders.
DOWNLOAD_NAMES = ("CIFAR10", "CIFAR100")
#: The folder torchvision's downloader reads (and fills) under -data for each of those names.
TORCHVISION_FOLDERS = {"CIFAR10": "cifar-10-batches-py", "CIFAR100": "cifar-100-python"}
#: Measured with StudioGAN's own WORKER on 2 CPU cores, batch 64 (see docs/studiogan.md).
CPU_SECONDS_PER_D_UPDATE = {"DCGAN": 0.46, "BigGAN": 4.4}
CPU_NUM_WORKERS = 1  # StudioGAN's train loader uses persistent workers, which need at least one
CPU_DDP_RANKS = 2  # --cpu -DDP: CPU processes StudioGAN spawns (its one process per GPU)
CPU_DDP_BACKEND = "gloo"  # the torch.distributed backend that runs on CPUs (StudioGAN's default is nccl)
LOCAL_MASTER_ADDR = "127.0.0.1"

logger = logging.getLogger("studiogan_nda")


def configs_dir() -> Path:
    """Folder of the shipped StudioGAN YAMLs (``plugins/studiogan/configs``; ``nda_core/_configs/...`` in a wheel)."""
    from nda_core.configs import configs_root

    return configs_root() / "studiogan" / "configs"


def _prog(sub: str = "") -> str:
    """``nda studiogan`` when run by the nda host, else ``python -m studiogan_nda``."""
    base = "nda studiogan" if sys.argv and sys.argv[0] == "nda studiogan" else "python -m studiogan_nda"
    return f"{base} {sub}".strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        add_help=False,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run PyTorch-StudioGAN's own src/main.py with NDA-GAN available: set LOSS.apply_nda,\n"
            "LOSS.nda_lambda and LOSS.nda in your YAML (see the `configs` sub-command). Every other\n"
            "argument goes to StudioGAN unchanged, e.g.\n\n"
            f"  {_prog()} --studiogan-root ~/PyTorch-StudioGAN -t -cfg CFG.yaml -data DATA -save SAVE\n\n"
            "sub-commands (first argument):\n"
            "  data cifar10 --out DIR   a StudioGAN view of CIFAR-10 without a download\n"
            f"  anomaly ...              AUROC of a trained discriminator (see `{_prog('anomaly')} --help`)\n"
            "  configs                  list the shipped NDA YAMLs"
        ),
        epilog=f"StudioGAN's own flags: {_prog()} --studiogan-root PATH --studiogan-help",
    )
    parser.add_argument("-h", "--help", action="help", help="show this help and exit")
    parser.add_argument(
        "--studiogan-root",
        default=os.environ.get("STUDIOGAN_ROOT"),
        help="StudioGAN checkout holding src/main.py (default: $STUDIOGAN_ROOT = %(default)s)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="smoke mode: StudioGAN's own training loop on the CPU (slow: minutes for a few hundred DCGAN steps), "
        "WANDB_MODE=disabled unless set, -metrics none and --num_workers 1 unless given (default: %(default)s)",
    )
    parser.add_argument(
        "--cpu-ranks",
        type=int,
        default=CPU_DDP_RANKS,
        help="with --cpu -DDP: CPU processes (gloo ranks) StudioGAN spawns, one per 'GPU' (default: %(default)s)",
    )
    parser.add_argument(
        "--total_steps",
        type=int,
        default=None,
        metavar="N",
        help="train N steps instead of the YAML's OPTIMIZATION.total_steps, e.g. a smoke run of a shipped config "
        "(the same as --set OPTIMIZATION.total_steps=N; default: %(default)s = the YAML's)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="SECTION.key=VALUE",
        help="override one entry of the YAML, VALUE read as YAML, e.g. --set DATA.name=CIFAR10_images "
        "--set OPTIMIZATION.d_updates_per_step=4 (repeatable; default: %(default)s)",
    )
    parser.add_argument(
        "--studiogan-help",
        action="store_true",
        help="show StudioGAN's own main.py help and exit (default: %(default)s)",
    )
    return parser


def _studiogan_flags() -> argparse.ArgumentParser:
    """The few of StudioGAN's flags the launcher checks before StudioGAN runs (same names and defaults)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-cfg", "--cfg_file", default="./src/configs/CIFAR10/ContraGAN.yaml")
    parser.add_argument("-data", "--data_dir", default=None)
    parser.add_argument("-ckpt", "--ckpt_dir", default=None)
    parser.add_argument("-t", "--train", action="store_true")
    parser.add_argument("-hdf5", "--load_train_hdf5", action="store_true")
    parser.add_argument("-DDP", "--distributed_data_parallel", action="store_true")
    parser.add_argument("-mpc", "--mixed_precision", action="store_true")
    parser.add_argument("--num_workers", type=int, default=None)
    parser.add_argument("-metrics", "--eval_metrics", nargs="+", default=None)
    parser.add_argument("--pre_resizer", default="wo_resize")
    parser.add_argument("--backend", default=None)
    parser.add_argument("-tn", "--total_nodes", default=1, type=int)
    return parser


def _first_image(folder: Path) -> Path | None:
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return path
    return None


def _check_dataset(flags: argparse.Namespace, sections: dict) -> None:
    data = sections.get("DATA", {})
    name = data.get("name", "CIFAR10")
    if not flags.train or flags.load_train_hdf5:
        return
    if name in DOWNLOAD_NAMES:
        folder = Path(flags.data_dir) if flags.data_dir else None
        if folder is not None and (folder / "train").is_dir() and not (folder / TORCHVISION_FOLDERS[name]).exists():
            raise UsageError(
                f"DATA.name {name!r} makes StudioGAN read torchvision's {name} files from -data {folder} (downloading "
                f"them there when missing), but {folder} holds image folders (train/); to train on those, add "
                f"--set DATA.name={name}_images (any name but {' or '.join(DOWNLOAD_NAMES)} reads "
                f"DATA_DIR/train/<class>/)."
            )
        logger.warning(
            f"studiogan_nda: DATA.name {name!r} makes StudioGAN download {name} with torchvision into -data; offline, "
            f"make an image-folder view with `{_prog('data')} cifar10 --out DIR` and train with "
            f"-data DIR --set DATA.name={name}_images."
        )
        return
    if flags.data_dir is None:
        raise UsageError(
            f"-data is missing: DATA.name {name!r} reads an image folder DATA_DIR/train/<class>/*; pass -data DATA_DIR."
        )
    train = Path(flags.data_dir) / "train"
    if not train.is_dir():
        hint = (
            " It has test/ but no train/: is it the right folder?" if (Path(flags.data_dir) / "test").is_dir() else ""
        )
        raise UsageError(
            f"-data {flags.data_dir} has no train/ folder: StudioGAN reads DATA_DIR/train/<class>/*.png (and "
            f"DATA_DIR/valid/<class>/* for evaluation).{hint} For CIFAR-10 without a download run "
            f"`{_prog('data')} cifar10 --out DIR` and pass -data DIR."
        )
    if not any(p.is_dir() for p in train.iterdir()):
        raise UsageError(
            f"{train} holds no class folders: put the images in {train}/<class>/ (one folder is fine for "
            "unlabelled data)."
        )
    size = data.get("img_size")
    image = _first_image(train)
    if image is not None and isinstance(size, int) and flags.pre_resizer == "wo_resize":
        from PIL import Image

        with Image.open(image) as opened:
            if opened.size != (size, size):
                raise UsageError(
                    f"{image} is {opened.size[0]}x{opened.size[1]} but DATA.img_size is {size}; pass StudioGAN's "
                    f"--pre_resizer lanczos (or bilinear) to crop and resize the images to {size}x{size}."
                )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL_MASTER_ADDR, 0))
        return sock.getsockname()[1]


def _cpu_ddp(args: list[str], flags: argparse.Namespace, cpu_ranks: int) -> list[str]:
    """``--cpu -DDP``: check the ranks and the backend, add ``--backend gloo`` and a local rendezvous."""
    check_int(cpu_ranks, "--cpu-ranks", 2, hint="-DDP needs 2 or more ranks; drop -DDP to train in one process.")
    if flags.backend not in (None, CPU_DDP_BACKEND):
        raise UsageError(
            f"--backend {flags.backend} needs CUDA GPUs; --cpu -DDP runs on the CPU with --backend {CPU_DDP_BACKEND}."
        )
    if flags.total_nodes != 1:
        raise UsageError(
            f"-tn {flags.total_nodes}: --cpu -DDP runs all {cpu_ranks} ranks on this machine; several nodes need GPUs "
            f"(see the multi-node section of docs/studiogan.md)."
        )
    if flags.backend is None:
        args = [*args, "--backend", CPU_DDP_BACKEND]
    set_now = []
    if "MASTER_ADDR" not in os.environ:
        os.environ["MASTER_ADDR"] = LOCAL_MASTER_ADDR
        set_now.append(f"MASTER_ADDR={LOCAL_MASTER_ADDR}")
    if "MASTER_PORT" not in os.environ:
        os.environ["MASTER_PORT"] = str(_free_port())
        set_now.append(f"MASTER_PORT={os.environ['MASTER_PORT']}")
    logger.info(
        f"studiogan_nda --cpu -DDP: StudioGAN spawns {cpu_ranks} CPU ranks (--cpu-ranks) talking {CPU_DDP_BACKEND}; "
        + (f"set {' '.join(set_now)} (unset before)." if set_now else "MASTER_ADDR and MASTER_PORT as you set them.")
    )
    return args


def _settings(options: argparse.Namespace) -> list[tuple[str, str, Any]]:
    """The launcher's ``--set`` entries and ``--total_steps`` as ``(section, key, value)``, in that order."""
    from studiogan_nda.settings import parse_setting

    settings = [parse_setting(text) for text in options.settings]
    if options.total_steps is not None:
        check_int(options.total_steps, "--total_steps", 1, hint="StudioGAN trains steps 0 .. total_steps.")
        settings.append(("OPTIMIZATION", "total_steps", options.total_steps))
    return settings


def _check_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "no CUDA device found (torch.cuda.is_available() is False), and StudioGAN's main.py runs on NVIDIA GPUs; "
            "add --cpu for the CPU smoke mode (StudioGAN's own loop on the CPU, minutes for a few hundred small steps; "
            "--total_steps N caps a run), or run on a machine with a GPU and its driver."
        )


def _check_run(
    args: list[str],
    cpu: bool,
    cpu_ranks: int = CPU_DDP_RANKS,
    settings: list[tuple[str, str, Any]] | None = None,
    known: dict[str, set[str]] | None = None,
) -> tuple[list[str], argparse.Namespace]:
    """Check StudioGAN's arguments and config before StudioGAN runs; return them with the CPU-mode defaults added.

    ``settings``: the ``--set`` overrides; ``known``: StudioGAN's sections and keys
    (:func:`studiogan_nda.hooks.known_keys`), against which the YAML and the overrides are checked.
    """
    from studiogan_nda.settings import apply_settings, check_keys, check_nda_settings, read_yaml

    settings = settings or []
    flags, _ = _studiogan_flags().parse_known_args(args)
    cfg = Path(flags.cfg_file)
    if not cfg.is_file():
        raise UsageError(
            f"-cfg {flags.cfg_file} does not exist; pass the YAML to train, e.g. one of `{_prog('configs')}`."
        )
    sections = read_yaml(cfg)
    if known is not None:
        check_keys(sections, known, str(cfg))
        check_keys(apply_settings({}, settings), known, "--set")
    sections = apply_settings(sections, settings)
    check_nda_settings(sections.get("LOSS", {}), sections.get("MODEL", {}), sections.get("DATA", {}))
    _check_dataset(flags, sections)
    if flags.num_workers is not None and flags.num_workers < 1 and flags.train:
        raise UsageError(
            f"--num_workers {flags.num_workers}: StudioGAN's training loader uses persistent workers, which need "
            f"--num_workers 1 or more."
        )
    if not cpu:
        _check_cuda()
        return args, flags
    if flags.distributed_data_parallel:
        args = _cpu_ddp(args, flags, cpu_ranks)
    if flags.mixed_precision:
        logger.warning(
            "studiogan_nda: -mpc (CUDA mixed precision) does nothing on the CPU; StudioGAN's autocast is "
            "disabled there."
        )
    if flags.eval_metrics is None:
        args = [*args, "-metrics", "none"]
    if flags.num_workers is None:
        args = [*args, "--num_workers", str(CPU_NUM_WORKERS)]
    return args, flags


def _cpu_banner() -> str:
    rates = ", ".join(f"{model} about {seconds:g} s" for model, seconds in CPU_SECONDS_PER_D_UPDATE.items())
    return (
        "studiogan_nda --cpu: StudioGAN's own training loop on the CPU, a smoke mode for laptops and CI, not for "
        f"training: one D update at batch 64 takes {rates} on 2 cores, so a paper-length BigGAN run (100k steps x 4 D "
        "updates) would take weeks. Use a GPU for real runs."
    )


def run_studiogan(
    root: str | None,
    args: list[str],
    cpu: bool = False,
    cpu_ranks: int = CPU_DDP_RANKS,
    settings: list[tuple[str, str, Any]] | None = None,
) -> int:
    """Run StudioGAN's ``src/main.py`` with ``args`` and the NDA hooks installed (in this process).

    ``settings``: ``(section, key, value)`` overrides of the YAML (``--set``). With ``cpu`` and
    StudioGAN's ``-DDP``, StudioGAN spawns ``cpu_ranks`` CPU processes (gloo).
    """
    from studiogan_nda import checkout, hooks, workarounds
    from studiogan_nda.settings import declared_keys

    settings = settings or []
    src = checkout.source_dir(root)
    # every check before StudioGAN is imported; its keys are read from its own src/config.py
    args, flags = _check_run(args, cpu, cpu_ranks, settings, declared_keys(src / "config.py"))
    checkout.add_to_path(root)
    if cpu:
        print(_cpu_banner(), file=sys.stderr, flush=True)
    workarounds.apply(cpu=cpu, cpu_ranks=cpu_ranks if cpu and flags.distributed_data_parallel else 1)
    hooks.install()
    hooks.set_overrides(settings)
    main_py = src / "main.py"
    saved_argv = sys.argv
    sys.argv = [str(main_py), *args]
    start = time.perf_counter()
    try:
        with workarounds.filtered_stdout():
            runpy.run_path(str(main_py), run_name="__main__")
    except SystemExit as stop:  # StudioGAN's argparse and its own exits
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved_argv
        hooks.set_overrides([])
    if cpu:
        print(
            f"studiogan_nda --cpu: StudioGAN's main.py finished in {time.perf_counter() - start:.0f} s.",
            file=sys.stderr,
        )
    return 0


def _studiogan_help(root: str | None) -> int:
    """Print StudioGAN's own ``main.py -h``."""
    from studiogan_nda import checkout

    src = checkout.add_to_path(root)
    saved = sys.argv
    sys.argv = [str(src / "main.py"), "-h"]
    try:
        runpy.run_path(str(src / "main.py"), run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 0
    finally:
        sys.argv = saved
    return 0


# -- sub-commands --------------------------------------------------------------------------------
def _data_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog("data"),
        description=(
            "Make a StudioGAN image-folder dataset view of CIFAR-10 without a download: DIR/train -> CIFAR-10 train/, "
            "DIR/valid -> CIFAR-10 test/ (symbolic links; StudioGAN reads DATA_DIR/train and DATA_DIR/valid). "
            "Use it with a config whose DATA.name is not CIFAR10: the CPU configs use CIFAR10_images; for StudioGAN's "
            "own and the shipped BigGAN configs add --set DATA.name=CIFAR10_images."
        ),
    )
    parser.add_argument("dataset", choices=["cifar10"], help="dataset to prepare (required)")
    parser.add_argument("--out", required=True, help="folder to create, then pass it as -data (required)")
    parser.add_argument(
        "--from",
        dest="source",
        default=None,
        help="CIFAR-10 image-folder root with train/ and test/ or the offline cifar10-jpeg.tar.xz "
        "(default: %(default)s = nda_core's CIFAR-10, prepared from the offline archive on first use)",
    )
    return parser


def _cmd_data(argv: list[str]) -> int:
    from nda_core.data import cifar10_root

    args = _data_parser().parse_args(argv)
    root = cifar10_root(args.source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, target in (("train", root / "train"), ("valid", root / "test")):
        link = out / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        if link.exists() or link.is_symlink():
            raise UsageError(f"{link} already exists and is not a link to {target}; choose an empty --out folder.")
        link.symlink_to(target.resolve(), target_is_directory=True)
    print(
        f"StudioGAN CIFAR-10 view ready: {out}/train -> {root / 'train'}, {out}/valid -> {root / 'test'}; "
        f"pass -data {out}"
    )
    return 0


def _cmd_configs(argv: list[str]) -> int:
    if argv:
        raise UsageError(f"`configs` takes no arguments, got {argv}.")
    for path in sorted(configs_dir().rglob("*.yaml")):
        print(path)
    return 0


def _log_to_stderr() -> None:
    """Show this package's messages (workarounds, warnings) on stderr, without touching the root logger."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """NDA-GAN in PyTorch-StudioGAN: run StudioGAN's main.py with NDA keys, CPU smoke mode, anomaly AUROC."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _log_to_stderr()
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else ""
    try:
        if command == "anomaly":
            from studiogan_nda.anomaly import main as anomaly_main

            return anomaly_main(argv[1:], prog=_prog("anomaly"))
        if command:
            return _cmd_data(argv[1:]) if command == "data" else _cmd_configs(argv[1:])
        options, studiogan_args = build_parser().parse_known_args(argv)
        if studiogan_args and studiogan_args[0] in SUBCOMMANDS:
            raise UsageError(
                f"options before the sub-command {studiogan_args[0]!r} do not apply to it; write "
                f"`{_prog(studiogan_args[0])} ...` (see its --help)."
            )
        if options.studiogan_help:
            return _studiogan_help(options.studiogan_root)
        if not studiogan_args:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        if options.cpu_ranks != CPU_DDP_RANKS and not options.cpu:
            raise UsageError(
                f"--cpu-ranks {options.cpu_ranks} applies to --cpu -DDP only; on GPUs StudioGAN spawns one "
                "rank per GPU."
            )
        settings = _settings(options)
        return run_studiogan(
            options.studiogan_root, studiogan_args, cpu=options.cpu, cpu_ranks=options.cpu_ranks, settings=settings
        )
    except UsageError as error:
        return report_usage_error(_prog(command), error)
