"""Clips per second of video_dpc's UCF-101 training DataLoader on real videos, per ``num_workers``.

The loader is the UCF-101 pre-training pipeline (plugins/video_dpc/_base_/datasets/ucf101.yaml):
``data.source: video`` read by PyAV with seeking, DPC's sampling (8 blocks of 5 frames, every 3rd
frame), a short side of 137 px, a random 128 px crop, a clip-wide flip, and colour jitter and
random grey drawn per frame. It is built here from video_dpc's public classes only
(``VideoEntry``, ``FileVideos``, ``ClipDataset``, ``BlockLayout``, ``ClipTransform``,
``reader_for``), not from a config, so that it keeps working while the command line changes.
The videos are the real clips in ``../shared/data/videos`` long enough for a DPC clip (more than
120 frames), listed over and over as one long training split.

For each ``--workers`` count it times ``--batches`` batches after every worker has delivered
its first one (wall clock, the rate a training loop sees) and records the load average, which
on a shared machine lowers the rate. It then sets the rate beside what one GPU step consumes:

* DPC's README: "more than 1 week to train the 3D-ResNet18 DPC model on Kinetics-400 with
  128x128 resolution" (300 epochs of 246,535 videos, batch 128): about 122 clips/s at most, on
  the GPUs of 2019;
* an estimate for one H100: the model's forward FLOPs per clip, counted here with
  ``torch.utils.flop_counter`` on ``video_dpc.model.DPC`` (R18, 128 px, 8 x 5 frames), times 3
  for forward and backward, against ``--gpu-tflops`` of sustained throughput (default 300: about
  30% of the H100's 989 dense BF16 TFLOP/s). No GPU is measured.

    OMP_NUM_THREADS=1 python benchmarks/video_loader.py            # about 2-4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nda_core.data import shared_data_dir  # noqa: E402
from video_dpc.datasets import ClipDataset, FileVideos, VideoEntry  # noqa: E402
from video_dpc.sampling import BlockLayout  # noqa: E402
from video_dpc.transforms import ClipTransform  # noqa: E402
from video_dpc.video_io import reader_for  # noqa: E402

#: DPC's training clip on UCF-101 and its augmentation (plugins/video_dpc/_base_/datasets/ucf101.yaml).
LAYOUT = BlockLayout(num_seq=8, seq_len=5, ds=3)
AUGMENT = {
    "size": 128,
    "resize": 137,
    "crop": "random",
    "flip": True,
    "gray": {"p": 0.5, "consistent": False},
    "color_jitter": {"brightness": 0.5, "contrast": 0.5, "saturation": 0.5, "hue": 0.25, "p": 1.0, "consistent": False},
}
#: The DPC model of the UCF-101 config (plugins/video_dpc/_base_/models/dpc_r18_128.yaml).
MODEL = {"depth": 18, "width": 64, "in_channels": 3, "input_size": 128, "num_seq": 8, "seq_len": 5, "pred_step": 3}
#: A training step costs about three forward passes (forward, and backward through activations and weights).
STEP_OVER_FORWARD = 3
GPU_BATCH = 128
#: DPC's README (github.com/TengdaHan/DPC): more than a week for 300 epochs of Kinetics-400 (246,535 videos).
DPC_README_DAYS, DPC_README_EPOCHS, KINETICS400_TRAIN = 7, 300, 246_535
SECONDS_PER_DAY = 86_400


def real_videos() -> list[Path]:
    """The clips of ``../shared/data/videos`` with more frames than a DPC clip spans."""
    folder = shared_data_dir() / "videos"
    reader = reader_for("video")
    videos = [p for p in sorted(folder.iterdir()) if p.suffix in (".mp4", ".avi") and LAYOUT.fits(reader.num_frames(p))]
    if not videos:
        raise SystemExit(f"video_loader benchmark: no video in {folder} has more than {LAYOUT.span} frames")
    return videos


def clip_dataset(videos: list[Path], count: int) -> ClipDataset:
    """A UCF-101-style training split of ``count`` entries cycling through ``videos`` (two classes)."""
    entries = [VideoEntry(videos[i % len(videos)], i % 2, f"v_{i:05d}") for i in range(count)]
    source = FileVideos(entries, ["ClassA", "ClassB"], reader_for("video"))
    return ClipDataset(source, LAYOUT, "train", ClipTransform(train=True, **AUGMENT), name="real clips")


def loader_rate(dataset: ClipDataset, workers: int, batch: int, batches: int, seed: int) -> dict:
    """Clips/s of a shuffled DataLoader with ``workers`` workers, timed after each worker's first batch."""
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=generator,
    )
    load = os.getloadavg()
    iterator = iter(loader)
    begin = time.perf_counter()
    first = next(iterator)
    for _ in range(max(1, workers) - 1):
        next(iterator)
    start, cpu = time.perf_counter(), time.process_time()
    clips = sum(next(iterator).shape[0] for _ in range(batches))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    del iterator, loader
    return {
        "num_workers": workers,
        "batch_size": batch,
        "clip_shape": list(first.shape[1:]),
        "warmup_s": round(start - begin, 2),
        "clips_timed": clips,
        "seconds": round(elapsed, 3),
        "clips_per_s": round(clips / elapsed, 2),
        "main_process_cpu_ms_per_clip": round(1e3 * cpu / clips, 1),
        "loadavg_at_start": [round(v, 2) for v in load],
    }


def forward_gflops_per_clip() -> float:
    """Forward FLOPs (GFLOP, multiply and add counted apart) of DPC on one clip, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from video_dpc.model import DPC

    model = DPC(**MODEL)
    blocks = torch.zeros(
        1, MODEL["num_seq"], MODEL["in_channels"], MODEL["seq_len"], MODEL["input_size"], MODEL["input_size"]
    )
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(blocks)
    return counter.get_total_flops() / 1e9


def gpu_need(gpu_tflops: float) -> dict:
    """Clips/s a GPU step consumes: from DPC's README, and estimated for one H100 from the model's FLOPs."""
    readme = KINETICS400_TRAIN * DPC_README_EPOCHS / (DPC_README_DAYS * SECONDS_PER_DAY)
    forward = forward_gflops_per_clip()
    estimate = gpu_tflops * 1e3 / (STEP_OVER_FORWARD * forward)
    return {
        "dpc_readme_clips_per_s": round(readme, 1),
        "dpc_readme_source": "DPC README (github.com/TengdaHan/DPC): 'more than 1 week to train the 3D-ResNet18 DPC "
        "model on Kinetics-400 with 128x128 resolution'; 300 epochs (its example command) of 246,535 videos: "
        "the rate was at most this, on 2019 GPUs.",
        "forward_gflops_per_clip": round(forward, 2),
        "step_over_forward": STEP_OVER_FORWARD,
        "gpu_sustained_tflops": gpu_tflops,
        "h100_estimate_clips_per_s": round(estimate, 1),
        "h100_estimate_steps_per_s": round(estimate / GPU_BATCH, 2),
        "h100_estimate_source": "estimate, not a measurement: forward FLOPs counted by torch.utils.flop_counter on "
        "video_dpc.model.DPC (R18, 128 px, 8 x 5 frames), x3 for a training step, at the "
        "sustained TFLOP/s given (default 300, about 30% of an H100's dense BF16 peak).",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 1, 2], help="num_workers to time (default: %(default)s)"
    )
    parser.add_argument("--batch", type=int, default=8, help="clips per batch (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=6, help="batches timed after the warm-up (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the main process, as in a worker (default: %(default)s)",
    )
    parser.add_argument(
        "--gpu-tflops", type=float, default=300.0, help="sustained GPU TFLOP/s of the estimate (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "docs/results/video_loader.json",
        help="(default: docs/results/video_loader.json)",
    )
    args = parser.parse_args()
    if min(args.workers) < 0 or args.batch < 1 or args.batches < 1 or args.threads < 1:
        parser.error("--workers must be >= 0, --batch, --batches and --threads >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    load_before, began = os.getloadavg(), time.perf_counter()
    videos = real_videos()
    dataset = clip_dataset(videos, args.batch * (max(1, max(args.workers)) + args.batches))
    rates = []
    for workers in args.workers:
        print(f"timing num_workers={workers} ...", flush=True)
        rates.append(loader_rate(dataset, workers, args.batch, args.batches, args.seed))
    need = gpu_need(args.gpu_tflops)
    result = {
        "benchmark": "video_loader",
        "command": "OMP_NUM_THREADS=1 python benchmarks/video_loader.py " + " ".join(sys.argv[1:]),
        "settings": {
            "layout": {"num_seq": LAYOUT.num_seq, "seq_len": LAYOUT.seq_len, "ds": LAYOUT.ds, "span": LAYOUT.span},
            "augment": AUGMENT,
            "source": "video (PyAV, seeking)",
            "videos": [p.name for p in videos],
            "entries": len(dataset),
            "batch_size": args.batch,
            "batches_timed": args.batches,
            "seed": args.seed,
            "torch_threads": args.threads,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "clock": "wall (time.perf_counter)",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "av": __import__("av").__version__,
            "platform": platform.platform(),
        },
        "loader": rates,
        "gpu_need": need,
        "runtime_s": round(time.perf_counter() - began, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for row in rates:
        print(
            f"num_workers={row['num_workers']}: {row['clips_per_s']} clips/s "
            f"({row['clips_timed']} clips in {row['seconds']} s; "
            f"load {row['loadavg_at_start'][0]})"
        )
    print(
        f"GPU need: DPC README about {need['dpc_readme_clips_per_s']} clips/s; one H100 (estimate, "
        f"{need['forward_gflops_per_clip']} GFLOP forward per clip, {args.gpu_tflops:g} TFLOP/s) about "
        f"{need['h100_estimate_clips_per_s']} clips/s = {need['h100_estimate_steps_per_s']} steps/s "
        f"at batch {GPU_BATCH}"
    )
    print(f"wrote {args.json} in {result['runtime_s']} s")


if __name__ == "__main__":
    main()
