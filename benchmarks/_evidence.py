"""Pieces every evidence script (``moco_evidence``, ``lightly_evidence``, ``dpc_evidence``) writes
into its JSON: the spread over seeds, the paired NDA - plain statistics (``scipy.stats``), the
machine facts, the reproducing command and paths relative to the repository or output folder.

The JSON schema shared by the three scripts (``schema: "nda-evidence/1"``):

* ``settings``: every command-line setting (paths relative), plus the kNN protocol;
* ``command``: the command that reproduces the file, run from the repository root;
* ``machine``: threads, load averages before/after, torch version, platform, CPU count, git commit;
* ``seeds`` and ``runs``: one entry per (method, seed), every per-seed value and its wall time;
* ``summary``: per method and metric ``{mean, std (sample), min, max, n, values}``;
* ``paired``: per metric, the per-seed NDA - plain differences with ``mean``, ``std``, the
  paired t-test p (``scipy.stats.ttest_rel``) and the Wilcoxon signed-rank p
  (``scipy.stats.wilcoxon``; exact for small n, ``null`` when every difference is 0);
* ``wall_seconds``.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

from nda_core.stats import paired, spread  # noqa: F401  (re-exported for the evidence scripts)

SCHEMA = "nda-evidence/1"
ROOT = Path(__file__).resolve().parents[1]


# spread and paired (the JSON's per-method spread and NDA - plain statistics): one definition, in nda_core.stats


def machine(threads: int) -> dict[str, Any]:
    """Facts about the machine a run used (the load average is read now)."""
    import torch

    return {
        "torch_threads": threads,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """The repository's commit (``+dirty`` when tracked files differ from it); ``None`` outside git."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def command(script: str) -> str:
    """The command that reproduces this run from the repository root (``python benchmarks/<script> ...``)."""
    arguments = [relative(a) if os.path.isabs(a) else a for a in sys.argv[1:]]
    return shlex.join(["python", f"benchmarks/{script}", *arguments])


def relative(path: str | os.PathLike, base: Path = ROOT) -> str:
    """``path`` relative to ``base`` (the repository root by default), never an absolute folder:
    a path outside ``base`` keeps only its name relative to its parent (``<outside>/name``)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(base.resolve()).as_posix()
    except ValueError:
        return f"<outside>/{path.name}"


def plain_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Command-line settings as JSON values, every path relative to the repository root."""
    return {k: (relative(v) if isinstance(v, Path) else v) for k, v in settings.items()}
