"""The ``python -m studiogan_nda`` / ``nda studiogan`` command line.

::

    python -m studiogan_nda [--studiogan-root PATH] [--cpu [--cpu-ranks N]] <StudioGAN's own main.py flags>
    python -m studiogan_nda data cifar10 --out DIR [--from PATH]
    python -m studiogan_nda anomaly ...          (same as python -m studiogan_nda.anomaly)
    python -m studiogan_nda configs              (the shipped NDA YAMLs)

The launcher runs StudioGAN's own ``src/main.py`` (unmodified, in this process, so that
``-DDP``'s spawned workers start from it as they would from ``python3 src/main.py``) with the
NDA keys, ``_base_`` composition and the NDA discriminator objective installed
(:mod:`studiogan_nda.hooks`), after checking the config and the dataset folder.

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

import nda_core
from nda_core.data import IMAGE_SUFFIXES

__all__ = ["main", "build_parser", "configs_dir", "run_studiogan", "UsageError", "EXIT_USAGE"]

EXIT_USAGE = 2
SUBCOMMANDS = ("data", "anomaly", "configs")
#: DATA.name values for which StudioGAN calls torchvision's downloader instead of reading image folders.
DOWNLOAD_NAMES = ("CIFAR10", "CIFAR100")
#: Measured with StudioGAN's own WORKER on 2 CPU cores, batch 64 (see docs/studiogan.md).
CPU_SECONDS_PER_D_UPDATE = {"DCGAN": 0.46, "BigGAN": 4.4}
CPU_NUM_WORKERS = 1  # StudioGAN's train loader uses persistent workers, which need at least one
CPU_DDP_RANKS = 2  # --cpu -DDP: CPU processes StudioGAN spawns (its one process per GPU)
CPU_DDP_BACKEND = "gloo"  # the torch.distributed backend that runs on CPUs (StudioGAN's default is nccl)
LOCAL_MASTER_ADDR = "127.0.0.1"
#: Packages whose ValueError / TypeError is one of our input checks (shown as a usage error, no traceback).
_CHECKING_PACKAGES = (Path(__file__).resolve().parent, Path(nda_core.__file__).resolve().parent)

logger = logging.getLogger("studiogan_nda")


class UsageError(ValueError):
    """A problem with the command line, the config or the dataset that the user can fix."""


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
            "  python -m studiogan_nda --studiogan-root ~/PyTorch-StudioGAN -t -cfg CFG.yaml -data DATA -save SAVE\n\n"
            "sub-commands (first argument):\n"
            "  data cifar10 --out DIR   a StudioGAN view of CIFAR-10 without a download\n"
            "  anomaly ...              AUROC of a trained discriminator (python -m studiogan_nda.anomaly)\n"
            "  configs                  list the shipped NDA YAMLs"
        ),
        epilog="StudioGAN's own flags: python -m studiogan_nda --studiogan-root PATH --studiogan-help",
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
    parser.add_argument("--studiogan-help", action="store_true", help="show StudioGAN's own main.py help and exit (default: %(default)s)")
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
        logger.warning(
            f"studiogan_nda: DATA.name {name!r} makes StudioGAN download {name} with torchvision into -data; offline, "
            f"use an image-folder config (the shipped ones use DATA.name CIFAR10_images) and "
            f"`python -m studiogan_nda data cifar10 --out DIR`."
        )
        return
    if flags.data_dir is None:
        raise UsageError(f"-data is missing: DATA.name {name!r} reads an image folder DATA_DIR/train/<class>/*; pass -data DATA_DIR.")
    train = Path(flags.data_dir) / "train"
    if not train.is_dir():
        hint = (
            " It has test/ but no train/: is it the right folder?" if (Path(flags.data_dir) / "test").is_dir() else ""
        )
        raise UsageError(
            f"-data {flags.data_dir} has no train/ folder: StudioGAN reads DATA_DIR/train/<class>/*.png (and "
            f"DATA_DIR/valid/<class>/* for evaluation).{hint} For CIFAR-10 without a download run "
            f"`python -m studiogan_nda data cifar10 --out DIR` and pass -data DIR."
        )
    if not any(p.is_dir() for p in train.iterdir()):
        raise UsageError(f"{train} holds no class folders: put the images in {train}/<class>/ (one folder is fine for unlabelled data).")
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
    if isinstance(cpu_ranks, bool) or not isinstance(cpu_ranks, int) or cpu_ranks < 2:
        raise UsageError(f"--cpu-ranks {cpu_ranks}: -DDP needs 2 or more ranks; drop -DDP to train in one process.")
    if flags.backend not in (None, CPU_DDP_BACKEND):
        raise UsageError(f"--backend {flags.backend} needs CUDA GPUs; --cpu -DDP runs on the CPU with --backend {CPU_DDP_BACKEND}.")
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


def _check_run(args: list[str], cpu: bool, cpu_ranks: int = CPU_DDP_RANKS) -> tuple[list[str], argparse.Namespace]:
    """Check StudioGAN's arguments before StudioGAN runs; return them with the CPU-mode defaults added."""
    from studiogan_nda.settings import check_nda_settings, read_yaml

    flags, _ = _studiogan_flags().parse_known_args(args)
    cfg = Path(flags.cfg_file)
    if not cfg.is_file():
        raise UsageError(
            f"-cfg {flags.cfg_file} does not exist; pass the YAML to train, e.g. one of `python -m studiogan_nda configs`."
        )
    sections = read_yaml(cfg)
    check_nda_settings(sections.get("LOSS", {}), sections.get("MODEL", {}), sections.get("DATA", {}))
    _check_dataset(flags, sections)
    if flags.num_workers is not None and flags.num_workers < 1 and flags.train:
        raise UsageError(
            f"--num_workers {flags.num_workers}: StudioGAN's training loader uses persistent workers, which need "
            f"--num_workers 1 or more."
        )
    if cpu:
        if flags.distributed_data_parallel:
            args = _cpu_ddp(args, flags, cpu_ranks)
        if flags.mixed_precision:
            logger.warning("studiogan_nda: -mpc (CUDA mixed precision) does nothing on the CPU; StudioGAN's autocast is disabled there.")
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


def run_studiogan(root: str | None, args: list[str], cpu: bool = False, cpu_ranks: int = CPU_DDP_RANKS) -> int:
    """Run StudioGAN's ``src/main.py`` with ``args`` and the NDA hooks installed (in this process).

    With ``cpu`` and StudioGAN's ``-DDP``, StudioGAN spawns ``cpu_ranks`` CPU processes (gloo).
    """
    from studiogan_nda import checkout, hooks, workarounds

    args, flags = _check_run(args, cpu, cpu_ranks)
    src = checkout.add_to_path(root)
    if cpu:
        print(_cpu_banner(), file=sys.stderr, flush=True)
    workarounds.apply(cpu=cpu, cpu_ranks=cpu_ranks if cpu and flags.distributed_data_parallel else 1)
    hooks.install()
    main_py = src / "main.py"
    saved_argv = sys.argv
    sys.argv = [str(main_py), *args]
    start = time.perf_counter()
    try:
        runpy.run_path(str(main_py), run_name="__main__")
    except SystemExit as stop:  # StudioGAN's argparse and its own exits
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved_argv
    if cpu:
        print(f"studiogan_nda --cpu: StudioGAN's main.py finished in {time.perf_counter() - start:.0f} s.", file=sys.stderr)
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
            "Use it with a config whose DATA.name is not CIFAR10 (the shipped ones use CIFAR10_images)."
        ),
    )
    parser.add_argument("dataset", choices=["cifar10"], help="dataset to prepare (default: %(default)s)")
    parser.add_argument("--out", required=True, help="folder to create, then pass it as -data (default: %(default)s)")
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
    print(f"StudioGAN CIFAR-10 view ready: {out}/train -> {root / 'train'}, {out}/valid -> {root / 'test'}; pass -data {out}")
    return 0


def _cmd_configs(argv: list[str]) -> int:
    if argv:
        raise UsageError(f"`configs` takes no arguments, got {argv}.")
    folder = configs_dir()
    for path in sorted(folder.rglob("*.yaml")):
        if "_base_" not in path.parts:
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
    try:
        if argv and argv[0] in SUBCOMMANDS:
            command, rest = argv[0], argv[1:]
            if command == "anomaly":
                from studiogan_nda.anomaly import main as anomaly_main

                return anomaly_main(rest)
            return _cmd_data(rest) if command == "data" else _cmd_configs(rest)
        options, studiogan_args = build_parser().parse_known_args(argv)
        if studiogan_args and studiogan_args[0] in SUBCOMMANDS:
            raise UsageError(
                f"options before the sub-command {studiogan_args[0]!r} do not apply to it; write "
                f"`python -m studiogan_nda {studiogan_args[0]} ...` (see its --help)."
            )
        if options.studiogan_help:
            return _studiogan_help(options.studiogan_root)
        if not studiogan_args:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        if options.cpu_ranks != CPU_DDP_RANKS and not options.cpu:
            raise UsageError(f"--cpu-ranks {options.cpu_ranks} applies to --cpu -DDP only; on GPUs StudioGAN spawns one rank per GPU.")
        return run_studiogan(options.studiogan_root, studiogan_args, cpu=options.cpu, cpu_ranks=options.cpu_ranks)
    except (UsageError, ValueError, TypeError) as error:
        if not isinstance(error, UsageError) and not _raised_by_studiogan_nda(error):
            raise
        print(f"studiogan_nda: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _raised_by_studiogan_nda(error: BaseException) -> bool:
    """True when ``error`` was raised in studiogan_nda or nda_core (our checks), not inside StudioGAN, torch or numpy."""
    trace = error.__traceback__
    last = None
    while trace is not None:
        last = trace.tb_frame.f_code.co_filename
        trace = trace.tb_next
    if last is None:
        return False
    raised_in = Path(last).resolve()
    return any(raised_in.is_relative_to(package) for package in _CHECKING_PACKAGES)
