"""Evidence: DPC vs NDA-DPC pre-training on moving-MNIST actions, then the same frozen-feature
evaluation, beside a random-initialisation baseline; every seed, the spread, plots.

For every seed, ``python -m video_dpc pretrain`` trains DPC (``cpu/dpc_moving-mnist.yaml``) and
NDA-DPC (``cpu/nda-dpc-jigsaw_moving-mnist.yaml``) for the same number of steps on the same data
(the same seed gives both the same initial weights and the same clips); the runs go through the
package's command line, ``--jobs`` at a time, one thread each. Each encoder (and the random
initialisation of each seed) is then evaluated on frozen features of one fixed clip per video
(``video_dpc.probe``): kNN top-1 (``nda_core.metrics.knn_accuracy``, nda_core's protocol k = 20,
T = 0.1) and a linear probe, trained on ``--probe-train`` training videos and tested on the
moving-MNIST test split (MNIST's test digits, never seen in pre-training). Finished runs in
``--out`` are reused when the script is run again.

It writes ``docs/results/dpc_evidence_<steps>.json`` (schema in ``benchmarks/_evidence.py``: every
per-seed value, mean and sample std, the per-seed NDA-DPC - DPC differences with the paired t-test
and Wilcoxon p from ``scipy.stats``) and the plots ``dpc_evidence_<steps>_{accuracy,pretraining}.png``
beside it. ``--convert OLD.json`` rewrites a JSON of the earlier layout (no statistics, absolute
paths) into this schema from its recorded numbers, without training anything.

    python benchmarks/dpc_evidence.py --seeds 0 1 2 --steps 300 --probe-train 1000 --out work_dirs/dpc_evidence
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_evidence
from _evidence import ROOT, SCHEMA, command, machine, paired, plain_settings, spread  # noqa: E402

CONFIGS = {
    "DPC": ROOT / "plugins" / "video_dpc" / "cpu" / "dpc_moving-mnist.yaml",
    "NDA-DPC": ROOT / "plugins" / "video_dpc" / "cpu" / "nda-dpc-jigsaw_moving-mnist.yaml",
}
METHODS = ("random init", "DPC", "NDA-DPC")
PLAIN, NDA, BASELINE = "DPC", "NDA-DPC", "random init"
METRICS = {"linear_top1": "linear probe top-1 (%)", "knn_top1": "kNN top-1 (%), k = 20, T = 0.1"}
#: keys of a JSON of the earlier layout that ``--convert`` reads
OLD_LAYOUT = ("steps", "seeds", "nda", "overrides", "runs", "results", "pretrain_wall_seconds", "total_wall_seconds")
COLOURS = {"random init": "#999999", "DPC": "#1f77b4", "NDA-DPC": "#d62728"}


def _slug(method: str, seed: int) -> str:
    return f"{method.lower().replace(' ', '-')}-s{seed}"


def _pretrain(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run (or reuse) one pre-training through the package's command line."""
    work = args.out / _slug(method, seed)
    last = work / "checkpoints" / "last.ckpt"
    if last.is_file():
        import torch

        if torch.load(last, map_location="cpu", weights_only=True)["global_step"] >= args.steps:
            return {"method": method, "seed": seed, "work_dir": work.name, "reused": True}
    command = [
        sys.executable,
        "-m",
        "video_dpc",
        "pretrain",
        "--config",
        str(CONFIGS[method]),
        "--trainer.default_root_dir",
        str(work),
        f"--seed_everything={seed}",
        f"--model.seed={seed}",
        f"--threads={args.threads}",
        f"--trainer.max_steps={args.steps}",
        f"--trainer.val_check_interval={args.steps}",
        f"--checkpoint.every_n_train_steps={args.steps}",
        *args.overrides,
    ]
    if method == "NDA-DPC":
        command.append(f"--model.nda.transform={{type: {args.nda}}}")
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] start {method} seed {seed}", flush=True)
    with open(work / "stdout.log", "w") as log:
        code = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": str(args.threads)},
        ).returncode
    if code:
        raise RuntimeError(f"{' '.join(command)} failed ({code}); see {work / 'stdout.log'}")
    seconds = time.perf_counter() - start
    print(f"[{time.strftime('%H:%M:%S')}] done  {method} seed {seed} in {seconds:.0f} s", flush=True)
    return {"method": method, "seed": seed, "work_dir": work.name, "seconds": round(seconds, 1)}


def _probe(method: str, seed: int, args_dict: dict[str, Any]) -> dict[str, Any]:
    """kNN and linear probe of one encoder (runs in a worker process, one thread)."""
    import torch

    torch.set_num_threads(args_dict["threads"])
    from video_dpc.cli import build
    from video_dpc.engine import load_state_dict
    from video_dpc.model import DPC, MODEL_DEFAULTS
    from video_dpc.moving_mnist import CLASSES
    from video_dpc.probe import probe

    cli = build(
        "pretrain",
        [
            "--config",
            str(CONFIGS["DPC"]),
            *args_dict["overrides"],
            f"--data.train_videos={args_dict['probe_train']}",
            f"--data.test_videos={args_dict['probe_test']}",
        ],
        instantiate=False,
    )
    videos = cli.parser.instantiate_classes(cli.config).data  # the config's data module (labelled clips)
    model = {key: value for key, value in cli.config.model.as_dict().items() if key in MODEL_DEFAULTS}

    if method == "random init":
        torch.manual_seed(seed)  # the same initial weights as the seed's pre-training runs
        state = DPC(**model).state_dict()
    else:
        state = load_state_dict(Path(args_dict["out"]) / _slug(method, seed) / "checkpoints" / "last.ckpt")
    train, test = videos.build("train", "val"), videos.build("test", "val")  # one centred, unaugmented clip per video
    start = time.perf_counter()
    result = probe(state, model, len(CLASSES), train, test, recalibrate=train)
    return {
        "method": method,
        "seed": seed,
        **result,
        "probe_seconds": round(time.perf_counter() - start, 1),
        "train_videos": len(train),
        "test_videos": len(test),
    }


def _curve(work_dir: Path, column: str) -> list[tuple[int, float]]:
    points = []
    for file in sorted(work_dir.glob("csv/version_*/metrics.csv")):
        with open(file) as handle:
            points += [(int(r["step"]), float(r[column])) for r in csv.DictReader(handle) if r.get(column)]
    return points


def _plots(
    results: list[dict[str, Any]], runs: list[dict[str, Any]], out: Path, folder: Path, name: str, title: str
) -> list[str]:
    """Accuracy bars and pre-training curves (read from the work folders in ``out``) as ``folder/name_*.png``."""
    from nda_core.metrics import pyplot

    plt = pyplot()
    written = []
    fig, axes = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4))
    for ax, (metric, label) in zip(axes, METRICS.items()):
        for position, method in enumerate(METHODS):
            values = [r[metric] for r in results if r["method"] == method]
            ax.bar(position, statistics.fmean(values), color=COLOURS[method], alpha=0.6)
            ax.scatter([position] * len(values), values, color="black", zorder=3, s=14)
        ax.axhline(100 / 8, color="grey", linestyle=":", label="chance (8 classes)")
        ax.set_xticks(range(len(METHODS)), METHODS)
        ax.set_ylabel(label)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(folder / f"{name}_accuracy.png", dpi=120)
    plt.close(fig)
    written.append(f"{name}_accuracy.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        work = out / run["work_dir"]
        for ax, column in zip(axes, ("train/top1", "train/loss")):
            points = _curve(work, column)
            if points:
                steps, values = zip(*points)
                ax.plot(
                    steps, values, color=COLOURS[run["method"]], alpha=0.7, label=f"{run['method']} seed {run['seed']}"
                )
    axes[0].set_ylabel("pre-training top-1 (NDA-DPC: more negatives)")
    axes[1].set_ylabel("pre-training loss")
    for ax in axes:
        ax.set_xlabel("step")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / f"{name}_pretraining.png", dpi=120)
    plt.close(fig)
    written.append(f"{name}_pretraining.png")
    return written


def _title(steps: int, seeds: list[int], results: list[dict[str, Any]]) -> str:
    return (
        f"moving-MNIST actions, {steps} pre-training steps, seeds {seeds}; frozen features of "
        f"{results[0]['test_videos']} test videos ({results[0]['train_videos']} labelled training videos)"
    )


def _summarise(settings: dict[str, Any], runs: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-(method, seed) records (pre-training and probe merged), spreads and paired statistics."""
    seeds = settings["seeds"]
    pretrain = {(r["method"], r["seed"]): r for r in runs}
    records = []
    for result in results:
        record = dict(result)
        run = pretrain.get((result["method"], result["seed"]))
        if run is not None:
            record["work_dir"] = Path(run["work_dir"]).name  # relative to --out
            record["pretrain_seconds"] = run.get("seconds")
            record["pretrain_reused"] = run.get("reused", False)
        records.append(record)

    def values(method: str, metric: str) -> list[float]:
        return [next(r[metric] for r in records if r["method"] == method and r["seed"] == seed) for seed in seeds]

    return {
        "seeds": seeds,
        "runs": records,
        "summary": {method: {metric: spread(values(method, metric)) for metric in METRICS} for method in METHODS},
        "paired": {metric: paired(values(NDA, metric), values(PLAIN, metric), seeds) for metric in METRICS},
        "paired_dpc_minus_random": {
            metric: paired(values(PLAIN, metric), values(BASELINE, metric), seeds) for metric in METRICS
        },
    }


def _knn_protocol() -> dict[str, Any]:
    from nda_core import metrics

    return {
        "function": "nda_core.metrics.knn_accuracy",
        "k": metrics.KNN_K,
        "temperature": metrics.KNN_TEMPERATURE,
        "features": "DPC classifier features of one centred clip per video",
    }


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **plain_settings({k: v for k, v in vars(args).items() if k not in ("replot", "convert")}),
        "knn": _knn_protocol(),
        "methods": {"plain": PLAIN, "nda": NDA, "baseline": BASELINE},
        "configs": {method: config.relative_to(ROOT).as_posix() for method, config in CONFIGS.items()},
    }


def convert(old_file: Path, folder: Path, name: str | None) -> Path:
    """Rewrite a JSON of the earlier layout into the evidence schema from its recorded numbers.

    Valid only because those runs used today's kNN protocol (``video_dpc.probe`` has called
    ``knn_accuracy`` with k = 20 and the default T = 0.1 since before they were written); the
    machine facts were not recorded and stay ``null``. Returns the written file.
    """
    old = json.loads(old_file.read_text())
    missing = [key for key in OLD_LAYOUT if key not in old]
    if missing or "schema" in old:
        raise ValueError(
            f"--convert: {old_file} is not a JSON of the earlier dpc_evidence layout (missing {missing} "
            f"or already has a schema); convert only such a file."
        )
    (train_videos,) = {r["train_videos"] for r in old["results"]}
    (test_videos,) = {r["test_videos"] for r in old["results"]}
    (work_parent,) = {Path(r["work_dir"]).parent.name for r in old["runs"]}
    out = f"work_dirs/{work_parent}"
    arguments = ["--seeds", *map(str, old["seeds"]), "--steps", str(old["steps"]), "--probe-train", str(train_videos)]
    if test_videos != 800:
        arguments += ["--probe-test", str(test_videos)]
    if old["nda"] != "jigsaw":
        arguments += ["--nda", old["nda"]]
    arguments += ["--out", out, *old["overrides"]]
    name = name or f"dpc_evidence_{old['steps']}"
    settings = {
        "seeds": old["seeds"],
        "steps": old["steps"],
        "nda": old["nda"],
        "jobs": 2,
        "threads": 1,
        "probe_train": train_videos,
        "probe_test": test_videos,
        "out": out,
        "results": "docs/results",
        "name": name,
        "overrides": old["overrides"],
        "knn": _knn_protocol(),
        "methods": {"plain": PLAIN, "nda": NDA, "baseline": BASELINE},
        "configs": {method: config.relative_to(ROOT).as_posix() for method, config in CONFIGS.items()},
    }
    document = {
        "schema": SCHEMA,
        "script": "benchmarks/dpc_evidence.py",
        "command": " ".join(["python", "benchmarks/dpc_evidence.py", *arguments]),
        "settings": settings,
        "machine": None,
        "converted": {
            "from": "the earlier dpc_evidence JSON layout, numbers unchanged (nothing re-run)",
            "command": f"python benchmarks/dpc_evidence.py --convert docs/results/{old_file.name}",
            "note": "machine facts (threads per run 1, 2 runs at a time) were not recorded by the earlier layout",
        },
        **_summarise(settings, old["runs"], old["results"]),
        "pretrain_wall_seconds": old["pretrain_wall_seconds"],
        "wall_seconds": old["total_wall_seconds"],
        "plots": [f"{name}_accuracy.png", f"{name}_pretraining.png"],
    }
    target = folder / f"{name}.json"
    target.write_text(json.dumps(document, indent=1) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: %(default)s)")
    parser.add_argument("--steps", type=int, default=300, help="pre-training steps of every run (default: %(default)s)")
    parser.add_argument("--nda", default="jigsaw", help="NDA of NDA-DPC (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")
    parser.add_argument(
        "--probe-train", type=int, default=2000, help="labelled training videos of the probes (default: %(default)s)"
    )
    parser.add_argument("--probe-test", type=int, default=800, help="test videos (default: %(default)s)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("work_dirs/dpc_evidence"),
        help="work folder of the runs (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "docs" / "results",
        help="folder of the JSON and plots (default: docs/results)",
    )
    parser.add_argument("--name", default=None, help="file stem of the JSON and plots (default: dpc_evidence_<steps>)")
    parser.add_argument(
        "--replot", action="store_true", help="redraw the plots of a finished run from its JSON and exit"
    )
    parser.add_argument(
        "--convert",
        type=Path,
        metavar="OLD_JSON",
        help="rewrite a JSON of the earlier layout into the evidence schema (numbers unchanged) and exit",
    )
    parser.add_argument("overrides", nargs="*", help="LightningCLI options for every run, e.g. --model.width=8")
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    if args.convert:
        try:
            print(f"wrote {convert(args.convert, args.results, args.name)}")
        except (OSError, ValueError) as error:
            parser.error(str(error))
        return
    name = args.name or f"dpc_evidence_{args.steps}"
    args.out = args.out.resolve()  # recorded relative to the repository root (benchmarks/_evidence.relative)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        done = json.loads((args.results / f"{name}.json").read_text())
        pretrained = [run for run in done["runs"] if "work_dir" in run]  # random init has no work folder
        print(
            _plots(
                done["runs"],
                pretrained,
                args.out,
                args.results,
                name,
                _title(done["settings"]["steps"], done["seeds"], done["runs"]),
            )
        )
        return
    machine_facts = machine(args.threads)
    start = time.perf_counter()

    jobs = [(method, seed) for seed in args.seeds for method in ("NDA-DPC", "DPC")]  # longer runs first
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda job: _pretrain(*job, args), jobs))
    pretrain_seconds = time.perf_counter() - start
    args_dict = {
        "threads": args.threads,
        "overrides": args.overrides,
        "out": str(args.out.resolve()),
        "probe_train": args.probe_train,
        "probe_test": args.probe_test,
    }
    probes = [(method, seed) for seed in args.seeds for method in METHODS]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_probe, *zip(*probes), [args_dict] * len(probes)))

    title = _title(args.steps, args.seeds, results)
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "script": "benchmarks/dpc_evidence.py",
        "command": command("dpc_evidence.py"),
        "settings": {**_settings(args), "name": name},
        "machine": {**machine_facts, "loadavg_end": list(os.getloadavg())},
        **_summarise(vars(args), runs, results),
        "pretrain_wall_seconds": round(pretrain_seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "plots": _plots(results, runs, args.out, args.results, name, title),
    }
    (args.results / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")

    print(f"\n{title}")
    for metric, label in METRICS.items():
        print(f"{label}:")
        for method in METHODS:
            s = summary["summary"][method][metric]
            print(
                f"  {method:12s} {s['mean']:6.2f} +- {s['std']:5.2f}  (per seed "
                f"{', '.join(f'{v:.2f}' for v in s['values'])})"
            )
        d = summary["paired"][metric]
        r = summary["paired_dpc_minus_random"][metric]
        print(
            f"  NDA-DPC - DPC  {d['mean']:+6.2f} +- {d['std']:5.2f} (min {d['min']:+.2f}, max {d['max']:+.2f}; "
            f"paired t p {d['t_test_p']}, Wilcoxon p {d['wilcoxon_p']})"
        )
        print(f"  DPC - random   {r['mean']:+6.2f} +- {r['std']:5.2f} (min {r['min']:+.2f}, max {r['max']:+.2f})")
    print(
        f"wall time {summary['wall_seconds']:.0f} s (pre-training {pretrain_seconds:.0f} s); wrote "
        f"{args.results / (name + '.json')}"
    )


if __name__ == "__main__":
    main()
