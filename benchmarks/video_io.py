"""Clip reading speed for DPC's sampling: seeking decode, decode-from-the-start, frame folders.

On a long video generated here (``--seconds`` at ``--fps``, 320x240, H.264 by PyAV's libx264
with the encoder's default GOP and B-frames; its pictures are the real clip
``../shared/data/videos/demo.mp4`` scaled and played forwards and backwards), for DPC's
training clip (8 blocks of 5 frames, every 3rd frame: 120 frames spanned) at starts spread
over ten tenths (deciles) of the possible start positions, it times per clip and interleaved:

* ``old``: decoding from the first frame up to the last one needed (the reader before seeking,
  kept here only as the baseline);
* ``new``: ``video_dpc.video_io.VideoFileReader`` (seek to the key frame before the clip, decode
  forward from there); every clip it returns is checked equal to ``old``'s;
* ``frames``: ``FrameFolderReader`` over the same video extracted as DPC extracts it
  (``image_%05d.jpg``, JPEG quality 80, DPC's ``process_data/src/extract_frame.py``).

Targets: ``new``'s cost of a clip does not grow with the clip's position (median of the last
tenth within 1.5x of the first tenth) and ``new`` reads at least 3x as many clips per second
as ``old`` averaged over positions (the mean of the decile medians). Then it measures the clips
per second of the documented UCF-101 pre-training config's DataLoader (its ``num_workers`` and
augmentation; a smaller batch, ``--loader-batch``) on a UCF-101-shaped tree of links to the long
video, for ``data.source: video`` and ``frames``, the CPU time of one clip read and augmented,
and the cores that would feed the clip rate DPC's own GPU training ran at (from the time DPC's
README reports; no GPU was measured here). Targets are judged on CPU time (``cpu``); wall times
are recorded beside them, with the load average.

    OMP_NUM_THREADS=1 python benchmarks/video_io.py            # about 3-5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nda_core.data import shared_data_dir  # noqa: E402
from video_dpc.sampling import BlockLayout  # noqa: E402
from video_dpc.video_io import FrameFolderReader, VideoFileReader  # noqa: E402

#: DPC's training clip on UCF-101: 8 blocks of 5 frames, every 3rd frame.
DPC_LAYOUT = BlockLayout(num_seq=8, seq_len=5, ds=3)
DECILES = 10
#: ``cpu``: this process's CPU time (all its threads), which other processes on a shared machine
#: disturb less than the wall clock; the targets are judged on it. ``wall``: elapsed time.
CLOCKS = ("cpu", "wall")
VERDICT_CLOCK = "cpu"
TARGET_POSITION_RATIO = 1.5
TARGET_SPEEDUP = 3.0
#: DPC's frame extraction writes JPEG quality 80 (process_data/src/extract_frame.py).
DPC_JPEG_QUALITY = 80
UCF_CONFIG = "plugins/video_dpc/ucf101/dpc_r18_ucf101-128.yaml"
LOADER_CLASSES = 2
#: DPC's README: "more than 1 week to train the 3D-ResNet18 DPC model on Kinetics-400 with 128x128
#: resolution"; its example command trains that model for 300 epochs at batch 128. Kinetics-400's
#: training split holds 246,535 videos (Kay et al. 2017).
DPC_README_DAYS, DPC_README_EPOCHS, DPC_README_BATCH, KINETICS400_TRAIN = 7, 300, 128, 246_535
SECONDS_PER_DAY = 86_400
#: Clips read and augmented in the main process to measure the CPU time of one clip.
CPU_PROBE_CLIPS = 8


def read_from_start(path: str | Path, indices: Sequence[int]) -> torch.Tensor:
    """The reader before seeking: decode from frame 0 up to the last frame needed (baseline only)."""
    import av

    wanted = sorted(set(int(i) for i in indices))
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for position, frame in enumerate(container.decode(stream)):
            if position in wanted:
                frames[position] = frame.to_ndarray(format="rgb24")
            if position >= wanted[-1]:
                break
    return torch.from_numpy(np.stack([frames[int(i)] for i in indices])).permute(0, 3, 1, 2).contiguous()


def source_frames(size: tuple[int, int]) -> list[np.ndarray]:
    """The frames of the real clip demo.mp4, scaled to ``size`` (width, height), RGB."""
    import av

    with av.open(str(shared_data_dir() / "videos" / "demo.mp4")) as container:
        return [
            f.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray() for f in container.decode(video=0)
        ]


def make_long_video(path: Path, seconds: float, fps: int, size: tuple[int, int]) -> dict:
    """Encode ``seconds`` of the real clip played back and forth as H.264 (libx264 defaults) into ``path``."""
    import av

    pictures = source_frames(size)
    cycle = pictures + pictures[-2:0:-1]  # forwards then backwards: no cut where it repeats
    count = int(round(seconds * fps))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(cycle[index % len(cycle)], format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        packets = [(p.pts, p.dts, p.is_keyframe) for p in container.demux(video=0) if p.size > 0]
    keys = [i for i, p in enumerate(packets) if p[2]]
    return {
        "frames": len(packets),
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "codec": "h264 (libx264, PyAV defaults)",
        "container": "mp4",
        "key_frames": len(keys),
        "longest_gop": int(max(np.diff(keys + [len(packets)]))),
        "b_frames": any(p[0] != p[1] for p in packets),
        "bytes": path.stat().st_size,
    }


def extract_frames(video: Path, folder: Path) -> None:
    """Write every frame of ``video`` as ``image_%05d.jpg`` (DPC's layout and JPEG quality)."""
    import av
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0), 1):
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(
                folder / f"image_{index:05d}.jpg", quality=DPC_JPEG_QUALITY
            )


def decile_starts(num_frames: int, per_decile: int, generator: np.random.Generator) -> list[tuple[int, int]]:
    """``per_decile`` random clip starts in each tenth of DPC's start range ``[0, n - span)``."""
    last = num_frames - DPC_LAYOUT.span
    edges = np.linspace(0, last, DECILES + 1)
    starts = []
    for decile in range(DECILES):
        low, high = int(np.ceil(edges[decile])), max(int(np.ceil(edges[decile + 1])), int(np.ceil(edges[decile])) + 1)
        starts += [(decile, int(s)) for s in generator.integers(low, high, per_decile)]
    return starts


def time_clips(
    readers: dict[str, Callable[[list[int]], torch.Tensor]], starts: list[tuple[int, int]]
) -> dict[str, dict[str, list[list[float]]]]:
    """Seconds per clip (wall and this process's CPU time, FFmpeg's threads included) for each clock,
    reader and decile; readers interleaved, their order rotated from clip to clip."""
    costs = {clock: {name: [[] for _ in range(DECILES)] for name in readers} for clock in CLOCKS}
    names = list(readers)
    for number, (decile, start) in enumerate(starts):
        indices = DPC_LAYOUT.indices(start).ravel().tolist()
        results = {}
        for name in names[number % len(names) :] + names[: number % len(names)]:
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = readers[name](indices)
            costs["cpu"][name][decile].append(time.process_time() - cpu)
            costs["wall"][name][decile].append(time.perf_counter() - wall)
        if not torch.equal(results["new"], results["old"]):
            raise SystemExit(
                f"video_io benchmark: the seeking reader returned other frames than a full decode at start {start}"
            )
    return costs


def summarise(costs: dict[str, list[list[float]]]) -> dict:
    """Per-decile medians (ms), clips/s at uniform positions, last/first tenth and the speed-ups."""
    out: dict = {}
    for name, per_decile in costs.items():
        medians = [statistics.median(c) for c in per_decile]
        out[name] = {
            "decile_median_ms": [round(m * 1e3, 2) for m in medians],
            "mean_of_decile_medians_ms": round(statistics.fmean(medians) * 1e3, 2),
            "clips_per_s": round(1.0 / statistics.fmean(medians), 2),
            "last_over_first_tenth": round(medians[-1] / medians[0], 3),
            "clips_timed": sum(len(c) for c in per_decile),
        }
    out["speedup_new_over_old"] = round(
        out["old"]["mean_of_decile_medians_ms"] / out["new"]["mean_of_decile_medians_ms"], 2
    )
    out["speedup_new_over_old_per_decile"] = [
        round(o / n, 2) for o, n in zip(out["old"]["decile_median_ms"], out["new"]["decile_median_ms"])
    ]
    out["frames_over_new"] = round(
        out["new"]["mean_of_decile_medians_ms"] / out["frames"]["mean_of_decile_medians_ms"], 2
    )
    return out


def ucf_tree(base: Path, target: Path, videos: int, source: str) -> tuple[Path, Path]:
    """A UCF-101-shaped tree (``<Class>/v_<Class>_gXX_c01``, ucfTrainTestlist) of links to ``target``."""
    root, splits = base / f"ucf-{source}", base / f"ucf-{source}-lists"
    splits.mkdir(parents=True)
    classes = [f"Class{c}" for c in range(LOADER_CLASSES)]
    (splits / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    lines = []
    for number in range(videos):
        label = number % LOADER_CLASSES
        name = f"{classes[label]}/v_{classes[label]}_g{number:02d}_c01"
        (root / classes[label]).mkdir(parents=True, exist_ok=True)
        (root / name if source == "frames" else root / f"{name}{target.suffix}").symlink_to(target)
        lines.append(f"{name}{target.suffix} {label + 1}")
    (splits / "trainlist01.txt").write_text("\n".join(lines) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(line.split()[0] for line in lines[:LOADER_CLASSES]) + "\n")
    return root, splits


def loader_rate(work: Path, target: Path, source: str, batch: int, batches: int) -> dict:
    """Clips/s of the UCF-101 config's training DataLoader (its workers and augmentation) after warm-up.

    The tree holds enough links to ``target`` for one epoch of every worker's first batch and
    ``batches`` more.
    """
    from video_dpc.cli import build, load_config

    workers = load_config("pretrain", ["--config", str(ROOT / UCF_CONFIG)])["data"]["init_args"]["num_workers"]
    root, splits = ucf_tree(work, target, batch * (max(1, workers) + batches), source)
    cli = build(
        "pretrain",
        [
            "--config",
            str(ROOT / UCF_CONFIG),
            f"--data.root={root}",
            f"--data.splits={splits}",
            f"--data.source={source}",
            f"--data.batch_size={batch}",
        ],
        instantiate=False,
    )
    data = cli.parser.instantiate_classes(cli.config).data  # the config's data module
    dataset = data.build("train", "train")
    cpu = time.process_time()
    for item in range(CPU_PROBE_CLIPS):  # one clip read and augmented in this process: CPU cost per clip
        dataset[item]
    cpu_per_clip = (time.process_time() - cpu) / CPU_PROBE_CLIPS
    loader = data.train_dataloader()
    workers = loader.num_workers
    iterator = iter(loader)
    begin = time.perf_counter()
    warm = [next(iterator) for _ in range(max(1, workers))]  # every worker has delivered one batch
    first = time.perf_counter()
    clips = 0
    for _ in range(batches):
        clips += next(iterator).shape[0]
    elapsed = time.perf_counter() - first
    del iterator, loader
    return {
        "source": source,
        "num_workers": workers,
        "batch_size": batch,
        "clip_shape": list(warm[0].shape[1:]),
        "warmup_s": round(first - begin, 2),
        "clips_timed": clips,
        "clips_per_s": round(clips / elapsed, 2),
        "videos": len(dataset),
        "cpu_ms_per_clip": round(cpu_per_clip * 1e3, 1),
        "cores_for_gpu_rate": round(cpu_per_clip * needed_rate()["clips_per_s"], 1),
        "clips_per_s_if_each_worker_had_a_core": round(workers / cpu_per_clip, 1),
    }


def needed_rate() -> dict:
    """Clips/s and steps/s DPC's own GPU training ran at, from the time its README reports."""
    clips_per_s = KINETICS400_TRAIN * DPC_README_EPOCHS / (DPC_README_DAYS * SECONDS_PER_DAY)
    return {
        "source": "DPC README (github.com/TengdaHan/DPC, commit 1592e5f): 'more than 1 week to train the 3D-ResNet18 "
        "DPC "
        "model on Kinetics-400 with 128x128 resolution'; its example command: 300 epochs, batch 128; "
        "Kinetics-400 train split 246,535 videos. An upper bound (more than a week); the epochs are the "
        "README's example.",
        "clips_per_s": round(clips_per_s, 1),
        "steps_per_s_batch_128": round(clips_per_s / DPC_README_BATCH, 3),
    }


def plot(clips: dict, path: Path) -> None:
    """Median cost of a clip per tenth of the video, each reader, both clocks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(CLOCKS), figsize=(10, 3.8), sharey=True)
    tenths = np.arange(1, DECILES + 1)
    labels = {
        "old": "decode from frame 0 (old)",
        "new": "seek + decode (VideoFileReader)",
        "frames": "frame folder (JPEG, DPC)",
    }
    for axis, clock in zip(axes, CLOCKS):
        for name, label in labels.items():
            axis.plot(tenths, clips[clock][name]["decile_median_ms"], marker="o", label=label)
        axis.set_xlabel("tenth of the video the clip starts in")
        axis.set_yscale("log")
        axis.set_xticks(tenths)
        axis.grid(alpha=0.3)
        axis.set_title(f"{clock} time", fontsize=9)
    axes[0].set_ylabel("ms per DPC clip (8 x 5 frames, median)")
    axes[0].legend(fontsize=8)
    figure.suptitle("Cost of a DPC clip by its position in a 60 s, 320x240 H.264 video", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the long video (default: %(default)s)")
    parser.add_argument("--fps", type=int, default=25, help="(default: %(default)s)")
    parser.add_argument("--per-decile", type=int, default=5, help="clip starts timed per tenth (default: %(default)s)")
    parser.add_argument(
        "--loader-batch",
        type=int,
        default=8,
        help="DataLoader batch (the config's 128 would take minutes per batch here; default: %(default)s)",
    )
    parser.add_argument(
        "--loader-batches", type=int, default=8, help="batches timed after every worker's first (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "docs/results/video_io.json", help="(default: docs/results/video_io.json)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=ROOT / "docs/results/video_io_position.png",
        help="(default: docs/results/video_io_position.png)",
    )
    args = parser.parse_args()

    load_before = os.getloadavg()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="video_io_bench_") as work:
        work = Path(work)
        video = work / "long.mp4"
        print("encoding the long video ...", flush=True)
        info = make_long_video(video, args.seconds, args.fps, (320, 240))
        extract_frames(video, work / "long_frames")
        reader, folder_reader = VideoFileReader(), FrameFolderReader()
        begin = time.perf_counter()
        index = reader.frame_index(video)
        info["index_build_ms"] = round((time.perf_counter() - begin) * 1e3, 2)  # once per file and process
        info["index_mode"] = index.mode
        folder_reader.num_frames(work / "long_frames")
        readers = {
            "old": lambda indices: read_from_start(video, indices),
            "new": lambda indices: reader.read(video, indices),
            "frames": lambda indices: folder_reader.read(work / "long_frames", indices),
        }
        starts = decile_starts(info["frames"], args.per_decile, np.random.default_rng(args.seed))
        print(f"timing {len(starts)} clips x {len(readers)} readers ...", flush=True)
        timings = time_clips(readers, starts)
        clips = {clock: summarise(timings[clock]) for clock in CLOCKS}
        summary = clips[VERDICT_CLOCK]
        print("DataLoader of the UCF-101 config ...", flush=True)
        loaders = []
        for source, target in (("video", video), ("frames", work / "long_frames")):
            loaders.append(loader_rate(work, target, source, args.loader_batch, args.loader_batches))
    need = needed_rate()
    result = {
        "benchmark": "video_io",
        "command": "OMP_NUM_THREADS=1 python benchmarks/video_io.py " + " ".join(sys.argv[1:]),
        "settings": {
            "layout": {
                "num_seq": DPC_LAYOUT.num_seq,
                "seq_len": DPC_LAYOUT.seq_len,
                "ds": DPC_LAYOUT.ds,
                "span": DPC_LAYOUT.span,
            },
            "per_decile": args.per_decile,
            "seed": args.seed,
            "ffmpeg_threads": "AUTO (PyAV thread_type)",
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": torch.get_num_threads(),
            "frame_folder_jpeg_quality": DPC_JPEG_QUALITY,
            "loader_config": UCF_CONFIG,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
            "av": __import__("av").__version__,
            "platform": platform.platform(),
        },
        "video": info,
        "clips": clips,
        "targets": {
            "clock": VERDICT_CLOCK,
            "position_ratio_max": TARGET_POSITION_RATIO,
            "speedup_min": TARGET_SPEEDUP,
            "position_ratio_met": summary["new"]["last_over_first_tenth"] <= TARGET_POSITION_RATIO,
            "speedup_met": summary["speedup_new_over_old"] >= TARGET_SPEEDUP,
        },
        "loader": loaders,
        "gpu_need": need,
        "runtime_s": round(time.perf_counter() - began, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    plot(clips, args.plot)
    for clock in CLOCKS:
        for name in ("old", "new", "frames"):
            row = clips[clock][name]
            print(
                f"{clock:4s} {name:7s} {row['clips_per_s']:8.2f} clips/s  last/first tenth "
                f"{row['last_over_first_tenth']:.2f}  deciles(ms) {row['decile_median_ms']}"
            )
        print(
            f"{clock:4s} new / old: {clips[clock]['speedup_new_over_old']}x (target >= {TARGET_SPEEDUP}); "
            "last/first tenth (new): "
            f"{clips[clock]['new']['last_over_first_tenth']} (target <= {TARGET_POSITION_RATIO})"
        )
    for row in loaders:
        print(
            f"loader ({row['source']}, {row['num_workers']} workers): {row['clips_per_s']} clips/s; "
            f"{row['cpu_ms_per_clip']} CPU-ms "
            f"per clip: {row['cores_for_gpu_rate']} cores for DPC's GPU rate, "
            f"{row['clips_per_s_if_each_worker_had_a_core']} "
            f"clips/s if each worker had a core"
        )
    print(
        f"DPC's own GPU rate (README): about {need['clips_per_s']} clips/s = {need['steps_per_s_batch_128']} "
        "steps/s at batch 128"
    )
    print(f"wrote {args.json} and {args.plot} in {result['runtime_s']} s")


if __name__ == "__main__":
    main()
