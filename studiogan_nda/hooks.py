"""Plugging NDA into an unmodified StudioGAN: its ``Configurations`` and ``WORKER`` classes.

:func:`install` (StudioGAN's ``src/`` must be importable, see :mod:`studiogan_nda.checkout`)
wraps six methods, leaving StudioGAN's files untouched:

* ``Configurations.load_base_cfgs``: after StudioGAN's defaults, adds ``LOSS.apply_nda``
  (False), ``LOSS.nda_lambda`` (0.25) and ``LOSS.nda`` (jigsaw, k=2), so a YAML can set them
  (StudioGAN raises ``AttributeError`` for keys it does not know). It warns instead of
  overwriting when StudioGAN itself ever defines one of these keys.
* ``Configurations._overwrite_cfgs``: before StudioGAN's own reader, refuses a section or key that
  StudioGAN does not define with a ``UsageError`` that names the closest one (StudioGAN's own
  ``AttributeError`` says only that the key does not exist); after it, applies the launcher's
  ``--set SECTION.key=VALUE`` overrides (:func:`set_overrides`).
* ``Configurations.check_compatability``: checks the NDA keys first (``UsageError``s naming the fix),
  then runs StudioGAN's own checks.
* ``WORKER.__init__``: after StudioGAN's constructor, :func:`studiogan_nda.objective.attach`
  gives the worker the NDA discriminator objective when ``apply_nda`` is True.
* ``WORKER.train_generator`` / ``train_discriminator``: after the last update of the run's last
  step (``current_step == total_steps``), rank 0 saves that step with StudioGAN's own
  ``WORKER.save`` unless StudioGAN saves it itself (``--save_freq`` divides it). StudioGAN saves
  only every ``--save_freq`` steps (default 2000), so a shorter run, or the steps after its last
  multiple, would otherwise leave no checkpoint of the trained weights; Lightning saves at the end
  of training too.

With ``apply_nda: False`` nothing else changes: StudioGAN's own loss functions, augmentation and
random number stream run as before, bit for bit.

``torch.multiprocessing.spawn`` (StudioGAN's ``-DDP``) starts fresh interpreters that know
nothing of these wrappers; the config object carries a small token whose unpickling re-installs
them (and the launcher's needed workarounds) in every worker process before it builds its model.
"""

from __future__ import annotations

import copy
import importlib
import logging
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from nda_core.workarounds import Patch, patch, patched
from studiogan_nda import INSTALL_HINT
from studiogan_nda.settings import NDA_KEYS, check_keys, check_nda_settings, read_yaml

__all__ = ["install", "uninstall", "is_installed", "final_step", "known_keys", "set_overrides", "SPAWN_ATTRIBUTE"]

logger = logging.getLogger("studiogan_nda")

#: Attribute of StudioGAN's Configurations object that carries the hooks into spawned workers.
SPAWN_ATTRIBUTE = "_nda_plugins_reinstall"
_patches: list[Patch] = []  # in the order applied
_overrides: list[tuple[str, str, Any]] = []  # the launcher's --set, applied after the YAML


class _ReinstallOnUnpickle:
    """Pickled with StudioGAN's config into ``-DDP`` worker processes; unpickling re-installs the hooks."""

    def __init__(self, source: str, workarounds: tuple[str, ...] = ()) -> None:
        self.source = source
        self.workarounds = workarounds

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _reinstall, (self.source, self.workarounds)

    def __repr__(self) -> str:
        return f"<studiogan_nda hooks for {self.source}>"


def _reinstall(source: str, workarounds: tuple[str, ...] = ()) -> _ReinstallOnUnpickle:
    from studiogan_nda import checkout

    if source not in sys.path:
        checkout.add_to_path(Path(source).parent)
    install()
    if workarounds:
        from studiogan_nda import workarounds as studiogan_workarounds

        studiogan_workarounds.apply(workarounds)
    return _ReinstallOnUnpickle(source, workarounds)


def _studiogan_modules() -> tuple[Any, Any]:
    try:
        config = importlib.import_module("config")
        worker = importlib.import_module("worker")
    except ImportError as error:
        raise ImportError(
            f"StudioGAN's modules failed to import ({error}); install its dependencies with {INSTALL_HINT} and "
            f"put its src/ on sys.path (studiogan_nda.checkout.add_to_path)."
        ) from error
    if not hasattr(config, "Configurations") or not hasattr(worker, "WORKER"):
        raise ImportError(
            f"the modules 'config' ({config.__file__}) and 'worker' ({worker.__file__}) are not StudioGAN's; put "
            f"StudioGAN's src/ first on sys.path (studiogan_nda.checkout.add_to_path)."
        )
    return config, worker


def _patch(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    applied = patch(cls, name, lambda original: wraps(original)(make(original)))
    if applied not in _patches:
        _patches.append(applied)


def _add_nda_keys(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_base_cfgs(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        for key, default in NDA_KEYS.items():
            if hasattr(self.LOSS, key):
                warnings.warn(
                    f"StudioGAN's Configurations already defines LOSS.{key}; studiogan_nda keeps StudioGAN's "
                    f"default {getattr(self.LOSS, key)!r} instead of its own {default!r}.",
                    stacklevel=2,
                )
                continue
            setattr(self.LOSS, key, copy.deepcopy(default))
        source = str(Path(importlib.import_module("config").__file__).resolve().parent)
        from studiogan_nda import workarounds as studiogan_workarounds

        setattr(self, SPAWN_ATTRIBUTE, _ReinstallOnUnpickle(source, tuple(studiogan_workarounds.applied_for_spawn())))
        return result

    return load_base_cfgs


def _sections_of(cfgs: Any) -> dict[str, set[str]]:
    return {name: set(vars(section)) for name, section in cfgs.super_cfgs.items()}


def known_keys() -> dict[str, set[str]]:
    """StudioGAN's config sections and their keys (with the NDA keys), from its own ``load_base_cfgs``
    (StudioGAN's modules are imported; :func:`studiogan_nda.settings.declared_keys` reads them without)."""
    config, _ = _studiogan_modules()
    defaults = object.__new__(config.Configurations)  # only the defaults: no YAML read, no module built
    defaults.load_base_cfgs()
    known = _sections_of(defaults)
    known["LOSS"] |= set(NDA_KEYS)
    return known


def set_overrides(settings: list[tuple[str, str, Any]]) -> None:
    """``(section, key, value)`` entries that every config read in this process gets after its YAML (``--set``)."""
    _overrides[:] = list(settings)


def _check_keys_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def _overwrite_cfgs(self: Any, cfg_file: str) -> Any:
        known = _sections_of(self)
        check_keys(read_yaml(cfg_file), known, str(cfg_file))
        result = original(self, cfg_file)
        overrides: dict[str, dict[str, Any]] = {}
        for section, key, value in _overrides:
            overrides.setdefault(section, {})[key] = value
        check_keys(overrides, known, "--set")
        for section, key, value in _overrides:
            setattr(self.super_cfgs[section], key, copy.deepcopy(value))
        return result

    return _overwrite_cfgs


def _check_nda_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def check_compatability(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_nda_settings(vars(self.LOSS), vars(self.MODEL), vars(self.DATA))
        return original(self, *args, **kwargs)

    return check_compatability


def _attach_objective(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - wraps WORKER.__init__
        original(self, *args, **kwargs)
        from studiogan_nda.objective import attach

        attach(self)

    return __init__


def final_step(worker: Any, current_step: int) -> int | None:
    """The step label under which the run's last step is saved, or None when StudioGAN saves it itself.

    StudioGAN trains ``current_step`` 0 .. ``total_steps`` and, after the step ``current_step``,
    saves under ``current_step + 1`` when ``--save_freq`` divides that.
    """
    if current_step != worker.OPTIMIZATION.total_steps:
        return None
    step = current_step + 1
    return None if step % worker.RUN.save_freq == 0 else step


def _save_after_last_step(last_when_d_first: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap the update that ends a step (``train_generator`` when ``d_first``, else ``train_discriminator``)."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def train_step(self: Any, current_step: int, *args: Any, **kwargs: Any) -> Any:
            result = original(self, current_step, *args, **kwargs)
            ends_the_step = bool(self.OPTIMIZATION.d_first) == last_when_d_first
            step = final_step(self, current_step) if ends_the_step else None
            if step is not None and self.global_rank == 0 and self.RUN.ckpt_dir:  # rank 0 holds the checkpoint folder
                self.save(step=step, is_best=False)
                message = (
                    f"studiogan_nda: saved the final step {step} in {self.RUN.ckpt_dir} (StudioGAN itself saves every "
                    f"--save_freq {self.RUN.save_freq} steps)."
                )
                logger.info(message)
                if self.logger:
                    self.logger.info(message)
            return result

        return train_step

    return make


def install() -> None:
    """Wrap StudioGAN's ``Configurations`` and ``WORKER`` (idempotent; see the module docstring)."""
    config, worker = _studiogan_modules()
    _patch(config.Configurations, "load_base_cfgs", _add_nda_keys)
    _patch(config.Configurations, "_overwrite_cfgs", _check_keys_first)
    _patch(config.Configurations, "check_compatability", _check_nda_first)
    _patch(worker.WORKER, "__init__", _attach_objective)
    _patch(worker.WORKER, "train_generator", _save_after_last_step(last_when_d_first=True))
    _patch(worker.WORKER, "train_discriminator", _save_after_last_step(last_when_d_first=False))


def is_installed() -> bool:
    """True when the hooks are installed on the StudioGAN classes imported in this process."""
    config, worker = _studiogan_modules()
    return (
        patched(worker.WORKER, "__init__") is not None and patched(config.Configurations, "load_base_cfgs") is not None
    )


def uninstall() -> None:
    """Restore StudioGAN's original methods (workers already built keep their objective).

    Raises ``RuntimeError`` (and leaves that method as it is) when someone replaced a hooked method
    after :func:`install`; see :meth:`nda_core.workarounds.Patch.undo`.
    """
    while _patches:
        _patches[-1].undo()
        _patches.pop()
