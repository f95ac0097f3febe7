"""The ``nda`` console command: a thin front end over nda_core and the demo.

    nda list                          every NDA with its one-line description
    nda show all --out grid.png       a grid of every NDA applied to real CIFAR-10 images
    nda bench [...]                   the transform benchmark (benchmarks/transforms.py)
    nda demo [...]                    the main demonstration (nda_demo)
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import torch

import nda_core
from nda_core.data import cifar10_root, load_image_folder

SHOW_DEFAULT = ["jigsaw", "stitch", "cutout", "cutmix", "mixup", "vflip", "noise"]
SHOW_IMAGES = 8
BENCHMARK_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "transforms.py"


def _cmd_list(_: argparse.Namespace) -> int:
    for name in nda_core.available():
        doc = (nda_core.transforms._REGISTRY[name].__doc__ or "").strip().splitlines()[0]
        print(f"{name:14s} {doc}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from nda_core.metrics import pyplot

    names = SHOW_DEFAULT if args.nda == ["all"] else args.nda
    transforms = [nda_core.build(name) for name in names]  # fails early on unknown names
    root = cifar10_root(args.data)
    images, _, _ = load_image_folder(root / "test", per_class=1, seed=args.seed)
    images = images[: args.images]
    generator = torch.Generator().manual_seed(args.seed)
    rows = [("original", images)] + [(name, t(images, generator=generator)) for name, t in zip(names, transforms)]
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), images.shape[0], figsize=(1.2 * images.shape[0], 1.25 * len(rows)), squeeze=False)
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


def _run_bench(rest: list[str]) -> int:
    if not BENCHMARK_SCRIPT.is_file():
        print("nda bench runs benchmarks/transforms.py from a source checkout of nda-plugins; none found.", file=sys.stderr)
        return 2
    sys.argv = [str(BENCHMARK_SCRIPT), *rest]
    runpy.run_path(str(BENCHMARK_SCRIPT), run_name="__main__")
    return 0


def _run_demo(rest: list[str]) -> int:
    try:
        from nda_demo.cli import main as demo_main
    except ImportError as error:
        print(f"nda demo needs the demo's extras: pip install 'nda-plugins[eval]' ({error})", file=sys.stderr)
        return 2
    return int(demo_main(rest) or 0)


# Commands whose arguments belong to another program: everything after the name is passed on
# as it is (argparse's REMAINDER would reject an option in first place, e.g. `nda demo --seeds 0`).
PASS_THROUGH = {"bench": (_run_bench, "run the transform benchmark"), "demo": (_run_demo, "run the demo")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nda", description="Negative Data Augmentation tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list every NDA").set_defaults(run=_cmd_list)
    show = commands.add_parser("show", help="save a grid of NDAs applied to real images")
    show.add_argument("nda", nargs="+", help=f"NDA names, or 'all' for {SHOW_DEFAULT}")
    show.add_argument("--data", help="CIFAR-10 image-folder root or cifar10-jpeg.tar.xz (default: ../shared/data)")
    show.add_argument("--out", default="nda-grid.png", help="output PNG")
    show.add_argument("--images", type=int, default=SHOW_IMAGES, help="images per row (at most 10)")
    show.add_argument("--seed", type=int, default=0)
    show.set_defaults(run=_cmd_show)
    for name, (_, text) in PASS_THROUGH.items():
        commands.add_parser(name, help=f"{text} (arguments: nda {name} --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:
        return PASS_THROUGH[argv[0]][0](argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"nda {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
