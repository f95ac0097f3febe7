"""Evidence: DPC vs NDA-DPC pre-training on moving-MNIST actions, then the same frozen-feature
evaluation, beside a random-initialisation baseline; every seed, the spread, plots.

For every seed, ``python -m video_dpc pretrain`` trains DPC (``cpu/dpc_moving-mnist.yaml``) and
NDA-DPC (``cpu/nda-dpc-jigsaw_moving-mnist.yaml``) for the same number of steps on the same data
(the same seed gives both the same initial weights and the same clips); the runs go through the
package's command line, ``--jobs`` at a time, one thread each. Each encoder (and the random
initialisation of each seed) is then evaluated on frozen features of one fixed clip per video
(``video_dpc.probe``): kNN top-1 (``nda_core.metrics.knn_accuracy``, k = 20) and a linear probe,
trained on ``--probe-train`` training videos and tested on the moving-MNIST test split (MNIST's
test digits, never seen in pre-training). Finished runs are reused when the script is run again.

    python benchmarks/dpc_evidence.py --seeds 0 1 2 --steps 300 --out work_dirs/dpc_evidence
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

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "DPC": ROOT / "plugins" / "video_dpc" / "cpu" / "dpc_moving-mnist.yaml",
    "NDA-DPC": ROOT / "plugins" / "video_dpc" / "cpu" / "nda-dpc-jigsaw_moving-mnist.yaml",
}
METHODS = ("random init", "DPC", "NDA-DPC")
METRICS = {"linear_top1": "linear probe top-1 (%)", "knn_top1": "kNN top-1 (%), k = 20"}
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
            return {"method": method, "seed": seed, "work_dir": str(work), "reused": True}
    command = [
        sys.executable, "-m", "video_dpc", "pretrain", "--config", str(CONFIGS[method]), "--work-dir", str(work),
        f"seed={seed}", f"threads={args.threads}", f"trainer.max_steps={args.steps}", "progress=log",
        f"trainer.val_check_interval={args.steps}", f"checkpoint.every_n_train_steps={args.steps}", *args.overrides,
    ]
    if method == "NDA-DPC":
        command.append(f"nda.transform={{type: {args.nda}}}")
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] start {method} seed {seed}", flush=True)
    with open(work / "stdout.log", "w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}).returncode
    if code:
        raise RuntimeError(f"{' '.join(command)} failed ({code}); see {work / 'stdout.log'}")
    seconds = time.perf_counter() - start
    print(f"[{time.strftime('%H:%M:%S')}] done  {method} seed {seed} in {seconds:.0f} s", flush=True)
    return {"method": method, "seed": seed, "work_dir": str(work), "seconds": round(seconds, 1)}


def _probe(method: str, seed: int, args_dict: dict[str, Any]) -> dict[str, Any]:
    """kNN and linear probe of one encoder (runs in a worker process, one thread)."""
    import torch

    torch.set_num_threads(args_dict["threads"])
    from video_dpc.config import load_config
    from video_dpc.engine import VideoDataModule, load_state_dict
    from video_dpc.model import DPC
    from video_dpc.moving_mnist import CLASSES
    from video_dpc.probe import probe

    config = load_config(CONFIGS["DPC"], args_dict["overrides"])
    model = dict(config["model"])
    data = {**config["data"], "train_videos": args_dict["probe_train"], "test_videos": args_dict["probe_test"]}
    videos = VideoDataModule(data, model["num_seq"], model["seq_len"], model["in_channels"], model["input_size"], labels=True)

    if method == "random init":
        torch.manual_seed(seed)  # the same initial weights as the seed's pre-training runs
        state = DPC(**model).state_dict()
    else:
        state = load_state_dict(Path(args_dict["out"]) / _slug(method, seed) / "checkpoints" / "last.ckpt")
    train, test = videos.build("train", "val"), videos.build("test", "val")  # one centred, unaugmented clip per video
    start = time.perf_counter()
    result = probe(state, model, len(CLASSES), train, test, recalibrate=train)
    return {"method": method, "seed": seed, **result, "probe_seconds": round(time.perf_counter() - start, 1),
            "train_videos": len(train), "test_videos": len(test)}


def _curve(work_dir: Path, column: str) -> list[tuple[int, float]]:
    points = []
    for file in sorted(work_dir.glob("csv/version_*/metrics.csv")):
        with open(file) as handle:
            points += [(int(r["step"]), float(r[column])) for r in csv.DictReader(handle) if r.get(column)]
    return points


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values), "max": max(values), "n": len(values),
    }


def _plots(results: list[dict[str, Any]], runs: list[dict[str, Any]], out: Path, title: str) -> list[Path]:
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
    fig.savefig(out / "dpc_evidence_accuracy.png", dpi=120)
    plt.close(fig)
    written.append(out / "dpc_evidence_accuracy.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        work = Path(run["work_dir"])
        for ax, column in zip(axes, ("train/top1", "train/loss")):
            points = _curve(work, column)
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, color=COLOURS[run["method"]], alpha=0.7, label=f"{run['method']} seed {run['seed']}")
    axes[0].set_ylabel("pre-training top-1 (NDA-DPC: more negatives)")
    axes[1].set_ylabel("pre-training loss")
    for ax in axes:
        ax.set_xlabel("step")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dpc_evidence_pretraining.png", dpi=120)
    plt.close(fig)
    written.append(out / "dpc_evidence_pretraining.png")
    return written


def _title(steps: int, seeds: list[int], results: list[dict[str, Any]]) -> str:
    return (f"moving-MNIST actions, {steps} pre-training steps, seeds {seeds}; frozen features of "
            f"{results[0]['test_videos']} test videos ({results[0]['train_videos']} labelled training videos)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: %(default)s)")
    parser.add_argument("--steps", type=int, default=300, help="pre-training steps of every run (default: %(default)s)")
    parser.add_argument("--nda", default="jigsaw", help="NDA of NDA-DPC (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: %(default)s)")
    parser.add_argument("--probe-train", type=int, default=2000, help="labelled training videos of the probes (default: %(default)s)")
    parser.add_argument("--probe-test", type=int, default=800, help="test videos (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("work_dirs/dpc_evidence"), help="(default: %(default)s)")
    parser.add_argument("--replot", action="store_true", help="redraw the plots of a finished run from its JSON and exit")
    parser.add_argument("overrides", nargs="*", help="config overrides for every run, e.g. model.width=8")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        done = json.loads((args.out / "dpc_evidence.json").read_text())
        print(_plots(done["results"], done["runs"], args.out, _title(done["steps"], done["seeds"], done["results"])))
        return
    start = time.perf_counter()

    jobs = [(method, seed) for seed in args.seeds for method in ("NDA-DPC", "DPC")]  # longer runs first
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda job: _pretrain(*job, args), jobs))
    pretrain_seconds = time.perf_counter() - start
    args_dict = {"threads": args.threads, "overrides": args.overrides, "out": str(args.out),
                 "probe_train": args.probe_train, "probe_test": args.probe_test}
    probes = [(method, seed) for seed in args.seeds for method in METHODS]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_probe, *zip(*probes), [args_dict] * len(probes)))

    summary: dict[str, Any] = {"steps": args.steps, "seeds": args.seeds, "nda": args.nda, "overrides": args.overrides}
    for metric in METRICS:
        summary[metric] = {method: _spread([r[metric] for r in results if r["method"] == method]) for method in METHODS}
        by = {(r["method"], r["seed"]): r[metric] for r in results}
        summary[f"{metric}_nda_minus_dpc"] = _spread([by["NDA-DPC", s] - by["DPC", s] for s in args.seeds])
        summary[f"{metric}_dpc_minus_random"] = _spread([by["DPC", s] - by["random init", s] for s in args.seeds])
    summary["runs"] = runs
    summary["results"] = results
    summary["pretrain_wall_seconds"] = round(pretrain_seconds, 1)
    summary["total_wall_seconds"] = round(time.perf_counter() - start, 1)
    title = _title(args.steps, args.seeds, results)
    summary["plots"] = [str(p) for p in _plots(results, runs, args.out, title)]
    (args.out / "dpc_evidence.json").write_text(json.dumps(summary, indent=1))

    print(f"\n{title}")
    for metric, label in METRICS.items():
        print(f"{label}:")
        for method in METHODS:
            values = [r[metric] for r in results if r["method"] == method]
            s = summary[metric][method]
            print(f"  {method:12s} {s['mean']:6.2f} +- {s['std']:5.2f}  (per seed {', '.join(f'{v:.2f}' for v in values)})")
        d = summary[f"{metric}_nda_minus_dpc"]
        r = summary[f"{metric}_dpc_minus_random"]
        print(f"  NDA-DPC - DPC  {d['mean']:+6.2f} +- {d['std']:5.2f} (min {d['min']:+.2f}, max {d['max']:+.2f})")
        print(f"  DPC - random   {r['mean']:+6.2f} +- {r['std']:5.2f} (min {r['min']:+.2f}, max {r['max']:+.2f})")
    print(f"wall time {summary['total_wall_seconds']:.0f} s (pre-training {pretrain_seconds:.0f} s); wrote {args.out / 'dpc_evidence.json'}")


if __name__ == "__main__":
    main()
