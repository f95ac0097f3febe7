"""Run folders and checkpoints: what the adapters' training commands share.

Pure Python and torch (no Lightning import), used by ``lightly_nda`` and ``video_dpc``:

* :func:`refuse_finished_run`: a new run never replaces an earlier run's checkpoints; a command
  that would write into a checkpoint folder that already holds some refuses (``ValueError``,
  a usage error) unless it resumes.
* :func:`checkpoint_step`: the optimiser step a checkpoint was saved at (read ``weights_only``).
* :func:`refuse_idle_run`: a run that did no optimisation step is an error, not a success.
* :func:`contained_checkpoint_state`: a copy of Lightning's ``ModelCheckpoint`` state in which
  every stored path lies inside the run's checkpoint folder. ``ModelCheckpoint`` deletes the
  files (recursively) that its restored ``best_model_path`` / ``last_model_path`` /
  ``best_k_models`` / ``kth_best_model_path`` name when it saves the next checkpoint, and
  Lightning 2.6.6's "inside the folder" test uses ``Path.absolute()``, which keeps ``..``; a
  checkpoint that ``weights_only=True`` loads can therefore name ``<run>/checkpoints/../../x`` and
  have ``x`` deleted on resume. The adapters pass the state through this function first.
* ``RunCheckpoint``: that ``ModelCheckpoint`` for the Lightning adapters, built on first access
  (``from nda_core.runs import RunCheckpoint``), so importing this module never imports Lightning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from nda_core.errors import UsageError

__all__ = [
    "CHECKPOINT_SUFFIX",
    "contained_checkpoint_state",
    "checkpoint_step",
    "existing_checkpoints",
    "is_inside",
    "refuse_finished_run",
    "refuse_idle_run",
    "RunCheckpoint",  # noqa: F822 (provided lazily by the module __getattr__)
]

CHECKPOINT_SUFFIX = ".ckpt"
#: ModelCheckpoint's file for ``save_last=True`` (``CHECKPOINT_NAME_LAST`` + ``FILE_EXTENSION``).
DEFAULT_LAST_NAME = "last" + CHECKPOINT_SUFFIX
#: ModelCheckpoint state keys that name one checkpoint file.
_SINGLE_PATH_KEYS = ("best_model_path", "last_model_path", "kth_best_model_path")
#: State keys of the top-k record (paths and the scores that belong to them).
_TOP_K_KEYS = ("best_k_models", "kth_best_model_path", "kth_value", "best_model_path", "best_model_score")
_LISTED_FILES = 3


def existing_checkpoints(folder: str | Path, suffix: str = CHECKPOINT_SUFFIX) -> list[Path]:
    """Checkpoint files (``*suffix``) directly in ``folder``, sorted; ``[]`` when it does not exist."""
    folder = Path(folder)
    return sorted(path for path in folder.glob(f"*{suffix}") if path.is_file()) if folder.is_dir() else []


def refuse_finished_run(folder: str | Path, option: str, value: Any, resume_hint: str) -> None:
    """Raise :class:`~nda_core.errors.UsageError` when the checkpoint ``folder`` already holds a run's checkpoints.

    ``option`` / ``value`` name the command-line option that chose the folder
    (``--trainer.default_root_dir DIR``), ``resume_hint`` how to continue that run instead (``--ckpt_path last``).
    """
    found = existing_checkpoints(folder)
    if not found:
        return
    names = ", ".join(path.name for path in found[:_LISTED_FILES]) + (", ..." if len(found) > _LISTED_FILES else "")
    raise UsageError(
        f"{option} {value} already holds a run's checkpoints ({Path(folder)}/: {names}); a new run would replace "
        f"them. Continue that run with {resume_hint}, or pass another {option} (nothing was written)."
    )


def checkpoint_step(path: str | Path) -> int:
    """The ``global_step`` stored in a Lightning checkpoint (0 when it has none).

    Loaded ``weights_only`` and memory-mapped, so that the tensors are not read.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    step = checkpoint.get("global_step", 0) if isinstance(checkpoint, Mapping) else 0
    return int(step)


def refuse_idle_run(start_step: int, end_step: int, max_steps: int | None, max_option: str, otherwise: str) -> None:
    """Raise :class:`~nda_core.errors.UsageError` when a run ended at the step it started from (it did nothing).

    ``max_option`` names the step limit (``--trainer.max_steps``); ``otherwise`` says what to change when
    the limit was not the reason (the data gave no full batch, another limit was reached).
    """
    if end_step > start_step:
        return
    if max_steps is not None and max_steps >= 0 and start_step >= max_steps:
        why = (
            f"the resumed checkpoint is already at step {start_step} and {max_option} is {max_steps}; raise "
            f"{max_option} to train further"
        )
    else:
        why = otherwise
    raise UsageError(f"the run did no optimisation step (step {start_step} -> {end_step}): {why}.")


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` resolves (symbolic links and ``..`` followed) strictly inside ``folder``."""
    return Path(folder).resolve() in Path(path).resolve().parents


def contained_checkpoint_state(
    state: Mapping[str, Any], folder: str | Path, source: str = "checkpoint", last_name: str = DEFAULT_LAST_NAME
) -> dict[str, Any]:
    """A copy of a ``ModelCheckpoint`` state dict with every stored path inside ``folder``.

    ``best_model_path``, ``last_model_path``, ``kth_best_model_path`` and the keys of
    ``best_k_models`` must resolve (``Path.resolve()``: ``..`` and symbolic links followed)
    strictly inside ``folder``, the run's checkpoint folder; the others are dropped with a
    warning naming them: ``last_model_path`` becomes ``folder/last_name`` (the file the callback
    writes and resumes from; with ``""`` it would write ``last-v1.ckpt`` beside it), and a path of
    the top-k record drops that whole record (``best_k_models`` ``{}``, ``best_model_path`` ``""``,
    ``best_model_score`` ``None``, ``kth_best_model_path`` / ``kth_value`` left to the callback's
    defaults), so that the callback deletes no file it did not write in this folder. Empty paths
    (nothing saved yet) stay as they are.
    """
    cleaned = dict(state)
    dropped = [(key, value) for key, value in _stored_paths(state) if not _acceptable(value, folder)]
    if not dropped:
        return cleaned
    keys = {key for key, _ in dropped}
    if "last_model_path" in keys:
        cleaned["last_model_path"] = str(Path(folder) / last_name)
    if keys & set(_TOP_K_KEYS):
        for key in ("kth_best_model_path", "kth_value"):
            cleaned.pop(key, None)
        if "best_k_models" in cleaned:
            cleaned["best_k_models"] = {}
        cleaned["best_model_path"] = ""
        cleaned["best_model_score"] = None
    listed = "; ".join(f"{key}={value!r}" for key, value in dropped)
    warnings.warn(
        f"{source}: dropped stored checkpoint paths outside the run's checkpoint folder {Path(folder).resolve()} "
        f"({listed}); Lightning's ModelCheckpoint would delete them when it saves the next checkpoint. Nothing was "
        f"deleted; check where this checkpoint came from.",
        UserWarning,
        stacklevel=2,
    )
    return cleaned


def _stored_paths(state: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key in _SINGLE_PATH_KEYS:
        if key in state:
            yield key, state[key]
    models = state.get("best_k_models")
    if isinstance(models, Mapping):
        for path in models:
            yield "best_k_models", path
    elif models is not None:
        yield "best_k_models", models


def _acceptable(value: Any, folder: str | Path) -> bool:
    """Empty (no file yet) or a path that resolves inside ``folder``."""
    if value is None or value == "":
        return True
    if not isinstance(value, (str, Path)) or "://" in str(value):
        return False  # not a local path: ModelCheckpoint would delete it without any folder check
    return is_inside(value, folder)


def _run_checkpoint_class() -> type:
    from pytorch_lightning.callbacks import ModelCheckpoint

    class RunCheckpoint(ModelCheckpoint):
        """Lightning's ``ModelCheckpoint`` that, on resume, restores only stored paths inside its own folder.

        ``ModelCheckpoint`` deletes the files its restored state names when it saves the next
        checkpoint; paths resolving outside ``dirpath`` are dropped with a warning first
        (:func:`contained_checkpoint_state`). Its state key stays ``ModelCheckpoint``'s, so
        checkpoints written before or by a plain ``ModelCheckpoint`` resume the same.
        """

        def _generate_state_key(self, **kwargs: Any) -> str:
            return f"{ModelCheckpoint.__qualname__}{kwargs!r}"

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            super().load_state_dict(contained_checkpoint_state(state_dict, self.dirpath, "resumed checkpoint"))

    RunCheckpoint.__module__, RunCheckpoint.__qualname__ = __name__, "RunCheckpoint"  # picklable by name (ddp_spawn)
    return RunCheckpoint


def __getattr__(name: str) -> Any:
    """``RunCheckpoint`` is made on first access: only the Lightning adapters import Lightning."""
    if name == "RunCheckpoint":
        globals()[name] = cls = _run_checkpoint_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
