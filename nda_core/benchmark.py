"""Time every NDA transform on this machine: against a copy, a per-sample loop, kornia and torchvision.

For each batch shape (default 256x3x32x32, 64x3x224x224 and the clip batch 8x3x16x112x112,
float32) and each NDA it reports, as ratios measured in one run:

- ours / clone: our transform (``nda_core.build(name)``, called without a generator as a
  training loop calls it) against ``x.clone()`` of the same batch, the physical floor (every
  byte read and written once), timed right before it; the target is 5x at 64x64 pixels or
  less (fixed per-call costs dominate there), 2x above (2.5x for the box NDAs);
- compiled / clone: the same transform through ``torch.compile(fullgraph=True)``;
- speed-up against a per-sample Python loop written the way the paper's research code does it;
- speed-up against kornia's and torchvision v2's nearest equivalents, where they have one and
  are installed (clips are given to them as (B, C*T, H, W), the same transform on every frame).

The noise NDA also reports its ratio to ``torch.randn`` of the same size: drawing the field is
its own floor. For 32x32 image batches it also sets each NDA's time beside the plain step time of
every adapter whose step benchmark trains on 32x32 images (``--steps``, default the MoCo, lightly
and StudioGAN JSONs in docs/results): a fixed per-call cost above 5x a copy is harmless while it
stays below 1% of every such step. Timing uses ``torch.utils.benchmark.Timer`` (warm-up, thread count, CUDA
synchronisation); every figure is the median over ``--rounds`` rounds, each the median of
blocks run for at least ``--min-run-time`` seconds. ``--clock cpu`` (with ``--threads 1``)
times this thread's CPU time, which other processes on a shared machine disturb less.

Run it on your own GPU with ``nda bench --device cuda``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import nda_core
from nda_core.errors import UsageError
from nda_core.transforms import MIXUP_ALPHA, NOISE_STD

__all__ = [
    "DEFAULT_SHAPES",
    "NAMES",
    "LOOPS",
    "STEP_TARGET",
    "Clock",
    "main",
    "run",
    "format_table",
    "parse_shape",
    "target_vs_clone",
    "timed_rounds",
    "step_statistics",
    "machine_facts",
    "command_line",
    "write_step_record",
    "print_step_verdict",
    "AUTOCAST_CHOICES",
    "under_autocast",
    "read_step_times",
    "add_step_shares",
    "STEP_SHARE_TARGET",
]

DEFAULT_SHAPES = ("256x3x32x32", "64x3x224x224", "8x3x16x112x112")
NAMES = ("jigsaw", "stitch", "cutout", "cutmix", "mixup", "vflip", "noise")
BOX_NDAS = ("cutout", "cutmix")
#: Ours / clone targets: small images pay fixed per-call costs, large ones should be near a copy.
SMALL_IMAGE_PIXELS = 64 * 64
TARGET_SMALL, TARGET_LARGE, TARGET_LARGE_BOX = 5.0, 2.0, 2.5
LABELS = 10  # torchvision's CutMix / MixUp need class labels
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager", "none")
#: torch.compile modes of the inductor backend; reduce-overhead captures CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")
#: --autocast of the step benchmarks: off (float32) or bfloat16 autocast around every timed call.
AUTOCAST_CHOICES = ("off", "bf16")
RECOMPILE_LIMIT = 4096
#: Every step-time benchmark's one verdict: the median over rounds of (NDA step / floor) <= this.
STEP_TARGET = 1.05
QUARTILES = (25, 50, 75)
#: The repository root, to record paths and commands relative to it.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The step benchmarks' JSONs (``docs/results/step_<adapter>.json``) whose images are 32x32 (CIFAR-10): their
#: plain step times are what a small image's NDA is set beside (``--steps``).
STEP_RESULTS_32 = ("step_moco.json", "step_lightly.json", "step_studiogan.json")
STEP_IMAGE_SIZE = (32, 32)
#: A small image's NDA may cost more than 5x a copy if it stays below this share of every adapter's step.
STEP_SHARE_TARGET = 0.01


def parse_shape(text: str) -> tuple[int, ...]:
    """``"256x3x32x32"`` (images) or ``"8x3x16x112x112"`` (clips) as a tuple of ints."""
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (4, 5) or min(shape) < 1 or shape[0] < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a batch shape; write BxCxHxW or BxCxTxHxW with B >= 2, e.g. 256x3x32x32."
        )
    return shape


def target_vs_clone(shape: Sequence[int], name: str) -> float:
    """The ours / clone ratio a transform should stay under for a batch of ``shape``."""
    if shape[-2] * shape[-1] <= SMALL_IMAGE_PIXELS:
        return TARGET_SMALL
    return TARGET_LARGE_BOX if name in BOX_NDAS else TARGET_LARGE


# ------------------------------------------------ per-sample loops, as in the paper's code


def _box(height: int, width: int) -> tuple[int, int, int, int]:
    h = random.randint(height // 3, height // 2)
    w = random.randint(width // 3, width // 2)
    return random.randint(0, height - h), random.randint(0, width - w), h, w


def _other(i: int, batch: int) -> int:
    j = random.randrange(batch - 1)
    return j + (j >= i)


def loop_jigsaw(x: torch.Tensor, k: int = 2) -> torch.Tensor:
    out = []
    for image in x:
        rows = torch.chunk(image, k, dim=-2)
        patches = [p for row in rows for p in torch.chunk(row, k, dim=-1)]
        order = np.random.permutation(k * k)
        while (order == np.arange(k * k)).all():
            order = np.random.permutation(k * k)
        shuffled = [patches[i] for i in order]
        out.append(torch.cat([torch.cat(shuffled[r * k : (r + 1) * k], dim=-1) for r in range(k)], dim=-2))
    return torch.stack(out)


def loop_stitch(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    height, width = x.shape[-2:]
    for i in range(x.shape[0]):
        j = _other(i, x.shape[0])
        if random.random() < 0.5:
            out[i, ..., :, width // 2 :] = x[j, ..., :, width // 2 :]
        else:
            out[i, ..., height // 2 :, :] = x[j, ..., height // 2 :, :]
    return out


def loop_cutout(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(x.shape[0]):
        top, left, h, w = _box(*x.shape[-2:])
        patch = out[i, ..., top : top + h, left : left + w]
        patch[:] = patch.mean(dim=(-2, -1), keepdim=True)
    return out


def loop_cutmix(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    for i in range(x.shape[0]):
        j = _other(i, x.shape[0])
        top, left, h, w = _box(*x.shape[-2:])
        out[i, ..., top : top + h, left : left + w] = x[j, ..., top : top + h, left : left + w]
    return out


def loop_mixup(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        g = float(np.random.beta(MIXUP_ALPHA, MIXUP_ALPHA))
        out[i] = g * x[i] + (1 - g) * x[_other(i, x.shape[0])]
    return out


def loop_vflip(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([image.flip(-2) for image in x])


def loop_noise(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([image + NOISE_STD * torch.randn_like(image) for image in x])


LOOPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "jigsaw": loop_jigsaw,
    "stitch": loop_stitch,
    "cutout": loop_cutout,
    "cutmix": loop_cutmix,
    "mixup": loop_mixup,
    "vflip": loop_vflip,
    "noise": loop_noise,
}


# ------------------------------------------------ library equivalents (imported only here)


def library_equivalents(x: torch.Tensor) -> dict[str, dict[str, Callable[[], Any]]]:
    """{nda name: {library label: call}} for the transforms kornia / torchvision v2 offer."""
    flat = x.flatten(1, 2) if x.dim() == 5 else x
    labels = torch.randint(0, LABELS, (x.shape[0],), device=x.device)
    found: dict[str, dict[str, Callable[[], Any]]] = {name: {} for name in NAMES}
    try:
        import kornia.augmentation as K
    except ImportError:
        K = None
    if K is not None:
        kornia_ops = {
            "jigsaw": K.RandomJigsaw(grid=(2, 2), p=1.0),
            "cutout": K.RandomErasing(scale=(1 / 9, 1 / 4), ratio=(0.5, 2.0), p=1.0),
            "cutmix": K.RandomCutMixV2(p=1.0, use_correct_lambda=True),
            "mixup": K.RandomMixUpV2(p=1.0),
            "vflip": K.RandomVerticalFlip(p=1.0),
            "noise": K.RandomGaussianNoise(std=NOISE_STD, p=1.0),
        }
        for name, op in kornia_ops.items():
            found[name]["kornia"] = lambda op=op: op(flat)
    try:
        import torchvision.transforms.v2 as T
    except ImportError:
        T = None
    if T is not None:
        tv_ops: dict[str, Callable[[], Any]] = {
            "cutout": lambda: T.RandomErasing(p=1.0, scale=(1 / 9, 1 / 4))(flat),
            "cutmix": lambda: T.CutMix(num_classes=LABELS)(flat, labels),
            "mixup": lambda: T.MixUp(num_classes=LABELS)(flat, labels),
            "vflip": lambda: T.RandomVerticalFlip(p=1.0)(flat),
            "noise": lambda: T.GaussianNoise(sigma=NOISE_STD)(flat),
        }
        for name, call in tv_ops.items():
            found[name]["torchvision v2"] = call
    return found


# ------------------------------------------------ measurement


class Clock:
    """Seconds per call of a function: the median of ``torch.utils.benchmark.Timer``'s
    ``blocked_autorange`` over at least ``min_run_time`` seconds (wall clock, or this thread's CPU
    time with ``cpu_clock``)."""

    def __init__(self, threads: int, min_run_time: float, cpu_clock: bool = False) -> None:
        self.threads = threads
        self.min_run_time = min_run_time
        self.timer = time.thread_time if cpu_clock else None

    def __call__(self, call: Callable[[], Any]) -> float:
        from torch.utils.benchmark import Timer

        options: dict[str, Any] = {"globals": {"call": call}, "num_threads": self.threads}
        if self.timer is not None:
            options["timer"] = self.timer
        return Timer("call()", **options).blocked_autorange(min_run_time=self.min_run_time).median


def under_autocast(
    calls: dict[str, Callable[[], Any]], device: str | torch.device, autocast: str
) -> dict[str, Callable[[], Any]]:
    """The step benchmarks' ``--autocast``: every call run inside ``torch.autocast(device type,
    bfloat16)`` for ``"bf16"``, the calls themselves for ``"off"``; the plain step, the NDA step
    and the floor are wrapped alike, so the ratios compare like with like."""
    if autocast not in AUTOCAST_CHOICES:
        raise UsageError(f"autocast={autocast!r} is not one of {AUTOCAST_CHOICES}; use 'bf16' or 'off'.")
    if autocast == "off":
        return calls
    device_type = torch.device(device).type

    def wrapped(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with torch.autocast(device_type, dtype=torch.bfloat16):
                return call()

        return run

    return {label: wrapped(call) for label, call in calls.items()}


def _compile(
    transform: nda_core.NDATransform, backend: str, mode: str = "default"
) -> tuple[Callable[[torch.Tensor], Any] | None, str]:
    """``torch.compile(transform, fullgraph=True)`` (no generator), or None and why not."""
    if backend == "none":
        return None, "not asked"
    try:
        options: dict[str, Any] = {"mode": mode} if mode != "default" else {}
        return torch.compile(transform, fullgraph=True, backend=backend, dynamic=False, **options), ""
    except Exception as error:  # a compiler that cannot start (no C++ toolchain, ...) is reported, not fatal
        return None, f"{type(error).__name__}: {error}"


def _progress(message: str) -> None:
    """Progress goes to stderr, so that stdout holds only the header and the table."""
    print(f"nda bench: {message}", file=sys.stderr, flush=True)


def timed_rounds(
    calls: dict[str, Callable[[], Any]],
    rounds: int,
    clock: Callable[[Callable[[], Any]], float],
    progress: Callable[[int, dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of every call in each of ``rounds`` rounds, measured by ``clock``.

    Within a round the calls run one after another, so load on a shared machine hits them alike
    and ratios can be taken round by round. ``progress(round_index, times)`` runs after each round.
    """
    times: dict[str, list[float]] = {label: [] for label in calls}
    for index in range(rounds):
        for label, call in calls.items():
            times[label].append(clock(call))
        if progress is not None:
            progress(index, times)
    return times


def step_statistics(nda: Sequence[float], floor: Sequence[float], plain: Sequence[float]) -> dict[str, Any]:
    """The one statistic and verdict of every step-time benchmark, from times taken round by round.

    Per round, NDA step / floor (both measured back to back in that round); the statistic is the
    median of these ratios over the rounds, with its interquartile range; the verdict is ``"met"``
    when the median is at most :data:`STEP_TARGET`, else ``"missed"``. NDA / plain and floor /
    plain are the medians of their per-round ratios too.
    """
    if not len(nda) == len(floor) == len(plain) or len(nda) < 1:
        raise UsageError(
            f"step_statistics needs one time per round for nda ({len(nda)}), floor ({len(floor)}) and plain "
            f"({len(plain)}), at least one round; time all three in every round with timed_rounds."
        )
    ratios = [n / f for n, f in zip(nda, floor)]
    q1, median, q3 = (float(v) for v in np.percentile(ratios, QUARTILES))
    return {
        "rounds": len(ratios),
        "nda_over_floor_per_round": ratios,
        "nda_over_floor_median": median,
        "nda_over_floor_q1": q1,
        "nda_over_floor_q3": q3,
        "nda_over_plain_median": statistics.median(n / p for n, p in zip(nda, plain)),
        "floor_over_plain_median": statistics.median(f / p for f, p in zip(floor, plain)),
        "plain_ms_median": 1e3 * statistics.median(plain),
        "nda_ms_median": 1e3 * statistics.median(nda),
        "floor_ms_median": 1e3 * statistics.median(floor),
        "target": STEP_TARGET,
        "verdict": "met" if median <= STEP_TARGET else "missed",
    }


def machine_facts(threads: int, device: str = "cpu") -> dict[str, Any]:
    """Facts a timing depends on: threads, CPUs, load average now (1, 5, 15 min), torch, platform,
    and on a GPU its name and the CUDA version torch was built with."""
    facts: dict[str, Any] = {
        "device": device,
        "torch_threads": threads,
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        facts.update(device_name=torch.cuda.get_device_name(torch.device(device)), cuda=torch.version.cuda)
    return facts


def command_line(program: str, argv: Sequence[str]) -> str:
    """The command (``program``, e.g. ``"python benchmarks/moco_step.py"`` or ``"nda bench"``, then
    ``argv``) that repeats a run from the repository root; paths inside the repository are written
    relative to it, so that no absolute folder of the machine is recorded."""

    def relative(argument: str) -> str:
        if os.path.isabs(argument) and os.path.commonpath([REPO_ROOT, os.path.abspath(argument)]) == REPO_ROOT:
            return os.path.relpath(argument, REPO_ROOT)
        return argument

    return shlex.join([*shlex.split(program), *(relative(a) for a in argv)])


def write_step_record(
    path: str | os.PathLike,
    adapter: str,
    command: str,
    settings: dict[str, Any],
    machine: dict[str, Any],
    times_s: dict[str, list[float]],
    floor: str,
    stats: dict[str, Any],
) -> None:
    """The step benchmark's JSON artifact (``docs/results/step_<adapter>.json``): settings, the
    machine and its load average at the start and the end, every per-round time and the statistics."""
    machine = {**machine, "loadavg_end": list(os.getloadavg())}
    record = {
        "schema": "nda-step/1",
        "adapter": adapter,
        "command": command,
        "settings": settings,
        "machine": machine,
        "floor": floor,
        "times_s": times_s,
        "statistics": stats,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")


def print_step_verdict(stats: dict[str, Any], path: str | os.PathLike | None) -> None:
    """One line: the statistic, its interquartile range and the verdict (and where the JSON went)."""
    print(
        f"NDA / floor: median over {stats['rounds']} rounds {stats['nda_over_floor_median']:.3f} "
        f"(IQR {stats['nda_over_floor_q1']:.3f}-{stats['nda_over_floor_q3']:.3f}); target <= {stats['target']:.2f}: "
        f"{stats['verdict']}; NDA / plain {stats['nda_over_plain_median']:.3f}, floor / plain "
        f"{stats['floor_over_plain_median']:.3f}" + (f"; wrote {path}" if path else "")
    )


def _median_rounds(calls: dict[str, Callable[[], Any]], clock: Clock, rounds: int) -> dict[str, float]:
    """Median seconds per call over ``rounds`` rounds of :func:`timed_rounds`."""
    return {label: statistics.median(values) for label, values in timed_rounds(calls, rounds, clock).items()}


def run(
    shapes: Sequence[tuple[int, ...]],
    names: Sequence[str],
    device: torch.device,
    clock: Clock,
    rounds: int,
    loop_rounds: int,
    backend: str,
    libraries: bool,
    compile_mode: str = "default",
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of the table (one per shape and NDA) and notes on what could not be timed."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for shape in shapes:
        label = "x".join(map(str, shape))
        _progress(f"{label}: building{' and compiling' if backend != 'none' else ''} {len(names)} transforms")
        x = torch.rand(shape, device=device)
        transforms = {name: nda_core.build(name) for name in names}
        calls: dict[str, Callable[[], Any]] = {}
        for name, transform in transforms.items():
            calls[f"clone/{name}"] = x.clone
            if name == "noise":
                calls["randn"] = lambda shape=shape: torch.randn(shape, device=device)
            calls[name] = lambda t=transform, x=x: t(x)
            compiled, why = _compile(transform, backend, compile_mode)
            if compiled is not None:
                try:
                    compiled(x)  # compiles now, not inside the timing
                    calls[f"compiled/{name}"] = lambda f=compiled, x=x: f(x)
                except Exception as error:
                    why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            if why and why != "not asked":
                notes.append(f"{label} {name}: torch.compile(backend={backend!r}, mode={compile_mode!r}) failed: {why}")
        _progress(f"{label}: timing ours, clone{' and compiled' if backend != 'none' else ''} ({rounds} rounds)")
        ours = _median_rounds(calls, clock, rounds)
        _progress(f"{label}: timing the per-sample loops" + (" and the libraries" if libraries else ""))
        loops = _median_rounds({name: (lambda f=LOOPS[name], x=x: f(x)) for name in names}, clock, loop_rounds)
        found = library_equivalents(x) if libraries else {name: {} for name in names}
        for name in names:
            lib_times = _median_rounds(found[name], clock, rounds) if found[name] else {}
            compiled_s = ours.get(f"compiled/{name}")
            clone_s = ours[f"clone/{name}"]
            rows.append(
                {
                    "shape": label,
                    "nda": name,
                    "clone_ms": 1e3 * clone_s,
                    "ours_ms": 1e3 * ours[name],
                    "vs_clone": ours[name] / clone_s,
                    "target_vs_clone": target_vs_clone(shape, name),
                    "compiled_ms": None if compiled_s is None else 1e3 * compiled_s,
                    "compiled_vs_clone": None if compiled_s is None else compiled_s / clone_s,
                    "vs_randn": ours[name] / ours["randn"] if name == "noise" else None,
                    "loop_ms": 1e3 * loops[name],
                    "speedup_vs_loop": loops[name] / ours[name],
                    "libraries": {lib: {"ms": 1e3 * t, "speedup": t / ours[name]} for lib, t in lib_times.items()},
                }
            )
    return rows, notes


def read_step_times(paths: Sequence[str]) -> dict[str, float]:
    """{adapter: plain step time in ms} from step benchmark JSONs (``nda-step/1``); a file that is missing
    or of another schema is an error."""
    steps: dict[str, float] = {}
    for path in paths:
        try:
            with open(path) as handle:
                record = json.load(handle)
        except (OSError, ValueError) as error:
            raise UsageError(f"--steps {path!r} cannot be read as a step benchmark JSON: {error}") from None
        if record.get("schema") != "nda-step/1":
            raise UsageError(
                f"--steps {path!r} is not a step benchmark JSON (schema nda-step/1), got {record.get('schema')!r}."
            )
        steps[record["adapter"]] = float(record["statistics"]["plain_ms_median"])
    return steps


def add_step_shares(rows: Sequence[dict[str, Any]], steps: dict[str, float]) -> None:
    """Give every row of a 32x32 image batch ``step_share``: ours_ms over each adapter's plain step time
    (their largest is ``step_share_max``), so that a fixed per-call cost can be judged against a training step."""
    for row in rows:
        shape = parse_shape(row["shape"])
        if len(shape) == 4 and tuple(shape[-2:]) == STEP_IMAGE_SIZE and steps:
            row["step_share"] = {adapter: row["ours_ms"] / step_ms for adapter, step_ms in steps.items()}
            row["step_share_max"] = max(row["step_share"].values())


def format_step_shares(rows: Sequence[dict[str, Any]], steps: dict[str, float]) -> list[str]:
    """One line per 32x32 batch: the largest share of an adapter's step that any NDA takes, and the verdict."""
    lines = []
    for shape in dict.fromkeys(row["shape"] for row in rows if "step_share_max" in row):
        shared = [row for row in rows if row["shape"] == shape and "step_share_max" in row]
        worst = max(shared, key=lambda r: r["step_share_max"])
        adapter = max(worst["step_share"], key=worst["step_share"].get)
        verdict = "met" if worst["step_share_max"] < STEP_SHARE_TARGET else "missed"
        lines.append(
            f"step share at {shape}: the costliest NDA ({worst['nda']}, {worst['ours_ms']:.3f} ms) is "
            f"{100 * worst['step_share_max']:.2f}% of the {adapter} step ({steps[adapter]:.1f} ms, plain, "
            f"from --steps); "
            f"target < {100 * STEP_SHARE_TARGET:g}% of every adapter's step: {verdict}"
        )
    return lines


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| batch | NDA | ours (ms) | clone (ms) | ours / clone (target) | compiled / clone | speed-up vs "
        "per-sample loop | vs kornia | vs torchvision v2 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        libs = row["libraries"]

        def lib(label: str, libs: dict[str, Any] = libs) -> str:
            return f"{libs[label]['speedup']:.1f}x ({libs[label]['ms']:.2f} ms)" if label in libs else "n/a"

        ok = "ok" if row["vs_clone"] <= row["target_vs_clone"] else "MISSED"
        randn = f"; {row['vs_randn']:.2f} x randn" if row["vs_randn"] is not None else ""
        compiled = (
            "n/a"
            if row["compiled_vs_clone"] is None
            else f"{row['compiled_vs_clone']:.2f} ({row['compiled_ms']:.3f} ms)"
        )
        lines.append(
            f"| {row['shape']} | {row['nda']} | {row['ours_ms']:.3f} | {row['clone_ms']:.3f} "
            f"| {row['vs_clone']:.2f} (<= {row['target_vs_clone']:g}, {ok}{randn}) | {compiled} "
            f"| {row['speedup_vs_loop']:.1f}x | {lib('kornia')} | {lib('torchvision v2')} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="device to time on, e.g. cuda (default: %(default)s)")
    parser.add_argument(
        "--shapes",
        nargs="+",
        type=parse_shape,
        default=[parse_shape(s) for s in DEFAULT_SHAPES],
        metavar="BxCx[T]xHxW",
        help=f"batch shapes (default: {' '.join(DEFAULT_SHAPES)})",
    )
    parser.add_argument(
        "--nda",
        nargs="+",
        choices=NAMES,
        default=list(NAMES),
        metavar="NAME",
        help=f"NDAs to time, from {' '.join(NAMES)} (default: all)",
    )
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds; each figure is the median over them (default: %(default)s)"
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=0.2,
        help="seconds each measurement runs at least, in blocks whose median is taken (default: %(default)s)",
    )
    parser.add_argument(
        "--loop-rounds", type=int, default=1, help="rounds for the slow per-sample loops (default: %(default)s)"
    )
    parser.add_argument(
        "--compile",
        default="inductor",
        choices=COMPILE_BACKENDS,
        help="torch.compile backend of the compiled column, or none (default: %(default)s)",
    )
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=COMPILE_MODES,
        help="torch.compile mode of the inductor backend; reduce-overhead runs the compiled transforms as CUDA "
        "graphs on a GPU (default: %(default)s)",
    )
    parser.add_argument(
        "--libraries",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time kornia and torchvision v2 where installed (default: %(default)s)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time or this thread's CPU time (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the draws (default: %(default)s)")
    parser.add_argument(
        "--steps",
        nargs="*",
        metavar="JSON",
        default=[
            p for p in (os.path.join(REPO_ROOT, "docs", "results", n) for n in STEP_RESULTS_32) if os.path.isfile(p)
        ],
        help="step benchmark JSONs of 32x32 images; each 32x32 batch's NDA times are set beside their plain step times "
        "(default: docs/results/step_{moco,lightly,studiogan}.json where present; none: give --steps alone)",
    )
    parser.add_argument(
        "--json",
        help="also write the settings, the machine (load average at start and end) and the rows to this "
        "JSON file, e.g. docs/results/transforms.json (default: none)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Time every NDA transform on this machine (nda bench --device cuda for your GPU)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("threads", "rounds", "loop_rounds"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    if not args.min_run_time > 0:
        parser.error(f"--min-run-time must be positive, got {args.min_run_time}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked, but torch sees no CUDA device here; use --device cpu")
    if args.compile_mode != "default" and args.compile != "inductor":
        parser.error(
            f"--compile-mode {args.compile_mode} is a mode of the inductor backend; use --compile inductor or drop it"
        )
    if args.clock == "cpu" and device.type != "cpu":
        parser.error("--clock cpu times this thread's CPU time and cannot see GPU work; use --clock wall")
    try:
        steps = read_step_times(args.steps)
    except UsageError as error:
        parser.error(str(error))
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"device: {device} ({where}), torch {torch.__version__}, threads {args.threads}, clock {args.clock}, "
        f"compile {args.compile}{'' if args.compile_mode == 'default' else ' ' + args.compile_mode}, median "
        f"of {args.rounds} rounds of >= {args.min_run_time:g} s, float32"
    )
    machine = machine_facts(args.threads, str(device))
    clock = Clock(args.threads, args.min_run_time, args.clock == "cpu")
    from torch._dynamo import config as dynamo_config

    # Every transform shares NDATransform.forward, so each (transform, shape) is one more entry in
    # that code object's compile cache, beside whatever this process compiled before.
    with dynamo_config.patch(recompile_limit=RECOMPILE_LIMIT, accumulated_recompile_limit=RECOMPILE_LIMIT):
        rows, notes = run(
            args.shapes,
            args.nda,
            device,
            clock,
            args.rounds,
            args.loop_rounds,
            args.compile,
            args.libraries,
            args.compile_mode,
        )
    add_step_shares(rows, steps)
    print(format_table(rows))
    for line in format_step_shares(rows, steps):
        print(line)
    for note in notes:
        print(f"note: {note}")
    if args.json:
        settings = {key: value for key, value in vars(args).items() if key != "json"}
        settings["steps"] = [os.path.relpath(path, REPO_ROOT) if os.path.isabs(path) else path for path in args.steps]
        settings["step_ms"] = steps
        settings["shapes"] = ["x".join(map(str, shape)) for shape in args.shapes]
        record = {
            "schema": "nda-bench/1",
            "command": command_line("nda bench", argv if argv is not None else sys.argv[1:]),
            "settings": settings,
            "machine": {**machine, "device_name": where, "loadavg_end": list(os.getloadavg())},
            "rows": rows,
            "notes": notes,
        }
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=1)
            handle.write("\n")
    bad = [row for row in rows if not all(math.isfinite(row[key]) for key in ("vs_clone", "speedup_vs_loop"))]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
