"""Finding a StudioGAN checkout and putting its flat ``src/`` modules on ``sys.path``.

StudioGAN is not on PyPI: users clone POSTECH-CVLab/PyTorch-StudioGAN and run ``src/main.py``,
whose modules import each other flat (``import config``, ``import utils.misc``). This module
finds the checkout (``--studiogan-root`` or ``$STUDIOGAN_ROOT``), checks that it looks like
StudioGAN, and makes its ``src/`` importable, refusing when another package already owns one of
StudioGAN's top-level names (``utils``, ``config``, ...), which would silently shadow it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nda_core.errors import UsageError

__all__ = ["ROOT_ENV", "TOP_LEVEL_MODULES", "REQUIRED_FILES", "find_root", "source_dir", "add_to_path"]

#: Environment variable naming the StudioGAN checkout (the folder holding ``src/main.py``).
ROOT_ENV = "STUDIOGAN_ROOT"
#: StudioGAN's flat top-level modules and packages under ``src/``.
TOP_LEVEL_MODULES = (
    "config",
    "loader",
    "worker",
    "main",
    "evaluate",
    "data_util",
    "utils",
    "models",
    "metrics",
    "sync_batchnorm",
)
#: Files that every StudioGAN checkout this adapter supports has under ``src/``.
REQUIRED_FILES = ("main.py", "config.py", "loader.py", "worker.py", "utils/losses.py", "models/model.py")
_CLONE_HINT = (
    "clone it with `git clone https://github.com/POSTECH-CVLab/PyTorch-StudioGAN` and pass "
    f"--studiogan-root PATH (or set {ROOT_ENV}=PATH) to the folder that holds src/main.py"
)


def find_root(path: str | os.PathLike | None = None) -> Path:
    """The StudioGAN checkout: ``path``, else ``$STUDIOGAN_ROOT``; checked to hold StudioGAN's ``src/``.

    Raises:
        UsageError: no root given, or the folder is not a StudioGAN checkout (the message says
            which file is missing and how to get one).
    """
    given = path if path is not None else os.environ.get(ROOT_ENV)
    if not given:
        raise UsageError(f"no StudioGAN checkout given: StudioGAN is not on PyPI; {_CLONE_HINT}.")
    root = Path(given).expanduser().resolve()
    if root.name == "src" and (root / "main.py").is_file():
        root = root.parent  # accept the src/ folder itself
    if not root.is_dir():
        raise UsageError(f"StudioGAN root {str(given)!r} is not a folder; {_CLONE_HINT}.")
    missing = [name for name in REQUIRED_FILES if not (root / "src" / name).is_file()]
    if missing:
        raise UsageError(
            f"StudioGAN root {str(root)!r} is not a StudioGAN checkout: src/{missing[0]} is missing "
            f"({len(missing)} of {len(REQUIRED_FILES)} expected files); {_CLONE_HINT}."
        )
    return root


def source_dir(root: str | os.PathLike | None = None) -> Path:
    """StudioGAN's ``src/`` folder of :func:`find_root`."""
    return find_root(root) / "src"


def _foreign_modules(src: Path) -> list[str]:
    """StudioGAN's top-level names already imported from somewhere other than ``src``."""
    foreign = []
    for name in TOP_LEVEL_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        origin = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), None)
        if origin is None or src not in Path(origin).resolve().parents:
            foreign.append(f"{name} ({origin})")
    return foreign


def add_to_path(root: str | os.PathLike | None = None) -> Path:
    """Put StudioGAN's ``src/`` first on ``sys.path`` (once) and return it.

    Raises:
        UsageError: another module named like one of StudioGAN's (``utils``, ``config``, ...) is
            already imported, so StudioGAN's flat imports would pick the wrong one.
    """
    src = source_dir(root)
    foreign = _foreign_modules(src)
    if foreign:
        raise UsageError(
            f"cannot import StudioGAN from {src}: modules with StudioGAN's top-level names are already "
            f"imported from elsewhere: {', '.join(foreign)}; run StudioGAN in its own process "
            f"(python -m studiogan_nda ...) or rename those modules."
        )
    entry = str(src)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    return src
