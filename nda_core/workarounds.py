"""Contained workarounds of upstream bugs: gated, logged once, and switchable off.

An adapter that must work around a bug in the framework it plugs into describes each fix as a
:class:`Workaround`: what it fixes and why, a ``needed`` test that looks at the installed
versions or the symptom, and the ``apply`` function. :func:`apply_workarounds` applies the
needed ones once per process, logs through the adapter's logger which ones it applied and why,
and applies none of them when the one environment variable ``NDA_WORKAROUNDS`` says so:

* ``NDA_WORKAROUNDS=off`` (or ``0``, ``none``, ``false``): apply no workaround;
* ``NDA_WORKAROUNDS=-name1,-name2``: apply every needed workaround except these;
* unset, ``on`` or ``all``: apply every needed workaround (the default).

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
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

__all__ = ["ENV_VAR", "Workaround", "apply_workarounds", "disabled_names", "applied"]

#: The one switch for every workaround of every adapter.
ENV_VAR = "NDA_WORKAROUNDS"
_OFF = {"off", "0", "none", "false", "no"}
_ON = {"", "on", "1", "all", "true", "yes"}

_applied: dict[str, "Workaround"] = {}
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
        raise ValueError(
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
        logger.info(f"nda-plugins applied {len(done)} workaround(s) of upstream bugs (switch off: {ENV_VAR}=off):{lines}")
    return done


def applied() -> list[str]:
    """Names of the workarounds applied in this process so far."""
    return list(_applied)
