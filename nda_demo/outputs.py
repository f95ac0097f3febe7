"""Output folders of ``nda demo``: the files a run writes, the guard against replacing an earlier run,
portable paths, the command that reproduces a result, and the results JSON itself.

A results JSON lists the files its run wrote (``files``, relative to the output folder), so a
later run with ``--overwrite`` replaces those and nothing else. Every path it records is relative
(to the output folder; the command's to the repository root): the file can be published as is.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from nda_core.errors import UsageError

__all__ = [
    "RESULTS_FILES",
    "FORMAT_VERSION",
    "OVERWRITE_FLAG",
    "numerosity_files",
    "jigsaw_files",
    "claim_output",
    "relative_path",
    "repository_root",
    "command_text",
    "software_versions",
    "write_results",
]

#: The results file of each experiment (the name today's and earlier per-seed folders use).
RESULTS_FILES = {"numerosity": "results.json", "jigsaw": "cifar_results.json"}
#: Version of the results JSON layout; files without ``format`` are the first layout (no statistics, no file list).
FORMAT_VERSION = 2
OVERWRITE_FLAG = "--overwrite"
#: Suffixes of the files the demo writes; a ``files`` entry with another suffix or a folder part is not ours.
OWN_SUFFIXES = (".json", ".png")
LABELS = ("plain", "NDA")


def numerosity_files(seeds: Sequence[int], heldout: bool, samples: bool) -> list[str]:
    """Files of a numerosity run (``samples``: per-seed sample grids, which a merge does not write)."""
    files = [RESULTS_FILES["numerosity"], "counts.png", "fraction_target.png"]
    files += ["auroc_heldout.png"] if heldout else []
    if samples:
        files += [f"samples_{label}_seed{seed}.png" for seed in seeds for label in LABELS]
    return files


def jigsaw_files(seeds: Sequence[int], samples: bool) -> list[str]:
    """Files of a jigsaw run (``samples``: its histogram and sample grids, which a merge does not write)."""
    files = [RESULTS_FILES["jigsaw"]]
    if samples:
        files += ["cifar_jigsaw_gap.png"] + [
            f"cifar_samples_{label}_seed{seed}.png" for seed in seeds for label in LABELS
        ]
    return files


def _own_files(results: Path) -> list[str]:
    """The files the run behind ``results`` wrote, from its ``files`` list; ValueError if it has none."""
    try:
        data = json.loads(results.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{results} is not a results file nda demo can read ({error}); give a new --out.") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise UsageError(
            f"{results} was written by an nda demo that did not list its files, so {OVERWRITE_FLAG} cannot tell "
            f"its files from others; give a new --out."
        )
    own = [
        name
        for name in files
        if isinstance(name, str)
        and Path(name).name == name
        and name not in ("", ".", "..")
        and name.endswith(OWN_SUFFIXES)
    ]
    if len(own) != len(files) or results.name not in own:
        raise UsageError(f"{results} lists files nda demo does not write ({files!r}); give a new --out.")
    return own


def claim_output(out: Path, experiment: str, files: Sequence[str], overwrite: bool) -> None:
    """Make ``out`` ready for a run that writes ``files``, or raise ValueError naming the fix.

    Refused: ``out`` already holds a finished run of ``experiment`` (unless ``overwrite``), or any
    of ``files`` exists there without being listed by that finished run as its own. With
    ``overwrite`` the earlier run's own files are removed first (so none of it outlives the new
    run); nothing else in ``out`` is touched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; give a folder.")
    results = out / RESULTS_FILES[experiment]
    own: list[str] = []
    if results.is_file():
        if not overwrite:
            raise UsageError(
                f"--out {out} already holds a finished {experiment} run ({results.name}); give a new --out, or add "
                f"{OVERWRITE_FLAG} to replace the files nda demo wrote there (and only those)."
            )
        own = _own_files(results)
    foreign = [name for name in files if (out / name).exists() and name not in own]
    if foreign:
        raise UsageError(
            f"--out {out} already holds {', '.join(foreign)}, which no finished nda demo {experiment} run there "
            f"lists as its own; give a new --out (or move those files away)."
        )
    for name in own:
        if (out / name).is_file():
            (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)


def relative_path(path: str | Path, base: str | Path) -> str:
    """``path`` relative to the folder ``base`` (POSIX separators), so a result names no absolute path."""
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def repository_root() -> Path:
    """The checkout that holds ``nda_demo`` (where commands are run from); the working folder if installed."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def command_text(words: Sequence[Any]) -> str:
    """The shell command ``python -m nda_demo WORDS`` (quoted where needed)."""
    return shlex.join(["python", "-m", "nda_demo", *map(str, words)])


def software_versions() -> dict[str, str | None]:
    """Versions of what computed the numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("nda-plugins", "torch", "pytorch-lightning", "numpy", "scipy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as strict JSON (no NaN or Infinity)."""
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
