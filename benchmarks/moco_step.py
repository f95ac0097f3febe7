"""NDA-MoCo-v2 vs MoCo-v2 training-step time at equal batch, measured in one run.

Both models are built through mmselfsup's registry and stepped with mmengine's
``model.train_step`` (data preprocessor, forward, backward, SGD step) on the same real CIFAR-10
batch. Timing goes through ``torch.utils.benchmark.Timer`` (warm-up, thread count, CUDA
synchronisation); the measurements alternate between the models round by round, so that machine
load hits both alike. The statistic and verdict are those of every step benchmark
(``nda_core.benchmark.step_statistics``): per round NDA step / floor, the median over rounds with its
interquartile range, target met when the median is <= 1.05. The JSON (``--json``, default
``docs/results/step_moco.json``) holds the settings, every per-round time and the load average.

Floor: a MoCo step costs about 4 forward-units per image (query forward + backward ~ 3, key
forward 1); every NDA image through the momentum encoder adds one unit, so with M NDA views per
query the floor is (4 + M) / 4 (1.5 for the paper's M = 2). The script also measures the floor
directly (MoCo step + M timed key-encoder forwards, in the same round); the verdict uses the measured
floor. The paper reports 1.09 s -> 1.36 s (1.25x) for the forward computation
alone; the forward-only ratio is printed beside it.

    python benchmarks/moco_step.py --batch 32 --width 32 --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from nda_core.benchmark import (
    AUTOCAST_CHOICES,
    Clock,
    command_line,
    machine_facts,
    print_step_verdict,
    step_statistics,
    timed_rounds,
    under_autocast,
    write_step_record,
)

MOCO_UNITS = 4.0  # query forward + backward (~3) + key forward (1), per image
DEFAULT_JSON = Path(__file__).resolve().parents[1] / "docs" / "results" / "step_moco.json"
PAPER_FORWARD_S = (1.09, 1.36)  # MoCo vs NDA-MoCo forward computation, paper Sec. 5
QUEUE_LEN = 4096
FEAT_DIM = 128


def build(nda: bool, width: int, num_nda_views: int, nda_encoder: str = "key"):
    from mmselfsup.registry import MODELS

    model = dict(
        type="NDAMoCo" if nda else "MoCo",
        queue_len=QUEUE_LEN,
        feat_dim=FEAT_DIM,
        momentum=0.99,
        data_preprocessor=dict(
            type="SelfSupDataPreprocessor", mean=(125.3, 123.0, 113.9), std=(51.6, 50.8, 51.3), bgr_to_rgb=False
        ),
        backbone=dict(type="mmcls.ResNet_CIFAR", depth=18, stem_channels=width, base_channels=width, out_indices=[3]),
        neck=dict(
            type="MoCoV2Neck",
            in_channels=width * 8,
            hid_channels=FEAT_DIM * 4,
            out_channels=FEAT_DIM,
            with_avg_pool=True,
        ),
        head=dict(type="NDAContrastiveHead" if nda else "ContrastiveHead", temperature=0.07),
    )
    if nda:
        model.update(nda=dict(type="jigsaw", k=2), num_nda_views=num_nda_views, nda_encoder=nda_encoder)
    else:
        model["head"]["loss"] = dict(type="mmcls.CrossEntropyLoss")
    return MODELS.build(model)


def optim_wrapper(model):
    from mmengine.optim import OptimWrapper

    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="images per step (default: %(default)s)")
    parser.add_argument(
        "--width", type=int, default=32, help="ResNet-18 base channels, 64 = full width (default: %(default)s)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per model (default: %(default)s)")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per Timer measurement (default: %(default)s)"
    )
    parser.add_argument("--views", type=int, default=2, help="NDA views per query (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="JSON artifact (default: docs/results/step_moco.json)"
    )
    parser.add_argument(
        "--device", default="cpu", help="device of the models and the batch, e.g. cuda (default: %(default)s)"
    )
    parser.add_argument(
        "--autocast",
        choices=AUTOCAST_CHOICES,
        default="off",
        help="bf16: every timed call inside torch.autocast(device, bfloat16) (default: %(default)s)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_facts(args.threads, args.device)
    torch.manual_seed(0)

    from mmengine.registry import init_default_scope
    from mmselfsup.structures import SelfSupDataSample

    import mmselfsup_nda  # noqa: F401
    from nda_core.data import cifar10_root, load_image_folder

    init_default_scope("mmselfsup")
    images, _, _ = load_image_folder(cifar10_root() / "train", per_class=max(1, args.batch // 10 + 1), seed=0)
    images = images[: args.batch]
    data = {"inputs": [images.clone(), images.flip(3)], "data_samples": [SelfSupDataSample() for _ in images]}

    models = {"moco": build(False, args.width, args.views), "nda": build(True, args.width, args.views)}
    models["nda_query"] = build(True, args.width, args.views, nda_encoder="query")
    for model in models.values():
        model.to(args.device)
    wrappers = {name: optim_wrapper(model) for name, model in models.items()}

    def forward_only(model):
        with torch.no_grad():
            inputs, samples = model.data_preprocessor(data, True)
            model.loss(inputs, samples)

    moco = models["moco"]
    key_batch = moco.data_preprocessor(data, True)[0][1]

    def key_forward() -> None:
        with torch.no_grad():
            moco.encoder_k(key_batch)

    calls: dict[str, Callable[[], object]] = {
        name: (lambda model=model, name=name: model.train_step(data, wrappers[name])) for name, model in models.items()
    }
    calls["forward moco"] = lambda: forward_only(models["moco"])
    calls["forward nda"] = lambda: forward_only(models["nda"])
    calls["key forward"] = key_forward
    rounds = timed_rounds(
        under_autocast(calls, args.device, args.autocast),
        args.rounds,
        Clock(args.threads, args.min_run_time),
        progress=lambda index, _: print(f"round {index + 1}/{args.rounds}", flush=True),
    )
    times = {name: rounds[name] for name in models}
    forward = {"moco": rounds["forward moco"], "nda": rounds["forward nda"]}
    key_forward_times = rounds["key forward"]

    floor = [m + args.views * k for m, k in zip(times["moco"], key_forward_times)]
    stats = step_statistics(times["nda"], floor, times["moco"])
    median = {name: statistics.median(values) for name, values in rounds.items()}
    nominal_floor = (MOCO_UNITS + args.views) / MOCO_UNITS
    extras = {
        "nominal_floor_over_plain": nominal_floor,
        "query_encoder_nda_over_plain_median": statistics.median(
            q / m for q, m in zip(times["nda_query"], times["moco"])
        ),
        "forward_only_nda_over_plain_median": statistics.median(n / m for n, m in zip(forward["nda"], forward["moco"])),
        "forward_only_floor_over_plain": (2 + args.views) / 2,
        "paper_forward_s": list(PAPER_FORWARD_S),
    }
    stats.update(extras)
    print(
        f"\nbatch {args.batch}, ResNet-18 CIFAR stem width {args.width}, 32x32 real CIFAR-10, "
        f"{args.views} jigsaw NDA views/query, {args.rounds} interleaved Timer rounds each, {args.threads} "
        f"threads ({args.device}, autocast {args.autocast})"
    )
    for name, value in median.items():
        print(f"  {name:12s} median {value * 1e3:8.1f} ms")
    print(
        f"nominal floor (4 + M) / 4 = {nominal_floor:.3f}; query-encoder NDA / MoCo "
        f"{extras['query_encoder_nda_over_plain_median']:.3f}; "
        f"forward only NDA / MoCo {extras['forward_only_nda_over_plain_median']:.3f} (paper {PAPER_FORWARD_S[0]} s -> "
        f"{PAPER_FORWARD_S[1]} s; floor here (2 + M) / 2 = {extras['forward_only_floor_over_plain']:.2f})"
    )
    settings = {
        "batch": args.batch,
        "width": args.width,
        "views": args.views,
        "rounds": args.rounds,
        "min_run_time": args.min_run_time,
        "threads": args.threads,
        "device": args.device,
        "autocast": args.autocast,
        "nda": "jigsaw k=2",
        "clock": "Timer.blocked_autorange median",
    }
    write_step_record(
        args.json,
        "moco",
        command_line("python benchmarks/moco_step.py", sys.argv[1:]),
        settings,
        machine,
        {name: list(values) for name, values in rounds.items()},
        f"MoCo step + {args.views} x key-encoder forward of the batch",
        stats,
    )
    print_step_verdict(stats, args.json)


if __name__ == "__main__":
    main()
