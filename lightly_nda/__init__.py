"""lightly_nda: Negative Data Augmentation (Sinha et al., ICLR 2021) for the lightly SSL library.

Two lines change lightly's MoCo example (see docs/lightly.md)::

    from lightly_nda import NDANTXentLoss, nda_embeddings
    self.criterion = NDANTXentLoss(memory_bank_size=(4096, 128))          # was NTXentLoss
    loss = self.criterion(query, key, nda=nda_embeddings(self.forward_momentum, x_query, x_key))

or use the ready Lightning modules ``NDAMoCo`` / ``NDASimCLR``. Every NDA transform and the
memory-bank loss equation come from ``nda_core``; this package only translates.

Needs lightly: ``pip install 'nda-plugins[lightly]'``. The public names are imported on first
use, so that ``nda --help`` (which reads ``lightly_nda.cli``) does not import lightly.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

INSTALL_HINT = "pip install 'nda-plugins[lightly]'"
REQUIRED = ("lightly", "pytorch_lightning", "torchvision", "jsonargparse")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


_absent = [module for module in REQUIRED if _missing(module)]
if _absent:
    raise ImportError(
        f"lightly_nda needs {', '.join(_absent)} (lightly, pytorch-lightning, torchvision, "
        f"jsonargparse[signatures]): {INSTALL_HINT}"
    )

_EXPORTS = {
    "LOGIT_KEYS": "lightly_nda.loss",
    "NDANTXentLoss": "lightly_nda.loss",
    "NDAMoCo": "lightly_nda.moco",
    "NDASimCLR": "lightly_nda.simclr",
    "NDAView": "lightly_nda.transforms",
    "add_nda_views": "lightly_nda.transforms",
    "nda_embeddings": "lightly_nda.transforms",
    "cifar_resnet": "lightly_nda.backbones",
    "ImageFolderData": "lightly_nda.data",
}

__all__ = ["INSTALL_HINT", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lightly_nda' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
