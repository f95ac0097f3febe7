"""List the shipped framework configs and copy one, with the files it depends on, to a folder.

A checkout keeps the configs in the repository's top-level ``plugins/`` folder (``mim train``
reads them from there). A wheel ships the same files as package data under the project's own
namespace, ``nda_core/_configs``, so that no top-level package named ``plugins`` lands in
site-packages. ``nda configs`` finds either::

    nda configs list [PREFIX]         names such as mmselfsup/cpu/nda-mocov2-jigsaw_...py
    nda configs copy NAME DEST        NAME and every file it refers to, laid out as in plugins/

A config refers to other files by relative paths (mmengine and our YAML ``_base_`` entries,
``{{fileDirname}}/...`` annotation files); ``copy`` follows them, transitively, and keeps the
layout below DEST so that those paths stay valid. It never overwrites a file: a file that already
exists with the same content is left alone, one that differs stops the copy before anything is
written.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
from pathlib import Path

import nda_core
from nda_core.errors import EXIT_USAGE, UsageError, report_usage_error

__all__ = ["configs_root", "list_configs", "config_files", "copy_config", "main", "EXIT_USAGE"]

#: File types of the configs (mmengine Python configs, YAML, annotation lists they name).
CONFIG_SUFFIXES = (".py", ".yaml", ".yml", ".txt")
#: How many similar names an unknown NAME error suggests.
CLOSE_MATCHES = 3
#: Where the wheel puts the configs, relative to the nda_core package.
PACKAGED_FOLDER = "_configs"
#: Where a checkout (or an editable install) keeps them, relative to the repository root.
CHECKOUT_FOLDER = "plugins"
#: A relative file path inside a config: ``../_base_/x.py``, ``{{fileDirname}}/../data/y.txt``, ``z.yaml``.
_REFERENCE = re.compile(r"(?:\{\{\s*fileDirname\s*\}\}/)?([\w.\-/]+\.(?:py|ya?ml|txt))\b")


def configs_root() -> Path:
    """Folder of the shipped configs: ``nda_core/_configs`` in a wheel, else the checkout's ``plugins/``."""
    package = Path(nda_core.__file__).resolve().parent
    for folder in (package / PACKAGED_FOLDER, package.parent / CHECKOUT_FOLDER):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"no shipped configs: neither {package / PACKAGED_FOLDER} nor {package.parent / CHECKOUT_FOLDER} exists; "
        "reinstall nda-plugins (pip install --force-reinstall nda-plugins)"
    )


def _is_config(path: Path) -> bool:
    return path.is_file() and path.suffix in CONFIG_SUFFIXES and "__pycache__" not in path.parts


def list_configs(prefix: str = "", root: Path | None = None) -> list[str]:
    """Names (``/``-separated paths below the configs folder) of every config starting with ``prefix``."""
    root = configs_root() if root is None else root
    names = (path.relative_to(root).as_posix() for path in root.rglob("*") if _is_config(path))
    return sorted(name for name in names if name.startswith(prefix))


def _resolve(name: str, root: Path) -> Path:
    path = (root / name).resolve()
    if not name or not path.is_relative_to(root.resolve()) or not _is_config(path):
        close = difflib.get_close_matches(name, list_configs("", root), n=CLOSE_MATCHES)
        hint = f" (close: {', '.join(close)})" if close else ""
        raise UsageError(f"NAME={name!r} is not a shipped config; run `nda configs list` for the names{hint}")
    return path


def config_files(name: str, root: Path | None = None) -> list[str]:
    """``name`` and every shipped file it refers to by a relative path, transitively (names, sorted)."""
    root = (configs_root() if root is None else root).resolve()
    pending, found = [_resolve(name, root)], set()
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        for reference in _REFERENCE.findall(path.read_text(encoding="utf-8")):
            target = (path.parent / reference).resolve()
            if target.is_relative_to(root) and _is_config(target):
                pending.append(target)
    return sorted(path.relative_to(root).as_posix() for path in found)


def copy_config(name: str, dest: str | Path, root: Path | None = None) -> list[Path]:
    """Copy config ``name`` and the files it refers to into ``dest`` (layout as below the configs
    folder); returns the leaf config's copy first, then the files written. Refuses, before writing
    anything, when a file of that name exists in ``dest`` with other content."""
    root = (configs_root() if root is None else root).resolve()
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"DEST={str(dest)!r} is a file, not a folder; give a new or existing folder")
    names = config_files(name, root)
    clashes = [
        dest / other
        for other in names
        if (dest / other).exists()
        and (not (dest / other).is_file() or (dest / other).read_bytes() != (root / other).read_bytes())
    ]
    if clashes:
        raise UsageError(
            f"{clashes[0]} already exists with other content ({len(clashes)} such file(s)) and nda never overwrites "
            "a file it did not write; copy into a new DEST folder or move those files away"
        )
    written = []
    for other in names:
        target = dest / other
        if target.exists():
            continue  # the same content is already there
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / other, target)
        written.append(target)
    return [dest / name, *written]


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="List the shipped framework configs (mmselfsup, mmpretrain, StudioGAN, video_dpc) and copy "
        f"one, with the _base_ files it depends on, to a folder of yours. Configs are read from {configs_root()}.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="print the config names, one a line")
    listing.add_argument("prefix", nargs="?", default="", help="only names starting with this, e.g. mmselfsup/cpu/")
    copy = commands.add_parser("copy", help="copy a config and the files it refers to into DEST (never overwrites)")
    copy.add_argument("name", metavar="NAME", help="a name from `list`, e.g. mmselfsup/cpu/nda-mocov2-...py")
    copy.add_argument("dest", metavar="DEST", help="folder to copy into (created if missing); NAME lands at DEST/NAME")
    return parser


def main(argv: list[str] | None = None) -> int:
    """List the shipped framework configs, or copy one (with its _base_ files) to a folder."""
    prog = "nda configs" if sys.argv and sys.argv[0] == "nda configs" else "python -m nda_core.configs"
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "list":
            names = list_configs(args.prefix)
            if not names:
                raise UsageError(f"PREFIX={args.prefix!r} matches no config; run `{prog} list` for every name")
            print("\n".join(names))
            return 0
        leaf, *written = copy_config(args.name, args.dest)
    except (UsageError, FileNotFoundError) as error:
        return report_usage_error(prog, error)
    print(f"{leaf} ready ({len(written)} file(s) written below {args.dest}, the others were already there)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
