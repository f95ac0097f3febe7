"""NDA-DPC vs DPC training-step time at equal batch, beside the floor the extra encoder pass sets.

One run times, on the same batch and interleaved round by round (so that machine load hits all
alike), with ``torch.utils.benchmark.Timer``:

* ``dpc``: DPC's step (encode all blocks, GRU + predictor, ``dpc_loss``, backward, Adam step);
* ``nda``: NDA-DPC's step (the same plus NDA clips made on the device with ``nda_core``, encoded
  by the same encoder, their features as extra negatives);
* ``extra``: the extra work NDA-DPC cannot avoid: the encoder's forward and backward over the
  NDA clips (made once, outside the timing).

The floor is ``dpc + extra`` of the same round. The statistic and verdict are those of every step
benchmark (``nda_core.benchmark.step_statistics``): per round NDA-DPC step / floor, the median over
rounds with its interquartile range, target met when the median is <= 1.05 (making the clips, the
extra logits and the bookkeeping cost under 5% of a step). The JSON (``--json``, default
``docs/results/step_dpc.json``) holds the settings, every per-round time and the load average.
With the paper's setting (NDA of the
``pred_step`` target blocks) the extra encoder work is ``pred_step / num_seq`` of DPC's encoder
work (3/8 for DPC's 8 blocks, 3 predicted).

    python benchmarks/dpc_step.py --threads 2 --rounds 7  # the CPU model of the moving-MNIST configs
    python benchmarks/dpc_step.py --preset dpc --batch 8 # DPC's ResNet-18 2D+3D at 128 px (a GPU job)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

#: Models: the CPU configs' small DPC and DPC's published one.
PRESETS = {
    "cpu": dict(depth=18, width=8, in_channels=1, input_size=64, num_seq=6, seq_len=4, pred_step=2),
    "dpc": dict(depth=18, width=64, in_channels=3, input_size=128, num_seq=8, seq_len=5, pred_step=3),
}
WARMUP = 2
DEFAULT_JSON = Path(__file__).resolve().parents[1] / "docs" / "results" / "step_dpc.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="model (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=16, help="videos per step (default: %(default)s)")
    parser.add_argument("--nda", default="jigsaw", help="nda_core NDA name (default: %(default)s)")
    parser.add_argument(
        "--blocks",
        default="target",
        choices=["target", "context", "all"],
        help="blocks made NDA (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default: %(default)s)")
    parser.add_argument("--number", type=int, default=2, help="steps per timing (default: %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="CPU threads (default: %(default)s)"
    )
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--autocast",
        choices=("off", "bf16"),
        default="off",
        help="bf16: every timed call inside torch.autocast(device, bfloat16) (default: %(default)s)",
    )
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="JSON artifact (default: docs/results/step_dpc.json)"
    )
    args = parser.parse_args()

    from torch.utils.benchmark import Timer

    from nda_core.benchmark import (
        command_line,
        machine_facts,
        print_step_verdict,
        step_statistics,
        timed_rounds,
        under_autocast,
        write_step_record,
    )
    from video_dpc import DPC, DPCNegatives, dpc_loss

    torch.set_num_threads(args.threads)
    machine = machine_facts(args.threads, args.device)
    torch.manual_seed(0)
    device = torch.device(args.device)
    spec = PRESETS[args.preset]
    model = DPC(**spec).to(device)
    negatives = DPCNegatives(args.nda, blocks=args.blocks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    size = spec["input_size"]
    blocks = torch.randn(args.batch, spec["num_seq"], spec["in_channels"], spec["seq_len"], size, size, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    nda_clips = negatives.make_clips(blocks, model.pred_step, generator)

    def dpc_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        dpc_loss(*model(blocks)).loss.backward()
        optimizer.step()

    def nda_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        pred, target = model(blocks)
        dpc_loss(pred, target, negatives(model, blocks, generator)).loss.backward()
        optimizer.step()

    def extra() -> None:
        model.encode(nda_clips).sum().backward()

    steps: dict[str, Callable[[], None]] = under_autocast(
        {"dpc": dpc_step, "nda": nda_step, "extra": extra}, device, args.autocast
    )
    for fn in steps.values():
        for _ in range(WARMUP):
            fn()

    def clock(fn) -> float:
        return Timer("fn()", globals={"fn": fn}, num_threads=args.threads).timeit(args.number).mean

    def progress(index: int, times: dict[str, list[float]]) -> None:
        print(
            f"round {index + 1}/{args.rounds}: " + ", ".join(f"{n} {t[-1] * 1e3:.0f} ms" for n, t in times.items()),
            flush=True,
        )

    times = timed_rounds(steps, args.rounds, clock, progress)

    floor = [d + e for d, e in zip(times["dpc"], times["extra"])]
    stats = step_statistics(times["nda"], floor, times["dpc"])
    print(
        f"\n{args.preset} DPC ({spec}), batch {args.batch}, NDA {args.nda} on {args.blocks} blocks, {device}, "
        f"autocast {args.autocast}, {args.threads} threads; {args.rounds} rounds x {args.number} steps: DPC "
        f"{stats['plain_ms_median']:.1f} ms, "
        f"NDA-DPC {stats['nda_ms_median']:.1f} ms, floor {stats['floor_ms_median']:.1f} ms (medians)"
    )
    settings = {key: value for key, value in vars(args).items() if key != "json"}
    settings["model"] = spec
    write_step_record(
        args.json,
        "dpc",
        command_line("python benchmarks/dpc_step.py", sys.argv[1:]),
        settings,
        machine,
        times,
        "DPC step + encoder forward and backward of the NDA clips",
        stats,
    )
    print_step_verdict(stats, args.json)


if __name__ == "__main__":
    main()
