"""Contained workarounds of upstream bugs: gated, logged once, and switchable off.

An adapter that must work around a bug in the framework it plugs into describes each fix as a
:class:`Workaround`: what it fixes and why, a ``needed`` test that looks at the installed
versions or the symptom, and the ``apply`` function. :func:`apply_workarounds` applies the
needed ones once per process, logs through the adapter's logger which ones it applied and why,
and applies none of them when the one environment variable ``NDA_WORKAROUNDS`` says so:

* ``NDA_WORKAROUNDS=off`` (or ``0``, ``none``, ``false``): apply no workaround;
* ``NDA_WORKAROUNDS=-name1,-name2``: apply every needed workaround except these;
* unset, ``on`` or ``all``: apply every needed workaround (the default).

A workaround that replaces a framework's function does it with :func:`patch`: applied once per
attribute, the exact original kept on the returned :class:`Patch`, and :meth:`Patch.undo` puts
it back. A checkpoint loaded with ``weights_only=True`` may need numpy's arrays, scalars and
dtypes: :func:`numpy_safe_globals` is the one list of them that every adapter allows.

Example:
    >>> import logging
    >>> fixed = []
    >>> fix = Workaround("doc-example", "an example", lambda: True, lambda: fixed.append(1))
    >>> [w.name for w in apply_workarounds([fix], logging.getLogger("doc"), environ={})]
    ['doc-example']
    >>> apply_workarounds([fix], logging.getLogger("doc"), environ={}), fixed  # applied once
    ([], [1])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nda_core.errors import UsageError, UsageTypeError

__all__ = [
    "ENV_VAR",
    "Patch",
    "Workaround",
    "apply_workarounds",
    "applied",
    "disabled_names",
    "numpy_safe_globals",
    "patch",
    "patched",
]

#: The one switch for every workaround of every adapter.
ENV_VAR = "NDA_WORKAROUNDS"
_OFF = {"off", "0", "none", "false", "no"}
_ON = {"", "on", "1", "all", "true", "yes"}

_applied: dict[str, Workaround] = {}
_reported_off: set[str] = set()


@dataclass(frozen=True)
class Workaround:
    """One fix of an upstream bug.

    Args:
        name: short unique name, used in the log and in ``NDA_WORKAROUNDS=-name``.
        reason: one sentence: the upstream bug (with its issue link when there is one) and the fix.
        needed: True when the installed versions have the bug (checked just before applying).
        apply: applies the fix; must be idempotent.
    """

    name: str
    reason: str
    needed: Callable[[], bool]
    apply: Callable[[], None]


def disabled_names(environ: Mapping[str, str] | None = None) -> set[str] | None:
    """Names switched off by ``NDA_WORKAROUNDS``; None means all are off."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if value.lower() in _OFF:
        return None
    if value.lower() in _ON:
        return set()
    names = [part.strip() for part in value.split(",") if part.strip()]
    bad = [name for name in names if not name.startswith("-")]
    if bad:
        raise UsageError(
            f"{ENV_VAR}={value!r} is not understood: {bad} do not start with '-'; set {ENV_VAR}=off to "
            f"apply no workaround, or {ENV_VAR}=-name1,-name2 to leave out some of them."
        )
    return {name[1:] for name in names}


def apply_workarounds(
    workarounds: Sequence[Workaround], logger: logging.Logger | None = None, environ: Mapping[str, str] | None = None
) -> list[Workaround]:
    """Apply each needed, not switched-off workaround once per process; log what was applied.

    Returns the workarounds applied by this call (already applied ones are not repeated).
    """
    logger = logger or logging.getLogger("nda_plugins")
    disabled = disabled_names(environ)
    if disabled is None:
        skipped = [w.name for w in workarounds if w.name not in _applied and w.name not in _reported_off]
        if skipped:
            _reported_off.update(skipped)
            logger.warning(f"nda-plugins: {ENV_VAR}=off, not applying workarounds {skipped}.")
        return []
    done = []
    for workaround in workarounds:
        if workaround.name in _applied or workaround.name in disabled or not workaround.needed():
            continue
        workaround.apply()
        _applied[workaround.name] = workaround
        done.append(workaround)
    if done:
        lines = "".join(f"\n  - {w.name}: {w.reason}" for w in done)
        logger.info(
            f"nda-plugins applied {len(done)} workaround(s) of upstream bugs (switch off: {ENV_VAR}=off):{lines}"
        )
    return done


def applied() -> list[str]:
    """Names of the workarounds applied in this process so far."""
    return list(_applied)


# -- monkey patches: applied once, original kept, undone ------------------------------------------
_ABSENT = object()  # the owner held no attribute of that name of its own (it was inherited or missing)
_patches: dict[tuple[int, str], Patch] = {}  # (id(owner), attribute) -> our patch; Patch keeps owner alive


def _describe(owner: Any) -> str:
    return getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None) or type(owner).__name__


@dataclass(eq=False)
class Patch:
    """``owner.attribute`` replaced by :func:`patch`.

    ``original`` is the exact object that ``owner`` held (from ``vars(owner)``, so a class's
    ``staticmethod`` or ``classmethod`` stays one); when the attribute came from a base class or
    a module ``__getattr__`` (``inherited``), it is the value ``getattr`` found, and :meth:`undo`
    removes the replacement instead of setting anything.
    """

    owner: Any
    attribute: str
    original: Any
    replacement: Any
    inherited: bool = False
    _undone: bool = field(default=False, repr=False)

    @property
    def where(self) -> str:
        """``owner.attribute`` as messages name it."""
        return f"{_describe(self.owner)}.{self.attribute}"

    @property
    def active(self) -> bool:
        """True while ``owner.attribute`` is still this patch's replacement."""
        return not self._undone and vars(self.owner).get(self.attribute, _ABSENT) is self.replacement

    def undo(self) -> None:
        """Put the original back (a no-op once undone).

        Refuses with ``RuntimeError`` when ``owner.attribute`` was replaced again since this patch
        was applied (by someone else, or the framework): restoring the original would throw their
        replacement away, so theirs is left in place; undo theirs first, then this one.
        """
        if self._undone:
            return
        current = vars(self.owner).get(self.attribute, _ABSENT)
        if current is not self.replacement:
            raise RuntimeError(
                f"cannot undo nda-plugins' patch of {self.where}: it now holds {current!r}, which someone set "
                f"after nda-plugins patched it; restoring the original would discard that. Undo that other "
                f"patch first (so that {self.where} is nda-plugins' again), then undo this one."
            )
        if self.inherited:
            delattr(self.owner, self.attribute)
        else:
            setattr(self.owner, self.attribute, self.original)
        self._undone = True
        if _patches.get((id(self.owner), self.attribute)) is self:
            del _patches[(id(self.owner), self.attribute)]


def patched(owner: Any, attribute: str) -> Patch | None:
    """Our active patch of ``owner.attribute``, or None."""
    found = _patches.get((id(owner), attribute))
    return found if found is not None and found.active else None


def patch(owner: Any, attribute: str, wrap: Callable[[Any], Any]) -> Patch:
    """Replace ``owner.attribute`` by ``wrap(original)`` once; return the :class:`Patch`.

    ``wrap`` receives the exact object ``owner`` holds (a class's ``staticmethod`` object, not
    the function inside it) or, for an inherited attribute, the value ``getattr`` finds. Calling
    ``patch`` again while the patch is in place returns the same :class:`Patch` and does not call
    ``wrap``: one patch, never a wrapper of a wrapper.

    Example:
        >>> import types
        >>> host = types.SimpleNamespace(answer=lambda: 41)
        >>> fix = patch(host, "answer", lambda original: (lambda: original() + 1))
        >>> host.answer(), patch(host, "answer", print) is fix
        (42, True)
        >>> fix.undo(); host.answer()
        41
    """
    if not isinstance(attribute, str) or not attribute.isidentifier():
        raise UsageError(
            f"patch() needs attribute= an attribute name, got {attribute!r}; pass e.g. 'build_dataloader'."
        )
    if not callable(wrap):
        raise UsageTypeError(
            f"patch() needs wrap= a function that takes the original and returns its replacement, got "
            f"{type(wrap).__name__}; pass e.g. lambda original: replacement."
        )
    if not hasattr(owner, "__dict__"):
        raise UsageTypeError(
            f"patch() needs owner= a module, class or object with attributes of its own, got "
            f"{type(owner).__name__}; pass the module or class that holds {attribute!r}."
        )
    existing = patched(owner, attribute)
    if existing is not None:
        return existing
    own = vars(owner).get(attribute, _ABSENT)
    if own is _ABSENT and not hasattr(owner, attribute):
        raise UsageError(
            f"patch() cannot replace {_describe(owner)}.{attribute}: there is no such attribute (a framework "
            f"version without it?); gate the workaround on the installed version."
        )
    original = getattr(owner, attribute) if own is _ABSENT else own
    replacement = wrap(original)
    setattr(owner, attribute, replacement)
    applied_patch = Patch(owner, attribute, original, replacement, inherited=own is _ABSENT)
    _patches[(id(owner), attribute)] = applied_patch
    return applied_patch


# -- weights_only checkpoint loads ------------------------------------------------------------------
#: numpy dtypes a checkpoint may hold in arrays and scalars: bool, signed and unsigned integers, floats.
_NUMERIC_DTYPE_CODES = "?bhilqBHILQefd"
_NUMPY_CORE_NAMES = ("_core", "core")  # numpy 2 and numpy 1 pickle their functions under these modules


def numpy_safe_globals() -> list[Any]:
    """numpy's arrays, scalars and dtypes of numeric types: the one list of numpy types that
    ``weights_only`` checkpoint loads allow (``torch.serialization.safe_globals`` /
    ``add_safe_globals``).

    The rebuild functions are listed under numpy 2's and numpy 1's module names, so that
    checkpoints written under either load. Object arrays stay refused (their items are pickles).
    """
    array_rebuild = np.ndarray((0,)).__reduce__()[0]  # numpy's _reconstruct, whatever its module
    scalar_rebuild = np.float64(0).__reduce__()[0]  # numpy's scalar
    by_name = [
        (function, f"numpy.{core}.multiarray.{function.__name__}")
        for function in (array_rebuild, scalar_rebuild)
        for core in _NUMPY_CORE_NAMES
    ]
    dtypes = dict.fromkeys(type(np.dtype(code)) for code in _NUMERIC_DTYPE_CODES)  # numpy < 1.25: np.dtype
    return [np.ndarray, np.dtype, *[dtype for dtype in dtypes if dtype is not np.dtype], *by_name]
