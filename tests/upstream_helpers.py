"""Helpers of the ``test_upstream_*`` tests: apply a patch series of ``upstream/`` to upstream code.

The base of each series is the upstream code this project pins: the installed package (lightly,
mmpretrain, pytorch-lightning; identical to their sdists on PyPI) or the vendored StudioGAN
snapshot. A test copies it into a temporary folder laid out as the upstream repository, applies
the series with ``git apply`` (``--check`` first), and runs code against the patched copy in a
child process whose ``PYTHONPATH`` puts the copy before the installed package.

The sdists hold no tests, so every test a series adds is a new file (checked by
:func:`new_test_files`); the tests are applied with the library part and run against the copy.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT / "upstream"
CHILD_TIMEOUT_S = 300  # a child process runs a handful of tiny CPU steps; minutes mean a hang
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


def patch_series(project: str) -> list[Path]:
    """The ``git format-patch`` files of ``upstream/<project>/``, in order."""
    patches = sorted((UPSTREAM / project).glob("[0-9][0-9][0-9][0-9]-*.patch"))
    if not patches:
        pytest.fail(f"no patch series in {UPSTREAM / project}: expected 0001-*.patch files from git format-patch")
    return patches


def touched_files(patch: Path) -> list[str]:
    """Repository paths a patch changes or creates."""
    return [match.group(2) for match in _DIFF_HEADER.finditer(patch.read_text())]


def new_test_files(patch: Path) -> list[str]:
    """The test files a patch adds; fails if it edits an existing test file (the sdists ship none)."""
    text = patch.read_text()
    tests = []
    for block in re.split(r"^(?=diff --git )", text, flags=re.MULTILINE):
        header = _DIFF_HEADER.match(block)
        if header is None or not re.search(r"(^|/)tests?/", header.group(2)):
            continue
        if "\nnew file mode " not in block.split("@@", 1)[0]:
            pytest.fail(f"{patch.name} edits the existing upstream test file {header.group(2)}; add tests as new files")
        tests.append(header.group(2))
    return tests


def only_test_diffs(text: str) -> str:
    """The file diffs of a patch that add tests (to run them against the unpatched library)."""
    blocks = re.split(r"^(?=diff --git )", text, flags=re.MULTILINE)
    return "".join(block for block in blocks[1:] if re.match(r"diff --git a/(\S*/)?tests?/", block))


def installed_package(name: str) -> Path:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{name} is not installed; install this project's extras (pip install -e '.[all]')")
    return Path(next(iter(spec.submodule_search_locations)))


def copy_package(name: str, dest: Path) -> Path:
    """Copy the installed package ``name`` to ``dest/<name>`` (without byte code); returns the copy."""
    target = dest / name
    shutil.copytree(installed_package(name), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def git_apply(patches: Sequence[Path], root: Path, rewrite: Callable[[str], str] | None = None) -> None:
    """``git apply --check`` then ``git apply`` each patch in ``root`` (a folder outside any repository).

    ``rewrite`` maps a patch's text first (Lightning's mirror package renames ``src/lightning/pytorch``).
    """
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent)}
    for patch in patches:
        text = patch.read_text()
        if rewrite is not None:
            text = rewrite(text)
        for args in (["--check"], []):
            result = subprocess.run(
                ["git", "apply", "--whitespace=error-all", *args, "-"],
                cwd=root,
                input=text,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(f"git apply {' '.join(args)} {patch.name} failed in {root}:\n{result.stderr}")


def child_env(pythonpath: Sequence[Path]) -> dict[str, str]:
    """Environment of a child process: ``pythonpath`` first, then this project; CPU, one thread."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*map(str, pythonpath), str(ROOT)]),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_python(args: Sequence[str], pythonpath: Sequence[Path], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python args`` with ``pythonpath`` first on the path (CPU, one thread); returns the result."""
    return run_pythons([(args, pythonpath)], cwd)[0]


def run_pythons(
    commands: Sequence[tuple[Sequence[str], Sequence[Path]]], cwd: Path
) -> list[subprocess.CompletedProcess]:
    """Run several ``(python args, pythonpath)`` side by side, each in its own process; their results in order."""
    children = [
        subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env=child_env(pythonpath),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, pythonpath in commands
    ]
    results = []
    for child in children:
        try:
            stdout, stderr = child.communicate(timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
        results.append(subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr))
    return results


def check_ok(result: subprocess.CompletedProcess, what: str) -> str:
    """Fail with the child's output unless it exited 0; returns its stdout."""
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result.stdout


def run_pytest(tests: Sequence[str], pythonpath: Sequence[Path], cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run upstream test files with pytest in a child process, rooted at ``cwd`` (not this project)."""
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(cwd), "-c", os.devnull, *extra, *tests]
    return run_python(args, pythonpath, cwd)
