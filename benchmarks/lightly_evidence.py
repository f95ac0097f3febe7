"""Evidence that NDA works in lightly: MoCo vs NDA-MoCo (jigsaw) at equal budget on real CIFAR-10.

Both runs of a seed are ``lightly_nda.NDAMoCo`` trained by a Lightning ``Trainer`` on the same
real CIFAR-10 subset with lightly's ``MoCoV2Transform``, the same lightly CIFAR ResNet, the same
initial weights (the seed), memory bank, batch and number of steps; plain MoCo is ``nda=None``
(lightly's own ``NTXentLoss``), NDA-MoCo adds 2 jigsaw (k = 2) NDA views per sample embedded by
the momentum encoder. Then, on held-out CIFAR-10 test images, it reports

* kNN top-1 of the backbone features (``nda_core.metrics.knn_accuracy`` with nda_core's protocol
  ``KNN_K`` = 20 most cosine-similar training features, votes exp(cos / ``KNN_TEMPERATURE`` = 0.1);
  the kNN every adapter reports), also of each seed's untrained initial weights, and
* the mean cosine distance between the representations of x and jigsaw(x)
  (``nda_core.metrics.cosine_distance``; paper Fig. 9: NDA pushes them apart), also divided by
  the mean distance between two different test images,

for every seed, as mean +- sample std over seeds, and the per-seed NDA - MoCo differences with the
paired t-test and Wilcoxon p (``scipy.stats``). Runs go to ``--jobs`` worker processes with
``--threads`` threads each. Writes ``docs/results/lightly_results.json`` (schema in
``benchmarks/_evidence.py``) and the plots ``lightly_{knn_and_distance_per_seed,cos_dist_x_vs_jigsaw,
training_logits}.png`` beside it; the Lightning CSV logs go to ``--work-dir``.

    python benchmarks/lightly_evidence.py --train-per-class 100 --test-per-class 100 --epochs 8 --batch-size 32 \
        --backbone resnet-9 --bank 512 --seeds 0 1 2 --jobs 1 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_evidence in spawned workers too
from _evidence import ROOT, SCHEMA, command, machine, paired, plain_settings, spread  # noqa: E402

METHODS = {"MoCo": None, "NDA-MoCo (jigsaw)": {"type": "jigsaw", "k": 2}}
JIGSAW_SEED = 1234
EVAL_BATCH = 256
LOGITS = ("logit_pos", "logit_neg", "logit_nda")
METRICS = ("knn_top1", "cos_dist_x_jigsaw_mean", "cos_dist_x_other_mean", "relative_jigsaw_distance")
UNTRAINED = "untrained (initial weights)"


@torch.no_grad()
def _features(backbone: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Backbone features (eval mode) of uint8 images, normalised as in training; the backbone's
    train / eval mode is restored afterwards (Lightning's fit keeps the mode it finds, so an
    evaluation before training must not leave BatchNorm in eval mode)."""
    from lightly.transforms.utils import IMAGENET_NORMALIZE

    mean = torch.tensor(IMAGENET_NORMALIZE["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_NORMALIZE["std"]).view(1, 3, 1, 1)
    modes = {module: module.training for module in backbone.modules()}
    backbone.eval()
    device = next(backbone.parameters()).device
    mean, std = mean.to(device), std.to(device)
    try:
        return torch.cat(
            [
                backbone((chunk.to(device).float() / 255 - mean) / std).flatten(start_dim=1).cpu()
                for chunk in images.split(EVAL_BATCH)
            ]
        )
    finally:
        for module, training in modes.items():
            module.train(training)


def run_one(job: dict) -> dict:
    """Train one method for one seed in this process and evaluate it."""
    torch.set_num_threads(job["threads"])
    warnings.filterwarnings("ignore")
    import pytorch_lightning as pl
    from lightly.transforms import MoCoV2Transform
    from pytorch_lightning.loggers import CSVLogger

    import nda_core
    from lightly_nda import NDAMoCo, cifar_resnet
    from lightly_nda.data import image_folder
    from nda_core.data import cifar10_root, load_image_folder
    from nda_core.metrics import cosine_distance, knn_accuracy
    from nda_demo.training import _quiet_lightning

    _quiet_lightning()  # after importing Lightning, whose import sets its loggers to INFO
    job_start = start = time.perf_counter()
    root = cifar10_root()
    pl.seed_everything(job["seed"], verbose=False)
    dataset = image_folder(root / "train", MoCoV2Transform(input_size=32, gaussian_blur=0.0), job["train_per_class"])
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=job["batch_size"],
        shuffle=True,
        drop_last=True,
        num_workers=job["workers"],
        persistent_workers=job["workers"] > 0,
    )
    backbone, feature_dim = cifar_resnet(job["backbone"], job["width"])
    model = NDAMoCo(
        backbone,
        feature_dim,
        nda=job["nda"],
        num_nda_views=2,
        temperature=job["temperature"],
        memory_bank_size=(job["bank"], 128),
        lr=job["lr"],
    )
    logger = CSVLogger(job["work_dir"], name=job["name"])

    class Progress(pl.Callback):  # one line per epoch: the runs happen in worker processes without a bar
        def on_train_epoch_end(self, trainer, module):
            logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
            print(
                f"  {job['name']}: epoch {trainer.current_epoch + 1}/{job['epochs']}, step {trainer.global_step}, "
                + ", ".join(
                    f"{k} {logged[k]:.2f}" for k in ("train_loss", "logit_pos", "logit_neg", "logit_nda") if k in logged
                )
                + f", {time.perf_counter() - start:.0f} s",
                flush=True,
            )

    trainer = pl.Trainer(
        accelerator=job["accelerator"],
        devices=1,
        max_epochs=job["epochs"],
        logger=logger,
        log_every_n_steps=5,
        callbacks=[Progress()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # evaluation on the same images without augmentation (train) and on held-out test images,
    # of the initial weights (before training; no random numbers drawn) and of the trained backbone
    train_images, train_labels, _ = load_image_folder(root / "train", job["train_per_class"], seed=None)
    test_images, test_labels, _ = load_image_folder(root / "test", job["test_per_class"], seed=None)
    jigsaw = nda_core.build({"type": "jigsaw", "k": 2})
    test_jigsaw = jigsaw(test_images, generator=torch.Generator().manual_seed(JIGSAW_SEED))

    def evaluate() -> tuple[dict, torch.Tensor]:
        train_feats = _features(model.backbone, train_images)
        test_feats = _features(model.backbone, test_images)
        distance = cosine_distance(test_feats, _features(model.backbone, test_jigsaw))
        other = cosine_distance(test_feats, test_feats.roll(1, 0))
        return {
            "knn_top1": knn_accuracy(train_feats, train_labels, test_feats, test_labels),
            "cos_dist_x_jigsaw_mean": float(distance.mean()),
            "cos_dist_x_jigsaw_std": float(distance.std()),
            "cos_dist_x_other_mean": float(other.mean()),
            "relative_jigsaw_distance": float(distance.mean() / other.mean()),
        }, distance

    untrained, _ = evaluate()
    if not all(module.training for module in model.modules()):
        raise RuntimeError(
            "lightly_evidence: the untrained evaluation left modules in eval mode; training would use frozen BatchNorm"
        )
    start = time.perf_counter()
    trainer.fit(model, loader)
    train_seconds = time.perf_counter() - start
    trained, distance = evaluate()
    logits = _last_logits(Path(logger.log_dir) / "metrics.csv")
    return {
        "method": job["method"],
        "seed": job["seed"],
        "steps": trainer.global_step,
        **trained,
        "untrained": untrained,
        "final_logits": logits,
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - job_start, 1),
        "loadavg_end": list(os.getloadavg()),
        "log": str(Path(logger.log_dir).relative_to(job["work_dir"])),
        "distances": distance.tolist(),
    }


def _last_logits(path: Path) -> dict[str, float]:
    """Mean of the last 5 logged values of the loss and each logit (the end of training)."""
    curves = _curves(path, ("train_loss", *LOGITS))
    return {key: statistics.mean(value for _, value in values[-5:]) for key, values in curves.items() if values}


def _curves(path: Path, keys: tuple[str, ...] = LOGITS) -> dict[str, list[tuple[int, float]]]:
    """(step, value) pairs of each of ``keys`` in a Lightning ``metrics.csv``."""
    if not path.is_file():  # nothing logged (fewer steps than log_every_n_steps)
        return {}
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {key: [(int(r["step"]), float(r[key])) for r in rows if r.get(key)] for key in keys}


def _plots(results: dict, out: Path, name: str, work_dir: Path) -> list[str]:
    from nda_core.metrics import plot_histograms, pyplot

    runs = results["runs"]
    plot_histograms(
        {f"{r['method']}, seed {r['seed']}": r["distances"] for r in runs},
        out / f"{name}_cos_dist_x_vs_jigsaw.png",
        "cosine distance f(x) vs f(jigsaw(x)), CIFAR-10 test",
        "cosine distance",
    )
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for _index, method in enumerate(METHODS):
        seeds = [r["seed"] for r in runs if r["method"] == method]
        axes[0].plot(seeds, [r["knn_top1"] for r in runs if r["method"] == method], "o-", label=method)
        axes[1].plot(seeds, [r["relative_jigsaw_distance"] for r in runs if r["method"] == method], "o-", label=method)
    axes[0].set(xlabel="seed", ylabel="kNN top-1 (%)", title="kNN top-1 per seed")
    axes[1].set(xlabel="seed", ylabel="d(x, jigsaw x) / d(x, other)", title="relative jigsaw distance per seed")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}_knn_and_distance_per_seed.png", dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(
        1, len(runs) // len(METHODS), figsize=(4 * max(1, len(runs) // len(METHODS)), 3.5), squeeze=False
    )
    for column, seed in enumerate(sorted({r["seed"] for r in runs})):
        ax = axes[0][column]
        for run in (r for r in runs if r["seed"] == seed):
            for key, values in _curves(work_dir / run["log"] / "metrics.csv").items():
                if values:
                    ax.plot(*zip(*values), label=f"{'NDA' if 'NDA' in run['method'] else 'MoCo'} {key}")
        ax.set(title=f"seed {seed}: mean logits", xlabel="step")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / f"{name}_training_logits.png", dpi=120)
    plt.close(fig)
    return [f"{name}_{plot}.png" for plot in ("cos_dist_x_vs_jigsaw", "knn_and_distance_per_seed", "training_logits")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--train-per-class", type=int, default=300)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--backbone", default="resnet-18")
    parser.add_argument(
        "--width", type=float, default=0.25, help="ResNet width (0.25: 16-channel stem, 128-d features)"
    )
    parser.add_argument("--bank", type=int, default=1024, help="memory bank size (keep it below the training set size)")
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=0.06)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument(
        "--accelerator", default="cpu", help="Lightning accelerator (cpu, gpu, auto); use --jobs 1 on one GPU"
    )
    parser.add_argument("--workers", type=int, default=0, help="dataloader workers per run (0 inside --jobs > 1 pools)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="folder of the JSON and plots")
    parser.add_argument("--name", default="lightly", help="file prefix: <name>_results.json, <name>_*.png")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/lightly_nda_evidence"), help="Lightning CSV logs")
    args = parser.parse_args()
    machine_facts = machine(args.threads)
    if args.jobs > 1 and args.workers > 0:
        parser.error("--workers > 0 needs --jobs 1: the pool's worker processes cannot start dataloader workers.")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    from nda_core import metrics
    from nda_core.data import cifar10_root

    cifar10_root()  # prepare the folders once, before the workers start
    jobs = [
        {
            **{
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k not in ("seeds", "jobs", "name")
            },
            "seed": seed,
            "method": method,
            "nda": nda,
            "name": f"{'nda' if nda else 'moco'}_seed{seed}",
        }
        for seed in args.seeds
        for method, nda in METHODS.items()
    ]
    start = time.perf_counter()
    print(
        f"{len(jobs)} runs ({len(args.seeds)} seeds x {len(METHODS)} methods), {args.jobs} at a time, "
        f"{args.threads} thread(s) each",
        flush=True,
    )
    runs = []
    if args.jobs == 1:
        for job in jobs:
            runs.append(run_one(job))
            print(f"done: {runs[-1]['method']}, seed {runs[-1]['seed']}: kNN {runs[-1]['knn_top1']:.2f}%", flush=True)
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for run in pool.imap_unordered(run_one, jobs):
                runs.append(run)
                print(
                    f"done ({time.perf_counter() - start:.0f} s): {run['method']}, seed {run['seed']}: kNN "
                    f"{run['knn_top1']:.2f}%, d(x, jigsaw x) {run['cos_dist_x_jigsaw_mean']:.4f}, "
                    f"{run['train_seconds']} s",
                    flush=True,
                )
    runs.sort(key=lambda r: (r["seed"], r["method"]))
    moco, nda = list(METHODS)

    def values(method: str, key: str, untrained: bool = False) -> list[float]:
        return [
            (r["untrained"] if untrained else r)[key]
            for s in args.seeds
            for r in runs
            if r["method"] == method and r["seed"] == s
        ]

    summary = {method: {key: spread(values(method, key)) for key in METRICS} for method in METHODS}
    # both runs of a seed start from the same weights: their untrained values must agree
    same_start = all(values(moco, key, True) == values(nda, key, True) for key in METRICS)
    summary[UNTRAINED] = {key: spread(values(moco, key, True)) for key in METRICS}
    results = {
        "schema": SCHEMA,
        "script": "benchmarks/lightly_evidence.py",
        "command": command("lightly_evidence.py"),
        "settings": {
            **plain_settings(vars(args)),
            "work_dir": "<temporary, not kept>",
            "train_images": 10 * args.train_per_class,
            "test_images": 10 * args.test_per_class,
            "knn": {
                "function": "nda_core.metrics.knn_accuracy",
                "k": metrics.KNN_K,
                "temperature": metrics.KNN_TEMPERATURE,
                "features": "backbone output (eval mode), cosine similarity",
            },
            "methods": {"plain": moco, "nda": nda},
            "steps": runs[0]["steps"],
        },
        "machine": {**machine_facts, "loadavg_end": list(os.getloadavg())},
        "seeds": args.seeds,
        "runs": runs,
        "summary": summary,
        "untrained_same_for_both_methods": same_start,
        "paired": {key: paired(values(nda, key), values(moco, key), args.seeds) for key in METRICS},
        "paired_moco_minus_untrained": {
            key: paired(values(moco, key), values(moco, key, True), args.seeds) for key in METRICS
        },
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    results["plots"] = _plots(results, args.out, args.name, args.work_dir)
    for run in runs:
        run.pop("distances")
    (args.out / f"{args.name}_results.json").write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\n{10 * args.train_per_class} train / {10 * args.test_per_class} test CIFAR-10 images, {args.epochs} epochs "
        f"({runs[0]['steps']} steps of {args.batch_size}), lightly {args.backbone} width {args.width}, seeds "
        f"{args.seeds}"
    )
    print(
        f"{'seed':>4s}  {'method':20s} {'kNN top-1':>9s}  {'d(x,jig)':>8s}  {'d(x,other)':>10s}  {'relative':>8s}  "
        f"{'logit pos/neg/nda (end)':>24s}"
    )
    for run in runs:
        logits = run["final_logits"]
        print(
            f"{run['seed']:>4d}  {run['method']:20s} {run['knn_top1']:9.2f}  {run['cos_dist_x_jigsaw_mean']:8.4f}  "
            f"{run['cos_dist_x_other_mean']:10.4f}  {run['relative_jigsaw_distance']:8.4f}  "
            f"{logits.get('logit_pos', float('nan')):6.2f} / {logits.get('logit_neg', float('nan')):5.2f} / "
            f"{logits.get('logit_nda', float('nan')):5.2f}"
        )
    for method, stats in summary.items():
        print(
            f"{method:20s} kNN {stats['knn_top1']['mean']:.2f} +- {stats['knn_top1']['std']:.2f}   relative "
            "jigsaw distance "
            f"{stats['relative_jigsaw_distance']['mean']:.4f} +- {stats['relative_jigsaw_distance']['std']:.4f}"
        )
    for key in ("knn_top1", "relative_jigsaw_distance"):
        test = results["paired"][key]
        print(
            f"NDA - MoCo {key} per seed: {', '.join(f'{d:+.3f}' for d in test['differences'])}  (mean "
            f"{test['mean']:+.3f}, "
            f"NDA higher in {test['nda_higher']}/{test['n']} seeds, paired t p {test['t_test_p']}, Wilcoxon p "
            f"{test['wilcoxon_p']})"
        )
    print(f"untrained kNN per seed: {summary[UNTRAINED]['knn_top1']['values']} (same for both methods: {same_start})")
    print(
        f"wall time {results['wall_seconds']} s; results and plots in {args.out} ({args.name}_*), logs in "
        f"{args.work_dir}"
    )


if __name__ == "__main__":
    main()
