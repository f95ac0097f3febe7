"""Command line of the demo: ``nda demo [numerosity|jigsaw] [options]`` (or ``python -m nda_demo``).

``nda demo`` with no sub-command runs the default demonstration: the numerosity GAN, plain vs
NDA, over three seeds at a budget that fits about 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from nda_demo.numerosity import NumerosityConfig, RunResult, run_numerosity, validate_numerosity
from nda_demo.training import DEFAULT_THREADS, set_threads

__all__ = ["main", "build_parser", "numerosity_comparison", "merge_numerosity", "report_numerosity", "jigsaw_comparison"]

#: Budget of the default ``nda demo``: generator steps per run and seeds (3 seeds x 2 runs).
DEMO_STEPS = 1000
DEMO_SEEDS = (0, 1, 2)
#: Budget of ``nda demo numerosity`` (the longer, documented run).
NUMEROSITY_STEPS = 3000
DEFAULT_OUT = "nda-demo-out"
#: Classes of CIFAR-10 (held-out images = classes x --eval-per-class).
CIFAR10_CLASSES = 10


def _spread(values: Sequence[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} +- {std:.3f} (min {min(values):.3f}, max {max(values):.3f})"


def _label(nda: bool) -> str:
    return "NDA" if nda else "plain"


def _counts_from_histogram(histogram: dict[Any, int]) -> list[int]:
    return [int(count) for count, times in histogram.items() for _ in range(int(times))]


def report_numerosity(config: NumerosityConfig, runs: Sequence[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Print the comparison of numerosity runs (``RunResult.summary()`` dicts) and save its plots and JSON."""
    from nda_demo.plots import plot_count_distributions, plot_paired

    out.mkdir(parents=True, exist_ok=True)
    runs = sorted(runs, key=lambda r: (r["seed"], r["nda"]))
    seeds = sorted({r["seed"] for r in runs})
    by_run = {label: [r for r in runs if _label(r["nda"]) == label] for label in ("plain", "NDA")}
    plot_count_distributions(
        {label: [_counts_from_histogram(r["histogram"]) for r in group] for label, group in by_run.items()},
        config.target,
        out / "counts.png",
        f"Dots in {config.eval_samples} samples per run; trained on {config.target} dots, {config.steps} steps",
    )
    plot_paired(
        {label: [r["fraction_target"] for r in group] for label, group in by_run.items()},
        out / "fraction_target.png",
        f"share of samples with {config.target} dots",
        "per seed",
    )
    if config.heldout:
        plot_paired(
            {label: [r["auroc_heldout"] for r in group] for label, group in by_run.items()},
            out / "auroc_heldout.png",
            f"D AUROC: {config.target} dots vs {list(config.heldout)}",
            "held-out counts, per seed",
        )
    print(f"\nNumerosity: trained on {config.target} dots, NDA negatives {list(config.negatives)}, "
          f"{config.steps} steps, seeds {seeds}, {config.eval_samples} samples per run")
    for label, group in by_run.items():
        print(f"  {label:5s} share with {config.target} dots: {_spread([r['fraction_target'] for r in group])}")
    for label, group in by_run.items():
        print(f"  {label:5s} D AUROC {config.target} vs negatives {list(config.negatives)}: "
              f"{_spread([r['auroc_negatives'] for r in group])}")
    if config.heldout:
        for label, group in by_run.items():
            print(f"  {label:5s} D AUROC {config.target} vs held-out {list(config.heldout)}: "
                  f"{_spread([r['auroc_heldout'] for r in group])}")
    differences = [n["fraction_target"] - p["fraction_target"] for p, n in zip(by_run["plain"], by_run["NDA"])]
    wins = sum(d > 0 for d in differences)
    print(f"  NDA - plain share at {config.target}, per seed: {[round(d, 3) for d in differences]} "
          f"(NDA higher in {wins}/{len(differences)} seeds)")
    if config.heldout:
        plain_auroc = statistics.fmean(r["auroc_heldout"] for r in by_run["plain"])
        nda_auroc = statistics.fmean(r["auroc_heldout"] for r in by_run["NDA"])
        print(f"  evidence: the NDA discriminator ranks {config.target}-dot images above never-seen counts "
              f"{list(config.heldout)} with AUROC {nda_auroc:.3f} (plain {plain_auroc:.3f}); "
              f"a higher share at {config.target} is the paper's Fig. 6 claim (see docs/results.md at CPU scale)")
    summary = {"config": asdict(config), "seeds": seeds, "runs": list(runs), "difference_fraction_target": differences}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"  plots in {out}/ (counts.png, fraction_target.png, auroc_heldout.png)")
    return summary


def numerosity_comparison(
    config: NumerosityConfig, seeds: Sequence[int], out: Path, progress: bool = True
) -> dict[str, Any]:
    """Plain and NDA numerosity runs for every seed; prints and saves results, plots and samples."""
    from nda_demo.plots import save_grid

    validate_numerosity(config)
    out.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    total = 2 * len(seeds)
    for seed in seeds:
        for nda in (False, True):
            print(f"[{len(results) + 1}/{total}] {_label(nda)} GAN, seed {seed}, {config.steps} steps", flush=True)
            result = run_numerosity(config, nda, seed, progress=progress)
            save_grid(result.samples, out / f"samples_{_label(nda)}_seed{seed}.png")
            print(
                f"    {100 * result.fraction_target:.1f}% of samples have {config.target} dots; "
                f"D AUROC target vs negatives {result.auroc_negatives:.3f}, vs held-out counts "
                f"{result.auroc_heldout:.3f} ({result.seconds:.0f} s, {result.cpu_seconds:.0f} CPU s)",
                flush=True,
            )
            results.append(result)
    return report_numerosity(config, [r.summary() for r in results], out)


def merge_numerosity(folders: Sequence[Path], out: Path) -> dict[str, Any]:
    """Merge the results.json of numerosity runs made separately (e.g. one seed per process)."""
    runs: list[dict[str, Any]] = []
    config = None
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise ValueError(f"{str(path)!r} does not exist; pass folders written by `nda demo --out FOLDER`.")
        data = json.loads(path.read_text())
        this = dict(data["config"])
        this["negatives"], this["heldout"] = tuple(this["negatives"]), tuple(this["heldout"])
        if config is not None and asdict(config) != this:
            raise ValueError(f"{str(path)!r} was made with other settings than {str(folders[0])!r}; merge like with like.")
        config = NumerosityConfig(**this)
        runs += data["runs"]
    if config is None:
        raise ValueError("merge needs at least one folder.")
    return report_numerosity(config, runs, out)


def jigsaw_comparison(config: Any, seeds: Sequence[int], out: Path, progress: bool = True) -> dict[str, Any]:
    """Plain and jigsaw-NDA GANs on CIFAR-10 for every seed, with KID/FID, Fig. 4 histogram and AUROCs."""
    from nda_core.metrics import plot_histograms
    from nda_demo.jigsaw import load_real_images, run_jigsaw, validate_jigsaw
    from nda_demo.plots import save_grid

    validate_jigsaw(config)
    out.mkdir(parents=True, exist_ok=True)
    print("loading CIFAR-10 ...", flush=True)
    train, test = load_real_images(config)
    extractor = real_features = None
    if config.fid_samples:
        from nda_core.fidkid import InceptionFeatures, cached_features

        extractor = InceptionFeatures()
        print(f"Inception features of {len(test)} real test images (cached after the first run) ...", flush=True)
        real_features = cached_features(extractor, test, "cifar10-test", progress=progress)
    results = []
    for seed in seeds:
        for nda in (False, True):
            print(f"[{len(results) + 1}/{2 * len(seeds)}] {_label(nda)} GAN on CIFAR-10, seed {seed}", flush=True)
            result = run_jigsaw(config, nda, seed, train, test, real_features, extractor, progress)
            save_grid(result.samples, out / f"cifar_samples_{_label(nda)}_seed{seed}.png")
            print(f"    {json.dumps(result.summary())}", flush=True)
            results.append(result)
    by_run = {label: [r for r in results if _label(r.nda) == label] for label in ("plain", "NDA")}
    plot_histograms(
        {f"{label} D": torch.cat([r.d_real - r.d_jigsaw for r in runs]) for label, runs in by_run.items()},
        out / "cifar_jigsaw_gap.png",
        "D(x) - D(jigsaw(x)) on held-out CIFAR-10 test images",
        xlabel="score gap",
    )
    return report_jigsaw(asdict(config), [r.summary() for r in results], out)


def report_jigsaw(config: dict[str, Any], runs: Sequence[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Print the comparison of jigsaw runs (``JigsawResult.summary()`` dicts) and save it as JSON."""
    out.mkdir(parents=True, exist_ok=True)
    runs = sorted(runs, key=lambda r: (r["seed"], r["nda"]))
    seeds = sorted({r["seed"] for r in runs})
    by_run = {label: [r for r in runs if _label(r["nda"]) == label] for label in ("plain", "NDA")}
    held_out = CIFAR10_CLASSES * config["eval_per_class"]
    print(f"\nJigsaw NDA on CIFAR-10: {config['steps']} steps, seeds {seeds}, {held_out} held-out test images")
    for label, group in by_run.items():
        print(f"  {label:5s} D(x)-D(jigsaw(x)) > 0: {_spread([r['separation']['fraction_positive'] for r in group])}")
        for name in group[0]["anomaly_auroc"]:
            print(f"  {label:5s} anomaly AUROC {name:7s}: {_spread([r['anomaly_auroc'][name] for r in group])}")
        if group[0]["fidkid"] is not None:
            fidkid = group[0]["fidkid"]
            print(f"  {label:5s} KID (N={fidkid['n_fake']} vs {fidkid['n_real']}): "
                  f"{_spread([r['fidkid']['kid_mean'] for r in group])}")
            if fidkid.get("fid") is not None:
                print(f"  {label:5s} FID (N={fidkid['n_fake']} vs {fidkid['n_real']}): "
                      f"{_spread([r['fidkid']['fid'] for r in group])}")
    summary = {"config": config, "seeds": seeds, "runs": list(runs)}
    (out / "cifar_results.json").write_text(json.dumps(summary, indent=2))
    print(f"  results in {out}/cifar_results.json")
    return summary


def merge_jigsaw(folders: Sequence[Path], out: Path) -> dict[str, Any]:
    """Merge the cifar_results.json of jigsaw runs made separately."""
    runs: list[dict[str, Any]] = []
    config = None
    for folder in folders:
        data = json.loads((Path(folder) / "cifar_results.json").read_text())
        if config is not None and data["config"] != config:
            raise ValueError(f"{str(folder)!r} was made with other settings than {str(folders[0])!r}; merge like with like.")
        config = data["config"]
        runs += data["runs"]
    if config is None:
        raise ValueError("merge needs at least one folder.")
    return report_jigsaw(config, runs, out)


def _add_common(parser: argparse.ArgumentParser, steps: int, seeds: Sequence[int]) -> None:
    parser.add_argument("--steps", type=int, default=steps, help=f"generator updates per run (default {steps})")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds), help=f"seeds (default {list(seeds)})")
    parser.add_argument("--batch-size", type=int, default=32, help="real images per D update (default 32)")
    parser.add_argument("--lam", type=float, default=0.25, help="weight of G's samples in D's fake mixture (paper 0.25)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"CPU threads (default {DEFAULT_THREADS})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _add_numerosity(parser: argparse.ArgumentParser, steps: int, seeds: Sequence[int]) -> None:
    _add_common(parser, steps, seeds)
    defaults = NumerosityConfig()
    parser.add_argument("--target", type=int, default=defaults.target, help="dots in every training image (default 6)")
    parser.add_argument("--negatives", type=int, nargs="+", default=list(defaults.negatives),
                        help="dot counts used as NDA negatives (default 4 5 7 8; the paper's Fig. 6 uses 4 5 7)")
    parser.add_argument("--heldout", type=int, nargs="*", default=list(defaults.heldout),
                        help="counts never shown to either D, to test what D learned (default 3 9)")
    parser.add_argument("--samples", type=int, default=defaults.eval_samples, help="generated samples counted per run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nda demo",
        description="See Negative Data Augmentation work: a GAN trained plain and with NDA, same seed and budget.",
    )
    sub = parser.add_subparsers(dest="command")
    _add_numerosity(parser, DEMO_STEPS, DEMO_SEEDS)
    numerosity = sub.add_parser("numerosity", help="the paper's numerosity experiment at a longer budget (Fig. 6)")
    _add_numerosity(numerosity, NUMEROSITY_STEPS, DEMO_SEEDS)
    merge = sub.add_parser("merge", help="merge results of separate runs (e.g. one seed per process)")
    merge.add_argument("folders", type=Path, nargs="+", help="folders with results.json (or cifar_results.json)")
    merge.add_argument("--out", type=Path, required=True, help="folder for the merged results and plots")
    merge.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=argparse.SUPPRESS)
    jigsaw = sub.add_parser("jigsaw", help="jigsaw-NDA GAN on CIFAR-10: KID/FID, D(x)-D(jigsaw(x)), anomaly AUROC")
    from nda_demo.jigsaw import JigsawConfig

    defaults = JigsawConfig()
    _add_common(jigsaw, defaults.steps, (0,))
    jigsaw.add_argument("--data", default=None, help="CIFAR-10 image-folder root or cifar10-jpeg.tar.xz (default ../shared/data)")
    jigsaw.add_argument("--fid-samples", type=int, default=defaults.fid_samples,
                        help=f"generated images for KID/FID, 0 skips them (default {defaults.fid_samples})")
    jigsaw.add_argument("--eval-per-class", type=int, default=defaults.eval_per_class,
                        help="held-out test images per class for D scores and the real KID/FID set")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    start = time.perf_counter()
    try:
        if args.command == "merge":
            if all((Path(f) / "cifar_results.json").is_file() for f in args.folders):
                merge_jigsaw(args.folders, args.out)
            else:
                merge_numerosity(args.folders, args.out)
        elif args.command == "jigsaw":
            from nda_demo.jigsaw import JigsawConfig

            config = replace(JigsawConfig(), steps=args.steps, batch_size=args.batch_size, lam=args.lam,
                             data=args.data, fid_samples=args.fid_samples, eval_per_class=args.eval_per_class)
            jigsaw_comparison(config, args.seeds, args.out, progress=not args.no_progress)
        else:
            config = replace(NumerosityConfig(), target=args.target, negatives=tuple(args.negatives),
                             heldout=tuple(args.heldout), steps=args.steps, batch_size=args.batch_size,
                             lam=args.lam, eval_samples=args.samples)
            numerosity_comparison(config, args.seeds, args.out, progress=not args.no_progress)
    except (ValueError, TypeError) as error:
        print(f"nda demo: error: {error}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
