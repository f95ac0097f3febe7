"""Loading mmengine checkpoints with ``torch.load(weights_only=True)`` and an explicit list of types.

torch >= 2.6 loads with ``weights_only=True`` by default: the unpickler then builds only tensors,
plain containers and the types on an allow-list, so a checkpoint cannot run code while it loads.
mmengine 0.10.7 checkpoints also hold the message hub's state (``HistoryBuffer`` objects with numpy
arrays, numpy scalars such as the ETA), so mmengine's own ``--resume`` and ``load_from`` fail with
``UnpicklingError: Weights only load failed``.

:func:`safe_checkpoint_loader` wraps mmengine's local checkpoint loader so that, during that one
load, exactly the types mmengine's own checkpoints hold are allowed (:func:`checkpoint_globals`,
found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints written by
mmselfsup's and mmpretrain's Runner), ``weights_only`` stays at torch's default (True), and any other
type is refused with an error that says why and how to load a file you trust on purpose.
"""

from __future__ import annotations

import os
import pickle
import re
from functools import wraps
from typing import Any, Callable

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = [
    "HISTORY_BUFFER_STATISTICS",
    "TRUST_ENV_VAR",
    "checkpoint_globals",
    "safe_checkpoint_loader",
]

#: torch's own switch that turns ``weights_only`` off where the caller did not set it (mmengine does not).
TRUST_ENV_VAR = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
#: The statistics methods a pickled ``HistoryBuffer`` names (``getattr(HistoryBuffer, name)``).
HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")
#: numpy dtypes a message hub stores: bool, signed and unsigned integers, floats.
_NUMERIC_DTYPE_CODES = "?bhilqBHILQefd"
_MARKER = "_nda_plugins_checkpoint_types"


def _history_buffer_statistic(owner: Any, name: str) -> Callable:
    """``getattr`` as an mmengine checkpoint uses it, and nothing else.

    A ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; a
    general ``builtins.getattr`` would let a file reach any attribute of any allowed object.
    """
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f"checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer's statistics methods "
        f"{list(HISTORY_BUFFER_STATISTICS)} are allowed."
    )


def checkpoint_globals() -> list[Any]:
    """The allow-list for ``torch.serialization.safe_globals``: what mmengine checkpoints hold.

    ``HistoryBuffer``; numpy arrays (``_reconstruct``, ``ndarray``, ``dtype`` and the numeric dtype
    classes), numpy scalars (``scalar``), under numpy 2's and numpy 1's module names so that
    checkpoints written under either load; ``getattr`` restricted to ``HistoryBuffer``'s statistics.
    """
    array_rebuild = np.ndarray((0,)).__reduce__()[0]  # numpy's _reconstruct, whatever its module
    scalar_rebuild = np.float64(0).__reduce__()[0]  # numpy's scalar
    by_name = [
        (function, f"numpy.{core}.multiarray.{function.__name__}")
        for function in (array_rebuild, scalar_rebuild)
        for core in ("_core", "core")
    ]
    dtypes = dict.fromkeys(type(np.dtype(code)) for code in _NUMERIC_DTYPE_CODES)  # numpy < 1.25: np.dtype
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        *[dtype for dtype in dtypes if dtype is not np.dtype],
        *by_name,
        (_history_buffer_statistic, "builtins.getattr"),
    ]


def _refusal(filename: str, error: Exception) -> str:
    text = str(error)
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\s+Please use|\s*\n\s*\nCheck the documentation|$)", text, re.S)
    what = " ".join((detail.group(1) if detail else text.splitlines()[0]).split())
    what = what if what.endswith(".") else what + "."
    return (
        f"nda-plugins refused to load checkpoint {filename!r}: {what} mmengine checkpoints load with "
        f"torch.load(weights_only=True), which allows tensors, plain containers and the types mmengine's own "
        f"checkpoints hold (HistoryBuffer, numpy arrays, dtypes and scalars); unpickling any other type can run "
        f"code. If you trust this file (for example one your own older run wrote), load it on purpose: run that "
        f"one command with {TRUST_ENV_VAR}=1 (torch then unpickles everything in the file), or allow the one "
        f"type it needs with torch.serialization.add_safe_globals([...]) before training."
    )


def safe_checkpoint_loader(loader: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an mmengine checkpoint loader ``loader(filename, map_location)``: during the call, allow
    :func:`checkpoint_globals` (``weights_only`` is left at torch's default, True since torch 2.6)
    and turn a refusal into an error that names the file, the type and the way out."""
    if getattr(loader, _MARKER, False):
        return loader

    @wraps(loader)
    def load(filename: str, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        with torch.serialization.safe_globals(checkpoint_globals()):
            try:
                return loader(filename, map_location, *args, **kwargs)
            except pickle.UnpicklingError as error:
                raise pickle.UnpicklingError(_refusal(os.fspath(filename), error)) from None

    setattr(load, _MARKER, True)
    return load
