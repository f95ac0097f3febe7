"""Evidence that NDA works in mmselfsup: MoCo-v2 vs NDA-MoCo-v2 (jigsaw) at identical budget.

Both are trained with mmengine's real Runner from the plugin's CPU configs
(``plugins/mmselfsup/cpu/``) on the same real CIFAR-10 subset, same seed, same epochs and batch;
then, on held-out CIFAR-10 test images, the script reports

* kNN top-1 (``nda_core.metrics.knn_accuracy``, the kNN every adapter's evidence reports: cosine
  similarity, the k nearest training features vote with weight exp(s / T)), and
* the mean cosine distance between the representations of x and jigsaw(x) (paper Fig. 9:
  NDA pushes them apart; without NDA they sit close),

per seed, as mean +- sample std over seeds and as per-seed NDA - MoCo differences with the paired
t-test and Wilcoxon p (``scipy.stats``). It writes ``docs/results/moco_evidence_e<epochs>.json``
(schema in ``benchmarks/_evidence.py``) and a histogram of the distances beside it; mmengine's work
folders go to ``--work-dir``. The kNN is nda_core's protocol (``KNN_K``, ``KNN_TEMPERATURE``).

    python benchmarks/moco_evidence.py --train-per-class 50 --test-per-class 50 --epochs 6 --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "MoCo-v2": ROOT / "plugins/mmselfsup/cpu/mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py",
    "NDA-MoCo-v2 (jigsaw)": ROOT / "plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py",
}
PLAIN, NDA = CONFIGS
EVAL_BATCH = 200
JIGSAW_SEED = 1234
LOGGED = ("loss", "logit_pos", "logit_queue", "logit_nda")  # training scalars of the (NDA) contrastive head
LOGIT_WINDOW = 5  # last iterations averaged for the end-of-training values
METRICS = (
    "knn_top1",
    "cos_dist_x_jigsaw_mean",
    "cos_dist_x_other_mean",
    "proj_cos_dist_x_jigsaw_mean",
    "proj_cos_dist_x_other_mean",
    "relative_jigsaw_distance",
)


def train(config: Path, work_dir: Path, ann_file: Path, data_root: Path, epochs: int, seed: int):
    """Pre-train with mmengine's Runner; returns the trained model, the data preprocessor settings
    and the mean of the last ``LOGIT_WINDOW`` logged values of the loss and the mean logits."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict(
        {
            "work_dir": str(work_dir),
            "experiment_name": f"evidence_{uuid.uuid4().hex[:8]}",
            "train_dataloader.dataset.data_root": str(data_root),
            "train_dataloader.dataset.ann_file": str(ann_file),
            "train_cfg.max_epochs": epochs,
            "param_scheduler": [dict(type="CosineAnnealingLR", T_max=epochs, by_epoch=True, begin=0, end=epochs)],
            "default_hooks.checkpoint.interval": epochs,
            "randomness.seed": seed,
        }
    )
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    logits = {
        key: float(hub.get_scalar(f"train/{key}").mean(LOGIT_WINDOW))
        for key in LOGGED
        if f"train/{key}" in hub.log_scalars
    }
    return runner.model, cfg.get("data_preprocessor") or cfg.model.data_preprocessor, logits


@torch.no_grad()
def features(model, images: torch.Tensor, preprocessor: dict, projection: bool = False) -> torch.Tensor:
    """L2-normalised features of uint8 RGB images: global-average-pooled backbone output, or
    with ``projection`` the MoCo-v2 neck's output (the space the contrastive loss acts on)."""
    mean = torch.tensor(preprocessor["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(preprocessor["std"]).view(1, 3, 1, 1)
    model.eval()
    out = []
    for chunk in images.split(EVAL_BATCH):
        maps = model.backbone((chunk.float() - mean) / std)
        pooled = model.neck(maps)[0] if projection else maps[-1].mean(dim=(2, 3))
        out.append(F.normalize(pooled, dim=1))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train-per-class", type=int, default=50, help="training images per class (default: %(default)s)"
    )
    parser.add_argument("--test-per-class", type=int, default=50, help="test images per class (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="pre-training epochs (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "results",
        help="folder of the JSON and the plot (default: docs/results)",
    )
    parser.add_argument(
        "--name", default=None, help="file stem of the JSON and plot (default: moco_evidence_e<epochs>)"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/nda_moco_evidence"),
        help="mmengine work folders and the annotation file (default: %(default)s)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name_stem = args.name or f"moco_evidence_e{args.epochs}"

    from _evidence import SCHEMA, command, machine, paired, plain_settings, spread

    import mmselfsup_nda  # noqa: F401
    import nda_core
    from mmselfsup_nda.data import write_ann_file
    from nda_core import metrics
    from nda_core.data import cifar10_root, load_image_folder
    from nda_core.metrics import cosine_distance, knn_accuracy, plot_histograms

    start = time.perf_counter()
    machine_facts = machine(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    root = cifar10_root()
    ann_file = write_ann_file(root / "train", args.train_per_class, args.work_dir / "train_subset.txt")
    train_images, train_labels, classes = load_image_folder(root / "train", args.train_per_class, seed=None)
    test_images, test_labels, _ = load_image_folder(root / "test", args.test_per_class, seed=None)
    jigsaw = nda_core.build({"type": "jigsaw", "k": 2})
    generator = torch.Generator().manual_seed(JIGSAW_SEED)
    test_jigsaw = jigsaw(test_images, generator=generator)

    results: dict = {
        "schema": SCHEMA,
        "script": "benchmarks/moco_evidence.py",
        "command": command("moco_evidence.py"),
        "settings": {
            **plain_settings(vars(args)),
            "work_dir": "<temporary, not kept>",
            "train_images": len(train_images),
            "test_images": len(test_images),
            "knn": {
                "function": "nda_core.metrics.knn_accuracy",
                "k": metrics.KNN_K,
                "temperature": metrics.KNN_TEMPERATURE,
                "features": "global-average-pooled backbone output, L2-normalised",
            },
            "methods": {"plain": PLAIN, "nda": NDA},
            "configs": {name: config.relative_to(ROOT).as_posix() for name, config in CONFIGS.items()},
        },
        "machine": machine_facts,
        "seeds": args.seeds,
        "runs": [],
    }
    distances: dict[str, torch.Tensor] = {}
    for seed in args.seeds:
        for name, config in CONFIGS.items():
            print(f"== {name}, seed {seed}: {args.epochs} epochs on {len(train_images)} CIFAR-10 images", flush=True)
            work_dir = args.work_dir / f"{'nda' if 'NDA' in name else 'moco'}_seed{seed}"
            run_start = time.perf_counter()
            model, preprocessor, final_logits = train(config, work_dir, ann_file, root, args.epochs, seed)
            train_seconds = time.perf_counter() - run_start
            train_feats = features(model, train_images, preprocessor)
            test_feats = features(model, test_images, preprocessor)
            jigsaw_feats = features(model, test_jigsaw, preprocessor)
            distance = cosine_distance(test_feats, jigsaw_feats)
            run = {
                "method": name,
                "seed": seed,
                "knn_top1": knn_accuracy(train_feats, train_labels, test_feats, test_labels, num_classes=len(classes)),
                "cos_dist_x_jigsaw_mean": float(distance.mean()),
                "cos_dist_x_jigsaw_std": float(distance.std()),
                "cos_dist_x_other_mean": float(cosine_distance(test_feats, test_feats.roll(1, 0)).mean()),
            }
            projected = features(model, test_images, preprocessor, projection=True)
            projected_jigsaw = features(model, test_jigsaw, preprocessor, projection=True)
            projected_distance = cosine_distance(projected, projected_jigsaw)
            run["proj_cos_dist_x_jigsaw_mean"] = float(projected_distance.mean())
            run["proj_cos_dist_x_other_mean"] = float(cosine_distance(projected, projected.roll(1, 0)).mean())
            # jigsaw distance in units of the typical distance between two different images
            run["relative_jigsaw_distance"] = run["cos_dist_x_jigsaw_mean"] / run["cos_dist_x_other_mean"]
            run["final_logits"] = final_logits
            run["train_seconds"] = round(train_seconds, 1)
            run["wall_seconds"] = round(time.perf_counter() - run_start, 1)
            run["loadavg_end"] = list(os.getloadavg())
            print(json.dumps(run), flush=True)
            results["runs"].append(run)
            distances[f"{name}, seed {seed}"] = distance

    def values(method: str, key: str) -> list[float]:
        return [
            run[key]
            for seed in args.seeds
            for run in results["runs"]
            if run["method"] == method and run["seed"] == seed
        ]

    summary = {name: {key: spread(values(name, key)) for key in METRICS} for name in CONFIGS}
    results["summary"] = summary
    results["paired"] = {key: paired(values(NDA, key), values(PLAIN, key), args.seeds) for key in METRICS}
    plot = args.out / f"{name_stem}_cos_dist.png"
    plot_histograms(
        {k: v.numpy() for k, v in distances.items()},
        plot,
        "cosine distance between f(x) and f(jigsaw(x)), CIFAR-10 test",
        "cosine distance",
    )
    results["plots"] = [plot.name]
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    (args.out / f"{name_stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\nmethod                  kNN top-1 (%)      cos dist x vs jigsaw(x)   cos dist x vs other image")
    for name, stats in summary.items():
        print(
            f"{name:22s}  {stats['knn_top1']['mean']:6.2f} +- {stats['knn_top1']['std']:.2f}"
            f"      {stats['cos_dist_x_jigsaw_mean']['mean']:.4f} +- {stats['cos_dist_x_jigsaw_mean']['std']:.4f}"
            f"          {stats['cos_dist_x_other_mean']['mean']:.4f} +- {stats['cos_dist_x_other_mean']['std']:.4f}"
        )
    print("relative jigsaw distance (x vs jigsaw(x)) / (x vs other image):")
    for name, stats in summary.items():
        print(
            f"{name:22s}  {stats['relative_jigsaw_distance']['mean']:.4f} +- "
            f"{stats['relative_jigsaw_distance']['std']:.4f}"
        )
    print("projection-head (neck) space:  cos dist x vs jigsaw(x)   cos dist x vs other image")
    for name, stats in summary.items():
        print(
            f"{name:22s}  {stats['proj_cos_dist_x_jigsaw_mean']['mean']:.4f} +- "
            f"{stats['proj_cos_dist_x_jigsaw_mean']['std']:.4f}"
            f"          {stats['proj_cos_dist_x_other_mean']['mean']:.4f} +- "
            f"{stats['proj_cos_dist_x_other_mean']['std']:.4f}"
        )
    for key in ("knn_top1", "relative_jigsaw_distance"):
        test = results["paired"][key]
        print(
            f"NDA - MoCo {key} per seed: {', '.join(f'{d:+.4f}' for d in test['differences'])} (mean "
            f"{test['mean']:+.4f}, "
            f"paired t p {test['t_test_p']}, Wilcoxon p {test['wilcoxon_p']})"
        )
    print(
        f"seeds {args.seeds}, {args.epochs} epochs, {len(train_images)} train / {len(test_images)} test images; "
        f"{results['wall_seconds']} s; results in {args.out / (name_stem + '.json')}"
    )


if __name__ == "__main__":
    main()
