"""Outside measures that let an unmodified StudioGAN (947b35e) run here and on a CPU.

Each is an :class:`nda_core.workarounds.Workaround`: gated on its symptom (or on ``--cpu``),
applied once per process, logged once, and switched off with ``NDA_WORKAROUNDS=off`` (or
``NDA_WORKAROUNDS=-name`` for one of them). None touches StudioGAN's files.

Upstream problems (applied by the launcher in every mode, when their symptom is present):

* ``wandb-image-batch``: StudioGAN logs ``wandb.Image(fake_images)`` with a (N, C, H, W) batch
  after every checkpoint; current wandb only takes one (C, H, W) image and raises. The batch
  becomes one ``make_grid`` canvas, which is what wandb itself did for batches before.
* ``best-checkpoint-without-metrics``: with ``-metrics none`` (offline, StudioGAN's FID
  downloads Inception weights) no "best" checkpoint is ever written, yet StudioGAN loads one
  after training and fails with ``IndexError``. Without a best checkpoint the trained weights
  stay in memory and the last saved step is reported.
* ``numpy-scalars-in-checkpoints``: torch >= 2.6 loads checkpoints with ``weights_only=True``;
  StudioGAN's ADA/APA store the augmentation probability as a numpy float, so resuming fails.
  Allows exactly numpy's scalar, array and numeric dtype types (``torch.serialization.add_safe_globals``
  with :func:`nda_core.workarounds.numpy_safe_globals`); loading stays ``weights_only``.

CPU smoke mode (``--cpu`` only):

* ``wandb-disabled-on-cpu``: ``WANDB_MODE=disabled`` unless the user set ``WANDB_MODE``.
* ``cuda-device-queries-on-cpu``: ``main.py`` asks ``torch.cuda.device_count()`` and
  ``current_device()`` before building its config; they answer "one device, number 0", and
  ``torch.cuda.is_available()`` answers False (so DataLoader pins no memory).
* ``cuda-tensors-on-cpu``: StudioGAN puts every module and tensor on device ``local_rank``
  (``.to(0)``, ``device=0``, ``.cuda()``); a torch function mode maps CUDA devices to the CPU.
* ``one-gpu-message-on-cpu``: ``main.py`` prints "You have chosen a specific GPU. This will
  completely disable data parallelism." whenever it counts one device; in CPU mode that device
  is the CPU, so the launcher's standard output drops exactly that line while ``main.py`` runs
  (:func:`filtered_stdout`).

CPU smoke mode with ``-DDP`` (``--cpu -DDP``, N = ``--cpu-ranks``): ``cuda-device-queries-on-cpu``
answers N devices, so StudioGAN spawns N ranks (gloo), and in every rank:

* ``cuda-set-device-on-cpu``: ``loader.load_worker`` calls ``torch.cuda.set_device(local_rank)``,
  which has no CPU counterpart; it does nothing.
* ``ddp-device-ids-on-cpu``: StudioGAN wraps G and D in ``DistributedDataParallel(module,
  device_ids=[local_rank])``; torch refuses ``device_ids`` for CPU modules, so StudioGAN's
  ``models.model.DDP`` leaves them out for modules on the CPU.

The workarounds applied in the launcher process are applied again in ``-DDP``'s spawned ranks
(:func:`applied_for_spawn`, carried by :mod:`studiogan_nda.hooks`).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from os.path import join
from typing import Any, TextIO

import torch
from torch.overrides import TorchFunctionMode

from nda_core.workarounds import Patch, Workaround, apply_workarounds, numpy_safe_globals, patch, patched
from nda_core.workarounds import applied as applied_names

__all__ = [
    "CudaToCpuMode",
    "numpy_safe_types",
    "upstream_workarounds",
    "cpu_workarounds",
    "cpu_ddp_workarounds",
    "apply",
    "applied_for_spawn",
    "filtered_stdout",
    "ONE_GPU_MESSAGE",
]

logger = logging.getLogger("studiogan_nda")
_TORCH_WEIGHTS_ONLY_DEFAULT = (2, 6)
_CKPT_STEP = re.compile(r"step=(\d+)")


# -- wandb.Image and StudioGAN's image batches --------------------------------------------------
def _wandb_image_rejects_batches() -> bool:
    try:
        import wandb
    except ImportError:
        return False
    if patched(wandb, "Image") is not None:
        return False
    try:
        wandb.Image(torch.zeros(2, 3, 4, 4))
    except Exception:  # noqa: BLE001 - any failure on a batch is the symptom
        return True
    return False


def _wandb_accepts_batches() -> Patch:
    import wandb

    def wrap(original: type) -> type:
        class Image(original):  # type: ignore[misc, valid-type]
            """``wandb.Image`` that turns a (N, C, H, W) tensor into one grid image first."""

            def __init__(self, data_or_path: Any, *args: Any, **kwargs: Any) -> None:
                if isinstance(data_or_path, torch.Tensor) and data_or_path.dim() == 4:
                    from PIL import Image as PILImage
                    from torchvision.utils import make_grid

                    grid = make_grid(data_or_path.detach().float().cpu(), normalize=True)
                    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
                    data_or_path = PILImage.fromarray(pixels)
                super().__init__(data_or_path, *args, **kwargs)

        Image.__qualname__ = Image.__name__ = "Image"
        return Image

    return patch(wandb, "Image", wrap)


# -- best checkpoint with -metrics none -----------------------------------------------------------
def _best_checkpoint_loader_unpatched() -> bool:
    try:
        import utils.ckpt as ckpt  # StudioGAN's
    except ImportError:
        return False
    return hasattr(ckpt, "load_best_model") and patched(ckpt, "load_best_model") is None


def _keep_weights_without_best_checkpoint() -> Patch:
    import utils.ckpt as ckpt  # StudioGAN's

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(original)
        def load_best_model(ckpt_dir: str, *args: Any, **kwargs: Any) -> Any:
            folder = glob.escape(str(ckpt_dir))
            if glob.glob(join(folder, "model=G-best-weights-step*.pth")) and glob.glob(
                join(folder, "model=D-best-weights-step*.pth")
            ):
                return original(ckpt_dir, *args, **kwargs)
            saved = glob.glob(join(folder, "model=D-current-weights-step=*.pth"))
            steps = [int(m.group(1)) for m in (_CKPT_STEP.search(os.path.basename(p)) for p in saved) if m]
            step = max(steps, default=0)
            logger.warning(
                f"studiogan_nda: no best checkpoint in {ckpt_dir} (StudioGAN writes one only when it "
                "evaluates metrics; "
                f"this run has -metrics none): keeping the weights in memory; last saved checkpoint: step {step}."
            )
            return step

        return load_best_model

    return patch(ckpt, "load_best_model", wrap)


# -- numpy scalars in weights_only checkpoints --------------------------------------------------------
#: numpy's scalar, array and dtype types, to allow explicitly in ``weights_only`` checkpoint loads
#: (nda_core's one list, which mmselfsup_nda's checkpoints use too).
numpy_safe_types = numpy_safe_globals


def _weights_only_rejects_numpy_scalars() -> bool:
    serialization = torch.serialization
    if not hasattr(serialization, "add_safe_globals"):
        return False
    version = tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2])
    if version < _TORCH_WEIGHTS_ONLY_DEFAULT:
        return False
    allowed = set(serialization.get_safe_globals()) if hasattr(serialization, "get_safe_globals") else set()
    return not all(t in allowed for t in numpy_safe_types())


def _allow_numpy_scalars() -> None:
    torch.serialization.add_safe_globals(numpy_safe_types())


# -- CPU smoke mode ---------------------------------------------------------------------------------
def _to_cpu(device: Any) -> Any:
    if isinstance(device, bool):
        return device
    if isinstance(device, int):
        return "cpu"  # a bare int is a CUDA device index
    if isinstance(device, str) and device.startswith("cuda"):
        return "cpu"
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    return device


class CudaToCpuMode(TorchFunctionMode):
    """Maps CUDA devices (``0``, ``"cuda:0"``, ``torch.device("cuda")``, ``.cuda()``) to the CPU."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.cuda:
            return args[0]
        if "device" in kwargs:
            kwargs = {**kwargs, "device": _to_cpu(kwargs["device"])}
        if func is torch.Tensor.to and len(args) > 1:
            args = (args[0], _to_cpu(args[1]), *args[2:])
        return func(*args, **kwargs)


_cpu_mode: list[CudaToCpuMode] = []


def _enter_cpu_mode() -> None:
    if not _cpu_mode:
        mode = CudaToCpuMode()
        mode.__enter__()  # for the rest of this (launcher) process
        _cpu_mode.append(mode)


def _answer_device_queries(devices: int = 1) -> None:
    torch.cuda.device_count = lambda: devices  # type: ignore[assignment]
    torch.cuda.current_device = lambda: 0  # type: ignore[assignment]
    # torch.cuda.is_available() consults device_count() when PYTORCH_NVML_BASED_CUDA_CHECK=1 (which
    # importing Lightning sets for child processes too); on the CPU it must stay False, or DataLoader
    # pins memory on a CUDA device that does not exist.
    torch.cuda.is_available = lambda: False  # type: ignore[assignment]


def _ignore_set_device() -> None:
    torch.cuda.set_device = lambda device: None  # type: ignore[assignment]


def _studiogan_ddp_takes_device_ids() -> bool:
    try:
        import models.model as model  # StudioGAN's
    except ImportError:
        return False
    return hasattr(model, "DDP") and patched(model, "DDP") is None


def _cpu_ddp_without_device_ids() -> Patch:
    import models.model as model  # StudioGAN's

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(original)
        def distributed_data_parallel(module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
            if all(p.device.type == "cpu" for p in module.parameters()):
                kwargs.pop("device_ids", None)
                kwargs.pop("output_device", None)
            return original(module, *args, **kwargs)

        return distributed_data_parallel

    return patch(model, "DDP", wrap)


#: StudioGAN's main.py line for a run on one device (``world_size == 1``).
ONE_GPU_MESSAGE = "You have chosen a specific GPU. This will completely disable data parallelism."
_dropped_lines: set[str] = set()  # lines that filtered_stdout() drops (filled by the workarounds)


class _WithoutLines:
    """A text stream that writes to ``stream`` all but the lines in ``lines`` (as ``print`` writes them)."""

    def __init__(self, stream: TextIO, lines: set[str]) -> None:
        self._stream, self._lines, self._drop_newline = stream, lines, False

    def write(self, text: str) -> int:
        drop_newline, self._drop_newline = self._drop_newline, False
        if text in self._lines:
            self._drop_newline = True  # print() writes the line, then "\n"
            return len(text)
        if (drop_newline and text == "\n") or text.rstrip("\n") in self._lines:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def filtered_stdout() -> Iterator[None]:
    """Within the block, standard output drops the lines that the applied workarounds name (none: unchanged)."""
    if not _dropped_lines:
        yield
        return
    saved = sys.stdout
    sys.stdout = _WithoutLines(saved, set(_dropped_lines))
    try:
        yield
    finally:
        sys.stdout = saved


def _drop_one_gpu_message() -> None:
    _dropped_lines.add(ONE_GPU_MESSAGE)


def _disable_wandb() -> None:
    os.environ["WANDB_MODE"] = "disabled"


def upstream_workarounds() -> list[Workaround]:
    """Fixes of StudioGAN problems with current wandb and torch (every mode)."""
    return [
        Workaround(
            "wandb-image-batch",
            "wandb.Image rejects StudioGAN's (N, C, H, W) canvas batch; it is logged as one make_grid image, "
            "as older wandb did.",
            _wandb_image_rejects_batches,
            _wandb_accepts_batches,
        ),
        Workaround(
            "best-checkpoint-without-metrics",
            "with -metrics none StudioGAN writes no best checkpoint but loads one after training (IndexError); "
            "without one the trained weights stay in memory.",
            _best_checkpoint_loader_unpatched,
            _keep_weights_without_best_checkpoint,
        ),
        Workaround(
            "numpy-scalars-in-checkpoints",
            "torch>=2.6 loads checkpoints weights_only; StudioGAN's ADA/APA save a numpy float, so numpy's scalar, "
            "array and dtype types are explicitly allowed (torch.serialization.add_safe_globals).",
            _weights_only_rejects_numpy_scalars,
            _allow_numpy_scalars,
        ),
    ]


def cpu_workarounds(devices: int = 1) -> list[Workaround]:
    """The CPU smoke mode's measures (``--cpu`` only); ``devices``: the device count main.py is told."""
    return [
        Workaround(
            "wandb-disabled-on-cpu",
            "CPU smoke mode: WANDB_MODE=disabled (set WANDB_MODE yourself to log to wandb).",
            lambda: "WANDB_MODE" not in os.environ,
            _disable_wandb,
        ),
        Workaround(
            "cuda-device-queries-on-cpu",
            f"CPU smoke mode: main.py's torch.cuda.device_count()/current_device() answer {devices} device(s), "
            f"the current one number 0; torch.cuda.is_available() stays False.",
            lambda: True,
            lambda: _answer_device_queries(devices),
        ),
        Workaround(
            "cuda-tensors-on-cpu",
            "CPU smoke mode: a torch function mode maps StudioGAN's CUDA devices (.to(0), device=0, .cuda()) "
            "to the CPU.",
            lambda: True,
            _enter_cpu_mode,
        ),
        Workaround(
            "one-gpu-message-on-cpu",
            "CPU smoke mode: main.py's 'You have chosen a specific GPU' (printed for one device, here the CPU) is "
            "dropped from standard output.",
            lambda: devices == 1,
            _drop_one_gpu_message,
        ),
    ]


def cpu_ddp_workarounds() -> list[Workaround]:
    """The CPU smoke mode's measures for ``-DDP`` (``--cpu -DDP``, in the launcher and in every rank)."""
    return [
        Workaround(
            "cuda-set-device-on-cpu",
            "CPU smoke mode with -DDP: StudioGAN's torch.cuda.set_device(local_rank) does nothing (no CUDA device).",
            lambda: True,
            _ignore_set_device,
        ),
        Workaround(
            "ddp-device-ids-on-cpu",
            "CPU smoke mode with -DDP: StudioGAN's DistributedDataParallel(module, device_ids=[local_rank]) leaves "
            "device_ids out for CPU modules (torch refuses them there).",
            _studiogan_ddp_takes_device_ids,
            _cpu_ddp_without_device_ids,
        ),
    ]


def apply(
    names: Iterable[str] | None = None, cpu: bool = False, log: logging.Logger | None = None, cpu_ranks: int = 1
) -> list[str]:
    """Apply the needed upstream workarounds and, with ``cpu``, the CPU ones (``cpu_ranks`` > 1: ``-DDP``'s too).

    With ``names`` (a spawned ``-DDP`` rank re-applying its launcher's list), only those of any kind.
    """
    if names is not None:
        wanted = set(names)
        every = cpu_workarounds(cpu_ranks) + cpu_ddp_workarounds() + upstream_workarounds()
        chosen = [w for w in every if w.name in wanted]
    else:
        chosen = upstream_workarounds()
        if cpu:
            chosen = cpu_workarounds(cpu_ranks) + (cpu_ddp_workarounds() if cpu_ranks > 1 else []) + chosen
    return [w.name for w in apply_workarounds(chosen, log or logger)]


def applied_for_spawn() -> list[str]:
    """Workarounds applied in this process, to re-apply in ``-DDP``'s spawned rank processes."""
    known = {w.name for w in upstream_workarounds() + cpu_workarounds() + cpu_ddp_workarounds()}
    return [name for name in applied_names() if name in known]
