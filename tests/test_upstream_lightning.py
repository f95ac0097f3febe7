"""``upstream/lightning``: the ModelCheckpoint path fix applies to pytorch-lightning 2.6.6 and its tests pass.

The patch is written against the Lightning repository (``src/lightning/pytorch/...``, tests
importing ``lightning.pytorch``). The installed ``pytorch_lightning`` is Lightning's mirror of that
source with the package renamed, so the test renames the paths and imports of the patch the same
way, applies it to a copy of the installed package and runs the new tests there. The same tests
run against the unpatched copy must fail: resuming from a checkpoint whose ``best_model_path`` or
``last_model_path`` is ``<dirpath>/../../victim`` deletes ``victim/`` there.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upstream_helpers import (  # noqa: E402
    check_ok,
    copy_package,
    git_apply,
    new_test_files,
    only_test_diffs,
    patch_series,
    run_pytest,
)

PROJECT = "lightning"
LIBRARY_FILE = "src/lightning/pytorch/callbacks/model_checkpoint.py"
RESUME_TEST = "test_resume_does_not_remove_path_outside_dirpath"


def _to_mirror(text: str) -> str:
    """The patch for the ``pytorch_lightning`` package (what Lightning's own mirror build renames)."""
    renamed = text.replace("src/lightning/pytorch/", "pytorch_lightning/")
    return renamed.replace("lightning.pytorch", "pytorch_lightning")


def _tree(tmp_path: Path, library: bool) -> tuple[Path, list[str]]:
    root = tmp_path / ("patched" if library else "unpatched")
    root.mkdir()
    copy_package("pytorch_lightning", root)
    patches = patch_series(PROJECT)
    git_apply(patches, root, rewrite=_to_mirror if library else lambda text: only_test_diffs(_to_mirror(text)))
    return root, [test for patch in patches for test in new_test_files(patch)]


def test_series_layout() -> None:
    """One patch: the library file and one new test file of Lightning's checkpointing tests."""
    (patch,) = patch_series(PROJECT)
    assert new_test_files(patch) == ["tests/tests_pytorch/checkpointing/test_model_checkpoint_paths.py"]
    text = patch.read_text()
    assert f"diff --git a/{LIBRARY_FILE} b/{LIBRARY_FILE}" in text
    assert "-        previous = Path(previous).absolute()" in text
    assert "+        previous = Path(previous).resolve()" in text


def test_patched_lightning_tests_pass(tmp_path: Path) -> None:
    root, tests = _tree(tmp_path, library=True)
    out = check_ok(run_pytest(tests, [root], root), "the pull request's Lightning tests")
    assert " passed" in out and "failed" not in out


def test_unpatched_lightning_deletes_victim(tmp_path: Path) -> None:
    """Without the fix the reproduction deletes the folder outside dirpath (both restored paths)."""
    root, tests = _tree(tmp_path, library=False)
    result = run_pytest(tests, [root], root, "-rf")
    assert result.returncode != 0, result.stdout
    failed = {line.split("::")[-1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED ")}
    assert {f"{RESUME_TEST}[best_model_path]", f"{RESUME_TEST}[last_model_path]"} <= failed, result.stdout
    assert "victim" in result.stdout
    assert not any("test_should_remove_checkpoint_resolves_path[epoch=0.ckpt" in name for name in failed)
