"""The one exception for wrong user input, and how every command line reports it.

``UsageError`` (a ``ValueError``) and ``UsageTypeError`` (also a ``TypeError``) are raised by
``nda_core._checks`` and by every adapter for input the user can fix: the message names the
argument, the value and the fix. Command lines catch these two only (plus argparse's own errors)
and print ``<command>: error: <message>`` with exit status :data:`EXIT_USAGE`; every other
exception keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["UsageError", "UsageTypeError", "EXIT_USAGE", "report_usage_error", "parse_nda_argument"]

#: Exit status of a usage error (argparse's own).
EXIT_USAGE = 2


class UsageError(ValueError):
    """Wrong user input: a bad value, option, file or config entry. The message says how to fix it."""


class UsageTypeError(UsageError, TypeError):
    """Wrong user input of the wrong type (still a ``TypeError`` for callers that catch that)."""


def report_usage_error(prog: str, error: BaseException) -> int:
    """Print ``<prog>: error: <message>`` to stderr and return :data:`EXIT_USAGE`."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return EXIT_USAGE


def parse_nda_argument(text: str) -> Any:
    """An ``--nda`` command-line value as an ``nda_core.build`` spec.

    ``none`` gives ``None`` (no NDA), a JSON object or list gives that spec, anything else is an
    NDA's name. Used as ``argparse`` ``type=`` by every command line that takes ``--nda``.
    """
    if text.strip().lower() == "none":
        return None
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"--nda {text!r} is not valid JSON: {error}") from None
    return text.strip()
