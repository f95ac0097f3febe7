"""Workarounds for two upstream bugs that stop stock mmselfsup 1.0.0 configs from training.

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

Both are idempotent and leave configs without these problems untouched.
"""

from __future__ import annotations

import copy
import importlib.util
from functools import wraps
from typing import Any

from mmengine.registry import Registry
from mmengine.runner import Runner

__all__ = ["drop_missing_registry_locations", "strip_collate_scope", "apply_all"]

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


def apply_all(registry_modules: list[Any]) -> None:
    """Apply both workarounds (registry locations of each module in ``registry_modules``)."""
    for module in registry_modules:
        drop_missing_registry_locations(module)
    strip_collate_scope()
