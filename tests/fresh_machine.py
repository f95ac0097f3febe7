"""A fresh machine for quick-start tests: an empty home folder and a working folder with the repository's
configs, everything else as on this machine (the environment's `nda`, `mim` and the offline data)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nda_core.data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment's `nda` and `mim`
# Variables that would point a fresh machine at data or settings of this one.
HOST_ONLY = (
    "NDA_CIFAR10_ROOT",
    "NDA_PRETRAINED",
    "NDA_WORKAROUNDS",
    "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
    "STUDIOGAN_ROOT",
)


def fresh_machine(tmp: Path, folders: tuple[str, ...] = ("plugins",)) -> tuple[Path, dict[str, str]]:
    """(working folder, environment): HOME, XDG_CACHE_HOME and NDA_CACHE in an empty ``tmp/home``;
    only the offline data folder (NDA_DATA) is shared; ``folders`` of the repository are linked into
    the working folder ``tmp/checkout``."""
    home = tmp / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in HOST_ONLY}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        NDA_CACHE=str(home / ".cache" / "nda-plugins"),
        NDA_DATA=str(shared_data_dir()),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    cwd = tmp / "checkout"
    cwd.mkdir()
    for folder in folders:
        (cwd / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return cwd, env
