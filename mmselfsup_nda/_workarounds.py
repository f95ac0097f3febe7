"""Workarounds for upstream bugs that stop stock mmselfsup 1.0.0 configs from training here.

1. Missing registry location (open-mmlab/mmselfsup#745). mmselfsup 1.0.0's ``RUNNERS``,
   ``RUNNER_CONSTRUCTORS`` and ``LOOPS`` registries name ``mmselfsup.engine.runner`` as the
   module to import before a lookup, but the wheel has no such module, so building the
   training loop raises ``ModuleNotFoundError`` for every config. :func:`drop_missing_registry_locations`
   removes import locations that do not exist; lookups then fall through to mmengine's own
   loops and runners, which is what mmselfsup intends (it defines none of its own).

2. ``_scope_`` passed to the collate function. A config that inherits across packages
   (``_base_ = ['mmselfsup::...']``) gets ``_scope_`` added to every dict with a ``type``,
   including ``collate_fn=dict(type='default_collate')``; mmengine's
   ``Runner.build_dataloader`` then calls ``default_collate(batch, _scope_=...)`` and fails
   with ``TypeError``. :func:`strip_collate_scope` wraps ``build_dataloader`` to drop that key
   (collate functions live in mmengine's root ``FUNCTIONS`` registry, which has no scopes).

3. Negative hue jitter under numpy 2. mmcv 2.0.1's ``adjust_hue`` shifts the hue channel by
   ``np.uint8(hue_factor * 255)``; numpy >= 2 refuses to convert a negative number to uint8
   (``OverflowError: Python integer -5 out of bounds for uint8``), so MoCo-v2's
   ``ColorJitter(hue=0.1)`` crashes on about half of the images. :func:`fix_negative_hue_shift`
   replaces ``adjust_hue`` where mmcv, mmcls, mmselfsup and mmpretrain look it up with a version
   that turns a negative shift into the equivalent shift modulo 256 (the wrap-around that uint8
   arithmetic gave under numpy 1); non-negative shifts go to mmcv's own function unchanged.

4. Resuming under torch >= 2.6. ``torch.load`` now defaults to ``weights_only=True``, but
   mmengine 0.10.7 loads local checkpoints with a bare ``torch.load`` while its own checkpoints
   hold the message hub's ``HistoryBuffer`` and numpy arrays: ``--resume`` and ``load_from``
   fail with ``UnpicklingError: Weights only load failed``. :func:`load_local_checkpoints_fully`
   registers, through mmengine's ``CheckpointLoader.register_scheme`` extension point, a local
   loader that passes ``weights_only=False`` -- mmengine's behaviour before torch 2.6. As then,
   load only checkpoints you trust (ones your own runs wrote).

All are idempotent and leave configs without these problems untouched.
"""

from __future__ import annotations

import copy
import importlib.util
from functools import wraps
from typing import Any

import numpy as np
from mmengine.registry import Registry
from mmengine.runner import Runner

__all__ = [
    "drop_missing_registry_locations",
    "strip_collate_scope",
    "fix_negative_hue_shift",
    "load_local_checkpoints_fully",
    "apply_all",
]

HUE_LEVELS = 256  # uint8 hue channel (cv2 HSV_FULL and Pillow HSV)
HUE_SCALE = 255  # mmcv maps hue_factor in [-0.5, 0.5] to a shift of hue_factor * 255
_COLOR_NDIM = 3
_HUE_MODULES = ("mmcv", "mmcv.image", "mmcv.image.photometric", "mmselfsup.datasets.transforms.processing")

SCOPE_KEY = "_scope_"
_PATCH_MARKER = "_nda_plugins_strips_collate_scope"


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def drop_missing_registry_locations(registry_module: Any) -> list[str]:
    """Remove import locations that do not exist from every registry in ``registry_module``.

    Returns the ``"<registry>: <location>"`` entries that were removed.
    """
    removed = []
    for registry in vars(registry_module).values():
        if not isinstance(registry, Registry):
            continue
        kept = [location for location in registry._locations if _module_exists(location)]
        removed += [f"{registry.name}: {loc}" for loc in registry._locations if loc not in kept]
        registry._locations = kept
    return removed


def _without_collate_scope(dataloader: Any) -> Any:
    if not isinstance(dataloader, dict):
        return dataloader
    collate_fn = dataloader.get("collate_fn")
    if not isinstance(collate_fn, dict) or SCOPE_KEY not in collate_fn:
        return dataloader
    dataloader = copy.copy(dataloader)
    collate_fn = dict(collate_fn)
    collate_fn.pop(SCOPE_KEY)
    dataloader["collate_fn"] = collate_fn
    return dataloader


def strip_collate_scope() -> None:
    """Make ``Runner.build_dataloader`` drop ``_scope_`` from a ``collate_fn`` dict."""
    original = Runner.__dict__["build_dataloader"].__func__
    if getattr(original, _PATCH_MARKER, False):
        return

    @wraps(original)
    def build_dataloader(dataloader: Any, *args: Any, **kwargs: Any) -> Any:
        return original(_without_collate_scope(dataloader), *args, **kwargs)

    setattr(build_dataloader, _PATCH_MARKER, True)
    Runner.build_dataloader = staticmethod(build_dataloader)


def _shift_hue(img: np.ndarray, shift: int, backend: str) -> np.ndarray:
    """Add ``shift`` (0..255) to the uint8 hue channel of a BGR image, wrapping around."""
    if backend == "pillow":
        from PIL import Image

        hue, saturation, value = Image.fromarray(np.ascontiguousarray(img[..., ::-1])).convert("HSV").split()
        hue = Image.fromarray(((np.asarray(hue, dtype=np.int64) + shift) % HUE_LEVELS).astype(np.uint8), "L")
        rgb = Image.merge("HSV", (hue, saturation, value)).convert("RGB")
        return np.asarray(rgb, dtype=img.dtype)[..., ::-1]
    import cv2

    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int64) + shift) % HUE_LEVELS).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


def fix_negative_hue_shift() -> None:
    """Route negative ``hue_factor`` values of mmcv's ``adjust_hue`` to a wrap-around shift."""
    import importlib

    import mmcv.image.photometric as photometric

    original = photometric.adjust_hue
    if getattr(original, _PATCH_MARKER, False):
        return

    @wraps(original)
    def adjust_hue(img: np.ndarray, hue_factor: float, backend: str | None = None) -> np.ndarray:
        if hue_factor >= 0 or not -0.5 <= hue_factor or not isinstance(img, np.ndarray) or img.ndim != _COLOR_NDIM:
            return original(img, hue_factor, backend=backend)
        resolved = backend or photometric.imread_backend
        if resolved not in ("cv2", "pillow"):
            return original(img, hue_factor, backend=backend)  # raises mmcv's own error
        return _shift_hue(img, int(hue_factor * HUE_SCALE) % HUE_LEVELS, resolved)

    setattr(adjust_hue, _PATCH_MARKER, True)
    for name in _HUE_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "adjust_hue", None) is original:
            module.adjust_hue = adjust_hue


def load_from_local_checkpoint(filename: str, map_location: Any = None) -> Any:
    """mmengine's local checkpoint loader with ``weights_only=False`` (its pre-torch-2.6 behaviour)."""
    import os.path

    import torch

    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename!r} can not be found; pass the path of a .pth file.")
    return torch.load(filename, map_location=map_location, weights_only=False)


def load_local_checkpoints_fully() -> None:
    """Register :func:`load_from_local_checkpoint` as mmengine's loader for local paths."""
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes="", loader=load_from_local_checkpoint, force=True)


def apply_all(registry_modules: list[Any]) -> None:
    """Apply the workarounds (registry locations of each module in ``registry_modules``)."""
    for module in registry_modules:
        drop_missing_registry_locations(module)
    strip_collate_scope()
    fix_negative_hue_shift()
    load_local_checkpoints_fully()
