"""The ``nda`` console command: a host that packages plug their sub-commands into.

``nda_core`` provides three commands itself and knows no package above it::

    nda list                          every NDA with its one-line description
    nda show all --out grid.png       a grid of every NDA applied to real CIFAR-10 images
    nda data cifar10                  prepare the CIFAR-10 dataset root (train/, test/) that configs and demos read

Every other sub-command is found through the entry-point group ``nda.commands``. A package
declares one in its ``pyproject.toml``::

    [project.entry-points."nda.commands"]
    mycommand = "my_package.cli:main"

The object is a function ``main(argv: list[str] | None = None) -> int`` that parses its own
arguments (the same function serves ``python -m my_package``); the first line of its docstring
is the help text shown by ``nda --help``. The host sets ``sys.argv[0]`` to ``"nda <name>"``
so that argparse's default ``prog`` reads right. A module whose optional dependencies are
missing raises ``ImportError`` naming the install command; the host prints it and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import torch

import nda_core
from nda_core._checks import check_int
from nda_core.errors import EXIT_USAGE, UsageError, parse_nda_argument, report_usage_error

__all__ = ["ENTRY_POINT_GROUP", "main", "build_parser", "plugin_commands"]

ENTRY_POINT_GROUP = "nda.commands"
SHOW_DEFAULT = ["jigsaw", "stitch", "cutout", "cutmix", "mixup", "vflip", "noise"]
SHOW_IMAGES = 8
#: At most one image per CIFAR-10 class: ``nda show`` reads one test image of each class.
SHOW_MAX_IMAGES = 10
#: Width (inches) of the smallest grid, so that its title fits.
SHOW_MIN_WIDTH = 7.0
#: Status of `nda data` when a download fails (not the user's input: exit 1, not EXIT_USAGE).
EXIT_FAILURE = 1
SHOW_DESCRIPTION = (
    "Apply NDAs to real CIFAR-10 test images (one per class, the same images in every row) and save the grid "
    "as a PNG: the first row holds the originals, each further row one NDA. Every image an NDA makes is a "
    'negative. NDAs are given as in --nda elsewhere: a name, a JSON spec such as \'{"type": "jigsaw", '
    "\"k\": 4}', or 'all'."
)
#: What ``--data`` means across the project: a dataset root holding split folders.
SHOW_DATA_HELP = (
    "dataset root holding test/<class>/<image> (the root `nda data cifar10` prepares, with train/ and test/), or "
    "cifar10-jpeg.tar.xz (default: the prepared root)"
)


def plugin_commands() -> dict[str, EntryPoint]:
    """Sub-commands that installed packages declare in the ``nda.commands`` entry-point group."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry)
    return found


def _help_of(entry: EntryPoint) -> str:
    """First docstring line of the plugin's ``main``, or why it cannot be loaded."""
    try:
        command = entry.load()
    except ImportError as error:
        return f"(unavailable: {error})"
    lines = (command.__doc__ or "").strip().splitlines()
    return lines[0] if lines else f"({entry.value})"


def _cmd_list(_: argparse.Namespace) -> int:
    for name, cls in nda_core.registered().items():
        doc = next(iter((cls.__doc__ or "").strip().splitlines()), "")
        print(f"{name:14s} {doc}")
    return 0


def _show_specs(values: list) -> list[tuple[str, object]]:
    """``(label, spec)`` of every NDA asked for: 'all' expands to :data:`SHOW_DEFAULT`."""
    specs: list[tuple[str, object]] = []
    for value in values:
        if value is None:
            raise UsageError(f"'none' shows no NDA; give NDA names, JSON specs or 'all' for {SHOW_DEFAULT}.")
        if value == "all":
            specs += [(name, name) for name in SHOW_DEFAULT]
        elif isinstance(value, dict):
            params = ", ".join(f"{key}={json.dumps(item)}" for key, item in value.items() if key != "type")
            specs.append((f"{value.get('type')}({params})" if params else str(value.get("type")), value))
        else:
            specs.append((str(value), value))
    return specs


def _show_root(data: str | None) -> Path:
    """The dataset root whose ``test/`` ``nda show`` reads: ``--data`` or the prepared root."""
    from nda_core.data import cifar10_root

    if data is not None and Path(data).is_dir() and (Path(data) / "test").is_dir():
        return Path(data)
    root = cifar10_root(data)
    if not (root / "test").is_dir():
        raise UsageError(f"--data {data!r}: {root} holds no test/ folder; pass a dataset root holding test/<class>/...")
    return root


def _cmd_show(args: argparse.Namespace) -> int:
    from nda_core.data import load_image_folder
    from nda_core.metrics import pyplot

    check_int(
        args.images,
        "--images",
        1,
        SHOW_MAX_IMAGES,
        hint=f"nda show reads one test image per CIFAR-10 class, so at most {SHOW_MAX_IMAGES} per row.",
    )
    specs = _show_specs(args.nda)
    transforms = [nda_core.build(spec) for _, spec in specs]  # fails early on unknown names
    root = _show_root(args.data)
    images, _, _ = load_image_folder(root / "test", per_class=1, seed=args.seed)
    if images.shape[0] < args.images:
        raise UsageError(
            f"--images {args.images}: {root / 'test'} holds only {images.shape[0]} classes (one image "
            f"each); ask for at most {images.shape[0]}."
        )
    images = images[: args.images]
    generator = torch.Generator().manual_seed(args.seed)
    drawn = [(label, transform(images, generator=generator)) for (label, _), transform in zip(specs, transforms)]
    rows = [("original", images), *drawn]
    plt = pyplot()
    width = max(1.2 * images.shape[0], SHOW_MIN_WIDTH)  # room for the title and the labels on short rows
    fig, axes = plt.subplots(len(rows), images.shape[0], figsize=(width, 1.25 * len(rows)), squeeze=False)
    for r, (label, batch) in enumerate(rows):
        for c in range(batch.shape[0]):
            axes[r][c].imshow(batch[c].permute(1, 2, 0).numpy())
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle("NDA transforms on real CIFAR-10 test images (every sample a negative)")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out} ({len(rows) - 1} NDAs x {images.shape[0]} images from {root / 'test'})")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from nda_core.data import AlreadyPreparedError, DownloadError, check_cifar10_source, prepare_cifar10

    if args.source is not None:
        check_cifar10_source(args.source, "--from")  # before anything else: a missing path is never "ready"
    # with --print-root stdout carries only the folder: torchvision's download messages go to stderr too
    progress = contextlib.redirect_stdout(sys.stderr) if args.print_root else contextlib.nullcontext()
    try:
        with progress:
            root = prepare_cifar10(args.source, force=args.force)
    except AlreadyPreparedError as error:
        raise UsageError(error.explain("run again with --force")) from None
    except DownloadError as error:  # the network or the server, not the user's input: exit 1, no traceback
        print(f"nda data: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except ImportError as error:  # torchvision or Pillow missing: the message names the install command
        if "pip install" not in str(error):
            raise
        return report_usage_error("nda data", error)
    if args.print_root:  # for `export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root)`
        print(root)
        return 0
    print(
        f"CIFAR-10 dataset root ready at {root} (train/<class>/<image>, test/<class>/<image>); --data options and "
        "the demos read it from there, the mmengine configs once NDA_CIFAR10_ROOT points there "
        "(export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root))."
    )
    return 0


def _run_plugin(name: str, entry: EntryPoint, argv: list[str]) -> int:
    try:
        command: Callable[[list[str]], int | None] = entry.load()
    except ImportError as error:
        message = str(error)
        if "pip install" not in message:
            message += f" (nda {name} comes from {entry.value}; install the extra of the package that provides it)"
        print(f"nda {name}: {message}", file=sys.stderr)
        return EXIT_USAGE
    saved_argv = sys.argv
    sys.argv = [f"nda {name}", *argv]
    try:
        return int(command(argv) or 0)
    finally:
        sys.argv = saved_argv  # an in-process caller (a test, a notebook) gets its own argv back


def build_parser(plugins: dict[str, EntryPoint] | None = None) -> argparse.ArgumentParser:
    plugins = plugin_commands() if plugins is None else plugins
    parser = argparse.ArgumentParser(
        prog="nda",
        description="Negative Data Augmentation tools. Installed packages add sub-commands through the "
        f"'{ENTRY_POINT_GROUP}' entry-point group.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="list every NDA").set_defaults(run=_cmd_list)
    show = commands.add_parser(
        "show", help="save a grid of NDAs applied to real CIFAR-10 images", description=SHOW_DESCRIPTION
    )
    show.add_argument(
        "nda",
        nargs="+",
        type=parse_nda_argument,
        help=f"NDA names or JSON specs, as --nda takes them, or 'all' for {SHOW_DEFAULT}",
    )
    show.add_argument("--data", help=SHOW_DATA_HELP)
    show.add_argument("--out", default="nda-grid.png", help="output PNG (default: %(default)s)")
    show.add_argument(
        "--images",
        type=int,
        default=SHOW_IMAGES,
        help=f"images per row, 1 to {SHOW_MAX_IMAGES} (one per class; default: %(default)s)",
    )
    show.add_argument("--seed", type=int, default=0, help="seed of the images and the NDA draws (default: %(default)s)")
    show.set_defaults(run=_cmd_show)
    data = commands.add_parser(
        "data",
        help="prepare the CIFAR-10 dataset root (from the offline archive, a CIFAR-10 you have, or a download)",
        description="Extract, convert or download CIFAR-10 into a dataset root holding the split folders "
        "train/<class>/<image> and test/<class>/<image>: the root that configs, demos and examples read, and that "
        "every --data option takes. Run it once per machine. It writes only into a new or empty folder, or one it "
        "prepared itself, and replaces only what it wrote.",
    )
    data.add_argument("dataset", choices=["cifar10"], help="dataset to prepare")
    data.add_argument(
        "--from",
        dest="source",
        default=None,
        help="cifar10-jpeg.tar.xz, torchvision's official cifar-10-python.tar.gz or cifar-10-batches-py folder "
        "(MD5-checked), or a dataset root holding train/ and test/ (default: %(default)s, the offline archive in "
        "../shared/data or $NDA_DATA where it exists, else the official archive downloaded through torchvision)",
    )
    data.add_argument(
        "--force",
        action="store_true",
        help="prepare again even if the root is ready (replaces only what nda wrote; default: %(default)s)",
    )
    data.add_argument(
        "--print-root",
        action="store_true",
        help="print only the prepared folder on stdout: export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root) "
        "prepares CIFAR-10 (once) and points the mmengine configs at it",
    )
    data.set_defaults(run=_cmd_data)
    for name, entry in sorted(plugins.items()):
        if name in commands.choices:
            continue  # built-in commands win
        commands.add_parser(name, help=_help_of(entry), add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    plugins = plugin_commands()
    builtin = {"list", "show", "data"}
    if argv and argv[0] in plugins and argv[0] not in builtin:
        return _run_plugin(argv[0], plugins[argv[0]], argv[1:])
    args = build_parser(plugins).parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        return report_usage_error(f"nda {args.command}", error)


if __name__ == "__main__":
    raise SystemExit(main())
