"""Evidence that NDA works in mmselfsup: MoCo-v2 vs NDA-MoCo-v2 (jigsaw) at identical budget.

Both are trained with mmengine's real Runner from the plugin's CPU configs
(``plugins/mmselfsup/cpu/``) on the same real CIFAR-10 subset, same seed, same epochs and batch;
then, on held-out CIFAR-10 test images, the script reports

* kNN top-1 (``nda_core.metrics.knn_accuracy``, the kNN every adapter's evidence reports: cosine
  similarity, the k nearest training features vote with weight exp(s / T)), and
* the mean cosine distance between the representations of x and jigsaw(x) (paper Fig. 9:
  NDA pushes them apart; without NDA they sit close),

per seed and as mean +- std over seeds, saves ``results.json`` and histograms of the distances.

    python benchmarks/moco_evidence.py --epochs 8 --seeds 0 1 --out /tmp/nda_moco_evidence
"""

from __future__ import annotations

import argparse
import json
import statistics
import uuid
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "MoCo-v2": ROOT / "plugins/mmselfsup/cpu/mocov2_resnet18-w16_cifar10-500_cpu.py",
    "NDA-MoCo-v2 (jigsaw)": ROOT / "plugins/mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_cifar10-500_cpu.py",
}
# kNN settings of the recorded runs (docs/mmselfsup.md). nda_core.metrics' defaults (k=200, T=0.1) are
# made for a 50,000-image memory; with 500 training images k=200 would let 40% of them vote.
KNN_K = 20
KNN_TEMPERATURE = 0.07
EVAL_BATCH = 200
JIGSAW_SEED = 1234
THREADS = 2


def train(config: Path, work_dir: Path, ann_file: Path, data_root: Path, epochs: int, seed: int):
    """Pre-train with mmengine's Runner; returns the trained model."""
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
    return runner.model, cfg.get("data_preprocessor") or cfg.model.data_preprocessor


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
    parser.add_argument("--train-per-class", type=int, default=50, help="training images per class (default: %(default)s)")
    parser.add_argument("--test-per-class", type=int, default=50, help="test images per class (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="pre-training epochs (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default: %(default)s)")
    parser.add_argument("--knn-k", type=int, default=KNN_K, help="kNN neighbours (default: %(default)s)")
    parser.add_argument("--knn-temperature", type=float, default=KNN_TEMPERATURE, help="kNN vote temperature (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nda_moco_evidence"), help="output folder (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)

    import mmselfsup_nda  # noqa: F401
    import nda_core
    from nda_core.data import cifar10_root, load_image_folder
    from mmselfsup_nda.data import write_ann_file
    from nda_core.metrics import cosine_distance, knn_accuracy, plot_histograms

    args.out.mkdir(parents=True, exist_ok=True)
    root = cifar10_root()
    ann_file = write_ann_file(root / "train", args.train_per_class, args.out / "train_subset.txt")
    train_images, train_labels, classes = load_image_folder(root / "train", args.train_per_class, seed=None)
    test_images, test_labels, _ = load_image_folder(root / "test", args.test_per_class, seed=None)
    jigsaw = nda_core.build({"type": "jigsaw", "k": 2})
    generator = torch.Generator().manual_seed(JIGSAW_SEED)
    test_jigsaw = jigsaw(test_images, generator=generator)

    results: dict = {"settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                  "train_images": len(train_images), "test_images": len(test_images)},
                     "runs": []}
    distances: dict[str, torch.Tensor] = {}
    for seed in args.seeds:
        for name, config in CONFIGS.items():
            print(f"== {name}, seed {seed}: {args.epochs} epochs on {len(train_images)} CIFAR-10 images", flush=True)
            work_dir = args.out / f"{'nda' if 'NDA' in name else 'moco'}_seed{seed}"
            model, preprocessor = train(config, work_dir, ann_file, root, args.epochs, seed)
            train_feats = features(model, train_images, preprocessor)
            test_feats = features(model, test_images, preprocessor)
            jigsaw_feats = features(model, test_jigsaw, preprocessor)
            distance = cosine_distance(test_feats, jigsaw_feats)
            run = {
                "method": name,
                "seed": seed,
                "knn_top1": knn_accuracy(train_feats, train_labels, test_feats, test_labels, k=args.knn_k,
                                         temperature=args.knn_temperature, num_classes=len(classes)),
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
            print(json.dumps(run), flush=True)
            results["runs"].append(run)
            distances[f"{name}, seed {seed}"] = distance
    summary = {}
    for name in CONFIGS:
        runs = [run for run in results["runs"] if run["method"] == name]
        summary[name] = {
            key: {"mean": statistics.mean(r[key] for r in runs),
                  "std": statistics.stdev(r[key] for r in runs) if len(runs) > 1 else 0.0}
            for key in ("knn_top1", "cos_dist_x_jigsaw_mean", "cos_dist_x_other_mean",
                        "proj_cos_dist_x_jigsaw_mean", "proj_cos_dist_x_other_mean", "relative_jigsaw_distance")
        }
    results["summary"] = summary
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    plot_histograms({k: v.numpy() for k, v in distances.items()}, args.out / "cos_dist_x_vs_jigsaw.png",
                    "cosine distance between f(x) and f(jigsaw(x)), CIFAR-10 test", "cosine distance")
    print("\nmethod                  kNN top-1 (%)      cos dist x vs jigsaw(x)   cos dist x vs other image")
    for name, stats in summary.items():
        print(f"{name:22s}  {stats['knn_top1']['mean']:6.2f} +- {stats['knn_top1']['std']:.2f}"
              f"      {stats['cos_dist_x_jigsaw_mean']['mean']:.4f} +- {stats['cos_dist_x_jigsaw_mean']['std']:.4f}"
              f"          {stats['cos_dist_x_other_mean']['mean']:.4f} +- {stats['cos_dist_x_other_mean']['std']:.4f}")
    print("relative jigsaw distance (x vs jigsaw(x)) / (x vs other image):")
    for name, stats in summary.items():
        print(f"{name:22s}  {stats['relative_jigsaw_distance']['mean']:.4f} +- {stats['relative_jigsaw_distance']['std']:.4f}")
    print("projection-head (neck) space:  cos dist x vs jigsaw(x)   cos dist x vs other image")
    for name, stats in summary.items():
        print(f"{name:22s}  {stats['proj_cos_dist_x_jigsaw_mean']['mean']:.4f} +- {stats['proj_cos_dist_x_jigsaw_mean']['std']:.4f}"
              f"          {stats['proj_cos_dist_x_other_mean']['mean']:.4f} +- {stats['proj_cos_dist_x_other_mean']['std']:.4f}")
    print(f"seeds {args.seeds}, {args.epochs} epochs, {len(train_images)} train / {len(test_images)} test images; "
          f"results in {args.out}")


if __name__ == "__main__":
    main()
