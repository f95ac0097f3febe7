"""Command line of lightly_nda: ``nda lightly train ...`` (or ``python -m lightly_nda train ...``).

``train`` is a thin entry onto Lightning's ``LightningCLI`` (``lightly_nda.train``): every option
after it is LightningCLI's (``--model.*``, ``--data.*``, ``--trainer.*``, ``--config``, ``--ckpt_path``).
"""

from __future__ import annotations

import argparse
import sys

from nda_core.errors import EXIT_USAGE

__all__ = ["main"]

_PROG = "nda lightly"
_COMMANDS = {"train": "train NDA-MoCo (or plain MoCo with --model.nda none) on image folders; see `train --help`"}


def main(argv: list[str] | None = None) -> int:
    """NDA for lightly: `nda lightly train` trains NDA-MoCo or plain MoCo on image folders (LightningCLI options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Negative Data Augmentation for the lightly SSL library (lightly_nda).",
        epilog="The Lightning modules NDAMoCo / NDASimCLR and the loss NDANTXentLoss are documented in "
        "docs/lightly.md.",
    )
    parser.add_argument("command", choices=sorted(_COMMANDS), help="; ".join(f"{k}: {v}" for k, v in _COMMANDS.items()))
    if not argv or argv[0] not in _COMMANDS:
        parser.parse_args(argv[:1])  # prints usage or help and exits
    try:
        from lightly_nda import train  # heavy imports (lightly, Lightning, jsonargparse) only here
    except ImportError as error:
        print(f"{_PROG}: {error}", file=sys.stderr)
        return EXIT_USAGE
    return train.main(argv[1:], prog=f"{_PROG} {argv[0]}")  # usage errors: "nda lightly train: error: ...", 2
