"""Command line of lightly_nda: ``nda lightly train ...`` (or ``python -m lightly_nda train ...``)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]

_COMMANDS = {"train": "train NDA-MoCo (or plain MoCo with --nda none) on an image folder; see `train --help`"}


def main(argv: list[str] | None = None) -> int:
    """NDA for lightly: `nda lightly train` trains NDA-MoCo or plain MoCo on an image folder (real CIFAR-10 by default)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="nda lightly",
        description="Negative Data Augmentation for the lightly SSL library (lightly_nda).",
        epilog="The Lightning modules NDAMoCo / NDASimCLR and the loss NDANTXentLoss are documented in docs/lightly.md.",
    )
    parser.add_argument("command", choices=sorted(_COMMANDS), help="; ".join(f"{k}: {v}" for k, v in _COMMANDS.items()))
    if not argv or argv[0] not in _COMMANDS:
        parser.parse_args(argv)  # prints usage or help and exits
    try:
        from lightly_nda import train  # heavy imports (lightly, Lightning) only here
    except ImportError as error:
        print(f"nda lightly: {error}", file=sys.stderr)
        return 2
    return train.main(argv[1:], prog=f"nda lightly {argv[0]}")  # usage errors: "nda lightly train: error: ...", 2
