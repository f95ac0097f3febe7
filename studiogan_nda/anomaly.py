"""Anomaly detection with a trained StudioGAN discriminator (the NDA paper's Table 5, Fig. 4 and 8).

::

    python -m studiogan_nda anomaly --studiogan-root PATH -cfg CFG.yaml -ckpt CHECKPOINT_DIR \\
        [--data IMAGE_ROOT] [--ood NAME=FOLDER ...] [--out DIR]

(also ``nda studiogan anomaly ...`` and ``python -m studiogan_nda.anomaly ...``)

The discriminator of a StudioGAN run (``model=D-best-...pth``, else ``model=D-current-...pth``)
scores ``--num-images`` in-distribution test images and out-of-distribution sets; a higher
D(x) means "more in-distribution", and each set gets the AUROC of telling the clean images from
it (:func:`nda_core.metrics.auroc`). The OOD sets are

* the NDA of the clean images (jigsaw k=2 by default; paired: Fig. 4's histogram of
  D(x) - D(NDA(x))),
* the ten CIFAR-10-C corruptions that need no image assets, made here from the clean images at
  severity 5 (paired: Fig. 8's histograms of D(clean) - D(corrupt)),
* any image folder given with ``--ood NAME=FOLDER``.

Writes ``auroc.json``, ``auroc.md``, ``fig4_nda_gap.png``, ``fig8_corruption_gaps.png`` and
``scores.png`` to ``--out``. A class-conditional projection discriminator scores an image by
its best class, max_y D(x, y).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import nda_core
from nda_core._checks import check_int
from nda_core.data import IMAGE_SUFFIXES
from nda_core.errors import UsageError, parse_nda_argument, report_usage_error

__all__ = ["main", "build_parser", "load_discriminator", "discriminator_scores", "evaluate"]

DEFAULT_NDA = {"type": "jigsaw", "k": 2}
#: The command's name when run as a module of its own.
PROG = "python -m studiogan_nda.anomaly"
#: Discriminator conditioning whose adversarial output does not depend on the label.
LABEL_FREE = ("W/O", "AC", "2C", "D2DCE")
_UINT8_HALF = 127.5  # StudioGAN's ToTensor + Normalize(0.5, 0.5): x / 127.5 - 1


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The options; ``prog``: the command as the user typed it (``nda studiogan anomaly`` under the nda host)."""
    from studiogan_nda.corruptions import available

    parser = argparse.ArgumentParser(
        prog=prog,
        description="AUROC of a trained StudioGAN discriminator against NDA, CIFAR-10-C style corruptions and image "
        "folders.",
    )
    parser.add_argument(
        "--studiogan-root",
        default=os.environ.get("STUDIOGAN_ROOT"),
        help="StudioGAN checkout (default: $STUDIOGAN_ROOT = %(default)s)",
    )
    parser.add_argument("-cfg", "--config", required=True, help="the run's StudioGAN YAML (required)")
    parser.add_argument(
        "-ckpt", "--checkpoint", required=True, help="the run's checkpoint folder or a model=D-...pth file (required)"
    )
    parser.add_argument(
        "--data",
        default=None,
        help="image-folder root holding the in-distribution SPLIT/<class>/* (default: %(default)s = CIFAR-10 from "
        "nda_core.data)",
    )
    parser.add_argument(
        "--split", default="test", help="folder of --data with the clean test images (default: %(default)s)"
    )
    parser.add_argument(
        "--num-images", type=int, default=1000, help="clean images, spread over the classes (default: %(default)s)"
    )
    parser.add_argument(
        "--ood",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="an extra OOD image folder (repeatable; default: %(default)s)",
    )
    parser.add_argument(
        "--corruptions",
        default="all",
        help=f"comma-separated subset of {available()}, 'all' or 'none' (default: %(default)s)",
    )
    parser.add_argument(
        "--nda",
        type=parse_nda_argument,
        default=json.dumps(DEFAULT_NDA),
        help="NDA of Fig. 4: a name or an nda_core spec as JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=200, help="images per discriminator call (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="image choice, NDA and noise (default: %(default)s)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="(default: %(default)s)"
    )
    parser.add_argument("--out", default="studiogan_nda_anomaly", help="output folder (default: %(default)s)")
    return parser


def _checkpoint_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise UsageError(
            f"checkpoint {str(path)!r} does not exist; pass a StudioGAN checkpoint folder or a model=D-...pth file."
        )
    folder = glob.escape(str(path))
    for when in ("best", "current"):
        found = sorted(glob.glob(os.path.join(folder, f"model=D-{when}-weights-step=*.pth")))
        if found:
            return Path(found[-1])
    raise UsageError(f"no discriminator checkpoint (model=D-best-... or model=D-current-...pth) in {str(path)!r}.")


def load_discriminator(
    root: str | None, config_file: str, checkpoint: str, device: str = "cpu"
) -> tuple[torch.nn.Module, Any, dict]:
    """Build the run's D with StudioGAN's own model builder and load its weights (``weights_only``).

    Returns ``(discriminator, cfgs, info)``; ``info`` has the checkpoint path and step.
    """
    from studiogan_nda import checkout, hooks
    from studiogan_nda.workarounds import numpy_safe_types

    checkout.add_to_path(root)
    hooks.install()
    import config  # StudioGAN's
    import models.model as model  # StudioGAN's

    if not Path(config_file).is_file():
        raise UsageError(f"-cfg {config_file} does not exist; pass the YAML the run was trained with.")
    cfgs = config.Configurations(config_file)
    if cfgs.MODEL.d_cond_mtd == "MH":
        raise UsageError(
            "MODEL.d_cond_mtd 'MH' scores K+1 classes, not real vs fake; anomaly scores need a real/fake discriminator."
        )
    cfgs.RUN.mixed_precision = False
    _, _, _, dis, *_ = model.load_generator_discriminator(
        DATA=cfgs.DATA,
        OPTIMIZATION=cfgs.OPTIMIZATION,
        MODEL=cfgs.MODEL,
        STYLEGAN=cfgs.STYLEGAN,
        MODULES=cfgs.MODULES,
        RUN=cfgs.RUN,
        device=device,
        logger=None,
    )
    path = _checkpoint_file(Path(checkpoint))
    with torch.serialization.safe_globals(numpy_safe_types()):
        state = torch.load(path, map_location="cpu", weights_only=True)
    dis.load_state_dict(state["state_dict"])
    dis.eval()
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in dis.modules()):
        print(
            "studiogan_nda.anomaly: warning: this discriminator uses BatchNorm. It was trained on batches of one kind "
            "(all real, all fake, all NDA) and may tell them apart by batch statistics; scored one image at a time "
            "(eval mode, running statistics mixed over those batches) its outputs can separate little. Discriminators "
            "with spectral norm (MODEL.apply_d_sn: True, as BigGAN) have no such issue.",
            file=sys.stderr,
        )
    return dis, cfgs, {"checkpoint": str(path), "step": state.get("step")}


@torch.no_grad()
def discriminator_scores(
    dis: torch.nn.Module, images: torch.Tensor, cfgs: Any, batch_size: int = 200, device: str = "cpu"
) -> torch.Tensor:
    """D's adversarial output for uint8 images (N, C, H, W); max over classes for label-dependent D."""
    size = cfgs.DATA.img_size
    conditional = cfgs.MODEL.d_cond_mtd not in LABEL_FREE and cfgs.DATA.num_classes > 1
    classes = range(cfgs.DATA.num_classes) if conditional else range(1)
    scores = []
    for batch in images.split(batch_size):
        x = batch.to(device).float() / _UINT8_HALF - 1.0
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        per_class = [
            dis(x, torch.full((x.shape[0],), c, dtype=torch.long, device=x.device), eval=True)["adv_output"]
            .reshape(-1)
            .float()
            for c in classes
        ]
        scores.append(torch.stack(per_class).amax(0).cpu())
    return torch.cat(scores)


def _load_images(folder: Path, limit: int, seed: int) -> torch.Tensor:
    from nda_core.data import load_image_folder

    if not folder.is_dir():
        raise UsageError(
            f"image folder {str(folder)!r} does not exist; pass a folder of images (flat or <class>/ sub-folders)."
        )
    if any(p.is_dir() for p in folder.iterdir()):
        classes = [p for p in folder.iterdir() if p.is_dir()]
        images, _, _ = load_image_folder(folder, per_class=max(1, math.ceil(limit / len(classes))), seed=seed)
    else:
        import numpy as np
        from PIL import Image

        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}.")
        generator = torch.Generator().manual_seed(seed)
        files = [files[i] for i in torch.randperm(len(files), generator=generator)[:limit].tolist()]
        arrays = []
        for file in files:
            with Image.open(file) as image:
                arrays.append(np.asarray(image.convert("RGB")))
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise UsageError(
                f"images in {str(folder)!r} have different sizes {sorted(shapes)[:3]}; resize them to one size first."
            )
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    generator = torch.Generator().manual_seed(seed)
    return images[torch.randperm(images.shape[0], generator=generator)[:limit]]


def _parse_ood(entries: list[str]) -> dict[str, Path]:
    sets = {}
    for entry in entries:
        name, sep, folder = entry.partition("=")
        if not sep or not name or not folder:
            raise UsageError(f"--ood {entry!r} must look like NAME=FOLDER, e.g. --ood svhn=/data/svhn/test.")
        sets[name] = Path(folder)
    return sets


def _parse_corruptions(value: str) -> list[str]:
    from studiogan_nda.corruptions import available

    if value == "all":
        return available()
    if value == "none":
        return []
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in available()]
    if unknown:
        raise UsageError(f"--corruptions has unknown names {unknown}; choose from {available()}, 'all' or 'none'.")
    return names


def _build_nda(spec: Any) -> tuple[str, Any]:
    """``--nda`` (parsed by :func:`nda_core.errors.parse_nda_argument`) as ``(name, transform)``; a bad spec
    fails here, early, with nda_core's message."""
    if spec is None:
        raise UsageError("--nda none: the scores of Fig. 4 need an NDA; pass a name or a spec, e.g. --nda jigsaw.")
    transform = nda_core.build(spec)
    name = spec if isinstance(spec, str) else spec.get("type", "nda") if isinstance(spec, dict) else "nda"
    return str(name), transform


def _plot_gap_grid(
    clean: torch.Tensor, paired: dict[str, torch.Tensor], stats: dict[str, dict[str, float]], path: Path
) -> Path:
    """Fig. 8: a histogram of D(clean) - D(corrupt) per corruption, titled with its ``separation`` ``stats``."""
    from nda_core.metrics import pyplot

    plt = pyplot()
    columns = min(5, len(paired))
    rows = math.ceil(len(paired) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for ax, (name, scores) in zip(axes.flat, paired.items()):
        ax.hist((clean - scores).numpy(), bins=40, color="tab:blue", alpha=0.8)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(
            f"{name}\nAUROC {stats[name]['auroc']:.3f}, {100 * stats[name]['fraction_positive']:.0f}% > 0", fontsize=9
        )
    for ax in list(axes.flat)[len(paired) :]:
        ax.axis("off")
    fig.suptitle("D(clean) - D(corrupt), CIFAR-10-C style, severity 5 (paper Fig. 8)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Score the sets, write the JSON, Markdown table and plots; return the results."""
    from nda_core.data import cifar10_root
    from nda_core.metrics import auroc, plot_histograms, plot_score_histogram, separation
    from studiogan_nda.corruptions import corrupt

    check_int(
        args.num_images, "--num-images", 2, hint="score at least 2 images (the paper uses the 10,000 test images)."
    )
    check_int(args.batch_size, "--batch-size", 1)
    corruptions = _parse_corruptions(args.corruptions)
    ood_folders = _parse_ood(args.ood)
    nda_name, nda_transform = _build_nda(args.nda)
    dis, cfgs, info = load_discriminator(args.studiogan_root, args.config, args.checkpoint, args.device)
    data_root = cifar10_root() if args.data is None else Path(args.data)
    clean_images = _load_images(data_root / args.split, args.num_images, args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    def score(images: torch.Tensor) -> torch.Tensor:
        return discriminator_scores(dis, images, cfgs, args.batch_size, args.device)

    start = time.perf_counter()
    clean = score(clean_images)
    print(
        f"scored {clean.numel()} clean images of {data_root / args.split} ({time.perf_counter() - start:.1f} s)",
        flush=True,
    )
    paired = {nda_name: score(nda_transform(clean_images, generator=generator))}
    gaps = {nda_name: separation(clean, paired[nda_name])}
    for name in corruptions:
        paired[name] = score(corrupt(clean_images, name, generator))
        gaps[name] = separation(clean, paired[name])
        print(f"  {name}: AUROC {gaps[name]['auroc']:.3f}", flush=True)
    unpaired = {name: score(_load_images(folder, args.num_images, args.seed)) for name, folder in ood_folders.items()}

    out = Path(args.out)
    # paths relative to the output folder: an artifact names no folder of the machine it was made on
    checkpoint, config_file = (
        os.path.relpath(Path(p).resolve(), out.resolve()) for p in (info["checkpoint"], args.config)
    )
    results: dict[str, Any] = {
        "checkpoint": checkpoint,
        "step": info["step"],
        "config": config_file,
        "n_clean": clean.numel(),
        "seed": args.seed,
        "sets": {},
    }
    for name, scores in paired.items():
        stats = gaps[name]
        results["sets"][name] = {
            "auroc": stats["auroc"],
            "mean_gap": stats["mean"],
            "fraction_positive": stats["fraction_positive"],
            "n": scores.numel(),
            "paired": True,
        }
    for name, scores in unpaired.items():
        results["sets"][name] = {"auroc": auroc(clean, scores), "n": scores.numel(), "paired": False}
    corrupted = [results["sets"][n]["auroc"] for n in corruptions]
    if corrupted:
        results["mean_corruption_auroc"] = sum(corrupted) / len(corrupted)

    out.mkdir(parents=True, exist_ok=True)
    (out / "auroc.json").write_text(json.dumps(results, indent=2))
    lines = ["| OOD set | AUROC | mean D(clean)-D(ood) | n |", "|---|---|---|---|"]
    for name, row in results["sets"].items():
        gap = f"{row['mean_gap']:.3f}" if row["paired"] else "(unpaired)"
        lines.append(f"| {name} | {row['auroc']:.3f} | {gap} | {row['n']} |")
    if corrupted:
        lines.append(f"| mean of {len(corrupted)} corruptions | {results['mean_corruption_auroc']:.3f} | | |")
    table = "\n".join(lines)
    (out / "auroc.md").write_text(
        f"D of {checkpoint} (step {info['step']}), {clean.numel()} clean images, seed {args.seed}\n\n{table}\n"
    )
    plot_score_histogram(
        clean, paired[nda_name], out / "fig4_nda_gap.png", title=f"D(x) - D({nda_name}(x)) (paper Fig. 4)"
    )
    if corruptions:
        _plot_gap_grid(clean, {n: paired[n] for n in corruptions}, gaps, out / "fig8_corruption_gaps.png")
    plot_histograms(
        {"clean": clean, nda_name: paired[nda_name], **unpaired},
        out / "scores.png",
        title="D(x)",
        xlabel="discriminator output",
    )
    print(table)
    print(
        f"wrote {out}/auroc.json, auroc.md, "
        f"fig4_nda_gap.png{', fig8_corruption_gaps.png' if corruptions else ''}, scores.png"
    )
    return results


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """AUROC of a trained StudioGAN discriminator on NDA, CIFAR-10-C style corruptions and image folders."""
    args = build_parser(prog).parse_args(argv)
    try:
        evaluate(args)
    except UsageError as error:
        return report_usage_error(prog, error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
