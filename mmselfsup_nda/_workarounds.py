"""Workarounds of upstream bugs that stop stock mmselfsup 1.0.0 / mmpretrain 1.2 configs from training.

Each is an :class:`nda_core.workarounds.Workaround`: ``needed()`` looks for the symptom in the
installed versions (so a fixed release is left alone), ``apply()`` is idempotent, and
:func:`apply_all` applies the needed ones once per process and logs which and why through
mmengine's logger. ``NDA_WORKAROUNDS=off`` applies none of them; ``NDA_WORKAROUNDS=-name`` leaves
one out.

``mmselfsup-registry-locations`` (open-mmlab/mmselfsup#745)
    mmselfsup 1.0.0's ``RUNNERS``, ``RUNNER_CONSTRUCTORS`` and ``LOOPS`` registries name
    ``mmselfsup.engine.runner`` as the module to import before a lookup, but the wheel has no
    such module, so building the training loop raises ``ModuleNotFoundError`` for every config.
    The fix removes import locations that do not exist; lookups then fall through to mmengine's
    loops and runners, which is what mmselfsup intends (it defines none of its own).
``mmengine-collate-scope``
    A config that inherits across packages (``_base_ = ['mmselfsup::...']``) gets ``_scope_``
    added to every dict with a ``type``, including ``collate_fn=dict(type='default_collate')``;
    mmengine 0.10.7's ``Runner.build_dataloader`` then calls ``default_collate(batch,
    _scope_=...)`` and fails with ``TypeError``. The fix wraps ``build_dataloader`` to drop that
    key (collate functions live in mmengine's root ``FUNCTIONS`` registry, which has no scopes).
``mmcv-negative-hue``
    mmcv 2.0.1's ``adjust_hue`` shifts the hue channel by ``np.uint8(hue_factor * 255)``; numpy
    >= 2 refuses to convert a negative number to uint8 (``OverflowError``), so MoCo-v2's
    ``ColorJitter(hue=0.1)`` crashes on about half of the images. The fix replaces
    ``adjust_hue`` where mmcv and mmselfsup look it up with a version that turns a negative shift
    into the equivalent shift modulo 256 (the wrap-around uint8 arithmetic gave under numpy 1);
    non-negative shifts go to mmcv's own function unchanged.
``mmengine-checkpoint-types``
    torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7's checkpoints
    hold the message hub's ``HistoryBuffer`` and numpy values, so ``--resume`` and ``load_from``
    fail with ``UnpicklingError``. The fix wraps mmengine's local checkpoint loader so that it
    allows exactly those types (:mod:`mmselfsup_nda.checkpoints`); ``weights_only`` stays True and
    a file holding any other type is refused.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from functools import wraps
from types import ModuleType
from typing import Any

import numpy as np
from mmengine.registry import Registry
from mmengine.runner import Runner

from nda_core.workarounds import Patch, Workaround, apply_workarounds, patch, patched

__all__ = [
    "missing_registry_locations",
    "drop_missing_registry_locations",
    "strip_collate_scope",
    "fix_negative_hue_shift",
    "load_checkpoints_with_mmengine_types",
    "workarounds",
    "apply_all",
]

HUE_LEVELS = 256  # uint8 hue channel (cv2 HSV_FULL and Pillow HSV)
HUE_SCALE = 255  # mmcv maps hue_factor in [-0.5, 0.5] to a shift of hue_factor * 255
_COLOR_NDIM = 3
_HUE_MODULES = ("mmcv", "mmcv.image", "mmcv.image.photometric", "mmselfsup.datasets.transforms.processing")
_PROBE_HUE = -0.1

SCOPE_KEY = "_scope_"
_LOCAL_PATH = "checkpoint.pth"  # any local path selects mmengine's local loader
_LOCAL_PREFIX = ""  # the scheme prefix of mmengine's local loader


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _registries(registry_module: ModuleType) -> list[Registry]:
    return [value for value in vars(registry_module).values() if isinstance(value, Registry)]


def missing_registry_locations(registry_modules: list[ModuleType]) -> list[str]:
    """``"<registry>: <location>"`` for every import location that does not exist."""
    return [
        f"{registry.name}: {location}"
        for module in registry_modules
        for registry in _registries(module)
        for location in registry._locations
        if not _module_exists(location)
    ]


def drop_missing_registry_locations(registry_module: ModuleType) -> list[str]:
    """Remove import locations that do not exist from every registry in ``registry_module``.

    Returns the ``"<registry>: <location>"`` entries that were removed.
    """
    removed = []
    for registry in _registries(registry_module):
        kept = [location for location in registry._locations if _module_exists(location)]
        removed += [f"{registry.name}: {location}" for location in registry._locations if location not in kept]
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


def collate_scope_breaks_dataloaders() -> bool:
    """True when ``Runner.build_dataloader`` passes ``_scope_`` on to the collate function."""
    loader = Runner.build_dataloader(
        dict(
            dataset=[0, 1],
            sampler=dict(type="DefaultSampler", shuffle=False),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type="default_collate", _scope_="mmengine"),
        )
    )
    try:
        next(iter(loader))
    except TypeError:
        return True
    return False


def strip_collate_scope() -> Patch:
    """Make ``Runner.build_dataloader`` drop ``_scope_`` from a ``collate_fn`` dict (once; the
    returned :class:`~nda_core.workarounds.Patch` undoes it)."""

    def wrap(original: staticmethod) -> staticmethod:
        build = original.__func__

        @wraps(build)
        def build_dataloader(dataloader: Any, *args: Any, **kwargs: Any) -> Any:
            return build(_without_collate_scope(dataloader), *args, **kwargs)

        return staticmethod(build_dataloader)

    return patch(Runner, "build_dataloader", wrap)


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


def negative_hue_overflows() -> bool:
    """True when mmcv's ``adjust_hue`` raises ``OverflowError`` for a negative hue factor."""
    import mmcv.image.photometric as photometric

    try:
        photometric.adjust_hue(np.zeros((2, 2, _COLOR_NDIM), np.uint8), _PROBE_HUE, backend="cv2")
    except OverflowError:
        return True
    return False


def fix_negative_hue_shift() -> list[Patch]:
    """Route negative ``hue_factor`` values of mmcv's ``adjust_hue`` to a wrap-around shift, in
    every module that holds mmcv's function (once; the returned patches undo it)."""
    import mmcv.image.photometric as photometric

    def wrap(original: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        @wraps(original)
        def adjust_hue(img: np.ndarray, hue_factor: float, backend: str | None = None) -> np.ndarray:
            if hue_factor >= 0 or not -0.5 <= hue_factor or not isinstance(img, np.ndarray) or img.ndim != _COLOR_NDIM:
                return original(img, hue_factor, backend=backend)
            resolved = backend or photometric.imread_backend
            if resolved not in ("cv2", "pillow"):
                return original(img, hue_factor, backend=backend)  # raises mmcv's own error
            return _shift_hue(img, int(hue_factor * HUE_SCALE) % HUE_LEVELS, resolved)

        return adjust_hue

    fixed = patch(photometric, "adjust_hue", wrap)
    patches = [fixed]
    for name in _HUE_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if module is photometric:
            continue
        if vars(module).get("adjust_hue") is fixed.original or patched(module, "adjust_hue") is not None:
            patches.append(patch(module, "adjust_hue", lambda _: fixed.replacement))  # the same patch when applied
    return patches


def _local_loader() -> Any:
    from mmengine.runner.checkpoint import CheckpointLoader

    return CheckpointLoader._get_checkpoint_loader(_LOCAL_PATH)


def mmengine_refuses_its_own_checkpoints() -> bool:
    """True when mmengine's local loader cannot read back a checkpoint with message-hub state."""
    import torch
    from mmengine.logging import HistoryBuffer

    buffer = HistoryBuffer()
    buffer.update(1.0)
    probe = {"message_hub": {"log_scalars": {"train/loss": buffer}, "runtime_info": {"eta": np.float64(1.0)}}}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, _LOCAL_PATH)
        torch.save(probe, path)
        try:
            _local_loader()(path, "cpu")
        except pickle.UnpicklingError:
            return True
    return False


def load_checkpoints_with_mmengine_types() -> Patch:
    """Put mmengine's local loader, wrapped by :class:`mmselfsup_nda.checkpoints.SafeCheckpointLoader`
    (weights_only with mmengine's types), into ``CheckpointLoader``'s scheme table (once; the
    returned patch puts mmengine's own table back)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmselfsup_nda.checkpoints import SafeCheckpointLoader

    def wrap(schemes: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        # a copy in mmengine's order (longest prefix first); only the local ("") entry changes
        return type(schemes)(
            (prefix, SafeCheckpointLoader(loader) if prefix == _LOCAL_PREFIX else loader)
            for prefix, loader in schemes.items()
        )

    return patch(CheckpointLoader, "_schemes", wrap)


def workarounds(registry_modules: list[ModuleType]) -> list[Workaround]:
    """The mmselfsup/mmpretrain workarounds, for the registries in ``registry_modules``."""

    def drop_locations() -> None:
        for module in registry_modules:
            drop_missing_registry_locations(module)

    return [
        Workaround(
            "mmselfsup-registry-locations",
            "registries name import locations that do not exist (open-mmlab/mmselfsup#745: "
            "mmselfsup.engine.runner), so no training loop can be built; removed them so that lookups "
            "fall through to mmengine's loops.",
            lambda: bool(missing_registry_locations(registry_modules)),
            drop_locations,
        ),
        Workaround(
            "mmengine-collate-scope",
            "Runner.build_dataloader passes the _scope_ key of a cross-package config's collate_fn to the "
            "collate function (TypeError); the key is now dropped.",
            collate_scope_breaks_dataloaders,
            strip_collate_scope,
        ),
        Workaround(
            "mmcv-negative-hue",
            "mmcv's adjust_hue computes np.uint8 of a negative hue shift, which numpy >= 2 refuses "
            "(OverflowError in ColorJitter(hue=...)); negative shifts now wrap around modulo 256 as under numpy 1.",
            negative_hue_overflows,
            fix_negative_hue_shift,
        ),
        Workaround(
            "mmengine-checkpoint-types",
            "torch >= 2.6 loads with weights_only=True and mmengine's checkpoints hold its message hub's "
            "HistoryBuffer and numpy values (--resume, load_from fail); local checkpoints now load with "
            "weights_only=True and exactly those types allowed.",
            mmengine_refuses_its_own_checkpoints,
            load_checkpoints_with_mmengine_types,
        ),
    ]


def _mmengine_logger() -> logging.Logger:
    from mmengine.logging import MMLogger

    return MMLogger.get_current_instance()


def apply_all(registry_modules: list[ModuleType]) -> list[str]:
    """Apply the needed workarounds once per process (``NDA_WORKAROUNDS`` switches them off);
    log which and why through mmengine's logger; return the names applied by this call."""
    return [w.name for w in apply_workarounds(workarounds(registry_modules), _mmengine_logger())]
