"""Registering our components into the frameworks' registries without silently replacing others.

As timm's ``register_model`` does, registering a name that a component which is not ours already
holds warns and says which one it replaces; registering our own component again (a re-import or
``importlib.reload`` of this package) is silent.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["register"]


def _qualified(component: Any) -> str:
    return f"{getattr(component, '__module__', '?')}.{getattr(component, '__qualname__', repr(component))}"


def register(registry: Any, name: str, component: Any) -> None:
    """Register ``component`` as ``name`` in the mmengine ``registry``; warn if that replaces
    a different component (one with another module or qualified name)."""
    existing = registry.module_dict.get(name)
    if existing is not None and _qualified(existing) != _qualified(component):
        scope = getattr(registry, "scope", "?")
        warnings.warn(
            f"nda-plugins: registering {_qualified(component)} as {name!r} in the {scope} {registry.name} "
            f"registry replaces {_qualified(existing)}; configs that use type={name!r} now build nda-plugins' "
            f"component. Import mmselfsup_nda before the package that registers {name!r} if you meant theirs.",
            UserWarning,
            stacklevel=3,
        )
    registry.register_module(name=name, module=component, force=True)
