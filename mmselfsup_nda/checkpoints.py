"""Loading mmengine checkpoints with ``torch.load(weights_only=True)`` and an explicit list of types.

torch >= 2.6 loads with ``weights_only=True`` by default: the unpickler then builds only tensors,
plain containers and the types on an allow-list, so a checkpoint cannot run code while it loads.
mmengine 0.10.7 checkpoints also hold the message hub's state (``HistoryBuffer`` objects with numpy
arrays, numpy scalars such as the ETA), so mmengine's own ``--resume`` and ``load_from`` fail with
``UnpicklingError: Weights only load failed``.

:func:`safe_checkpoint_loader` wraps mmengine's local checkpoint loader so that, during that one
load, exactly the types mmengine's own checkpoints hold are allowed (:func:`checkpoint_globals`,
found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints written by
mmselfsup's and mmpretrain's Runner; the numpy part is nda_core's one list), ``weights_only``
stays at torch's default (True), and any other type is refused with an error that says why and
how to load a file you trust on purpose.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from functools import update_wrapper
from typing import Any

import torch
from mmengine.logging import HistoryBuffer

from nda_core.workarounds import numpy_safe_globals

__all__ = [
    "HISTORY_BUFFER_STATISTICS",
    "SafeCheckpointLoader",
    "TRUST_ENV_VAR",
    "checkpoint_globals",
    "safe_checkpoint_loader",
]

#: torch's own switch that turns ``weights_only`` off where the caller did not set it (mmengine does not).
TRUST_ENV_VAR = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
#: The statistics methods a pickled ``HistoryBuffer`` names (``getattr(HistoryBuffer, name)``).
HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")


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

    ``HistoryBuffer``; numpy's arrays, scalars and dtypes (the one list of every adapter,
    :func:`nda_core.workarounds.numpy_safe_globals`); ``getattr`` restricted to
    ``HistoryBuffer``'s statistics.
    """
    return [HistoryBuffer, *numpy_safe_globals(), (_history_buffer_statistic, "builtins.getattr")]


def _refusal(filename: str, error: Exception) -> str:
    text = str(error)
    detail = re.search(
        r"WeightsUnpickler error:\s*(.+?)(?:\s+Please use|\s*\n\s*\nCheck the documentation|$)", text, re.S
    )
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


class SafeCheckpointLoader:
    """An mmengine checkpoint loader ``loader(filename, map_location)`` that, during the call,
    allows :func:`checkpoint_globals` (``weights_only`` is left at torch's default, True since
    torch 2.6) and turns a refusal into an error that names the file, the type and the way out.

    ``loader`` is kept as ``__wrapped__``; wrapping a ``SafeCheckpointLoader`` again returns the same kind.
    """

    def __init__(self, loader: Callable[..., Any]) -> None:
        loader = loader.__wrapped__ if isinstance(loader, SafeCheckpointLoader) else loader
        update_wrapper(self, loader)  # __name__ (mmengine logs it), __doc__, __wrapped__

    def __call__(self, filename: str, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
        with torch.serialization.safe_globals(checkpoint_globals()):
            try:
                return self.__wrapped__(filename, map_location, *args, **kwargs)
            except pickle.UnpicklingError as error:
                raise pickle.UnpicklingError(_refusal(os.fspath(filename), error)) from None

    def __repr__(self) -> str:
        return f"SafeCheckpointLoader({self.__wrapped__!r})"


def safe_checkpoint_loader(loader: Callable[..., Any]) -> SafeCheckpointLoader:
    """``loader`` wrapped as a :class:`SafeCheckpointLoader` (once: a wrapped loader is not wrapped again)."""
    return loader if isinstance(loader, SafeCheckpointLoader) else SafeCheckpointLoader(loader)
