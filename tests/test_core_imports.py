"""nda_core is the ground floor: it imports nothing above it, and `nda` finds commands by entry point."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import nda_core

CORE = Path(nda_core.__file__).resolve().parent
ROOT = CORE.parent
PROJECT_PACKAGES = {"nda_demo", "mmselfsup_nda", "lightly_nda", "studiogan_nda", "video_dpc", "plugins", "benchmarks"}
# What nda_core may import at module level: the standard library, torch and numpy.
ALLOWED_TOP_LEVEL = {"torch", "numpy", "nda_core", "__future__"}


def _imports(tree: ast.AST, module_level_only: bool) -> list[tuple[str, int]]:
    """Top-level package names imported in ``tree`` with their line numbers."""
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
    return found


def _core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8, f"expected nda_core's modules under {CORE}, found {files}"
    return files


def test_nda_core_never_imports_a_package_above_it():
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _core_files()
        for name, line in _imports(ast.parse(path.read_text()), module_level_only=False)
        if name in PROJECT_PACKAGES
    ]
    assert offending == []


def test_nda_core_module_level_imports_are_torch_numpy_and_stdlib():
    stdlib = set(sys.stdlib_module_names)
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name} at module level"
        for path in _core_files()
        for name, line in _imports(ast.parse(path.read_text()), module_level_only=True)
        if name not in ALLOWED_TOP_LEVEL and name not in stdlib
    ]
    assert offending == []


def test_importing_nda_core_loads_no_project_package():
    code = (
        "import sys, nda_core, nda_core.cli, nda_core.data, nda_core.metrics, nda_core.workarounds; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(PROJECT_PACKAGES)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_walker_sees_a_violation(tmp_path):
    """The walker itself can fail: a module importing nda_demo is reported."""
    tree = ast.parse("import torch\ndef f():\n    from nda_demo.cli import main\n")
    assert ("nda_demo", 3) in _imports(tree, module_level_only=False)
    assert ("nda_demo", 3) not in _imports(tree, module_level_only=True)


def test_sub_commands_come_from_the_entry_point_group():
    from nda_core.cli import ENTRY_POINT_GROUP, plugin_commands

    commands = plugin_commands()
    assert ENTRY_POINT_GROUP == "nda.commands"
    assert commands["demo"].value == "nda_demo.cli:main"
    assert commands["bench"].value == "nda_core.benchmark:main"
    source = (CORE / "cli.py").read_text()
    for package in PROJECT_PACKAGES - {"benchmarks", "plugins"}:  # "plugins" is also an English word
        assert package not in source, f"nda_core/cli.py names {package}: the host must not know the packages above it"


def test_a_plugin_that_cannot_load_gives_its_install_hint(capsys, monkeypatch):
    from importlib.metadata import EntryPoint

    import nda_core.cli as cli

    broken = EntryPoint(name="fancy", value="nda_missing_package_for_test.cli:main", group=cli.ENTRY_POINT_GROUP)
    monkeypatch.setattr(cli, "plugin_commands", lambda: {"fancy": broken})
    assert cli.main(["fancy", "--x"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "nda fancy" in err and "nda_missing_package_for_test" in err and "install" in err


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory) -> Path:
    """The project built as a wheel and unpacked into a bare folder (no editable source on the path)."""
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the sources without build/ and egg-info: setuptools would package stale files from them.
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "docs", "tests"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = work.glob("nda_plugins-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_nda_bench_help_works_from_an_installed_wheel(wheel_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(wheel_site)}
    code = (
        "import nda_core, nda_core.cli, sys; print(nda_core.__file__); sys.exit(nda_core.cli.main(['bench', '--help']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    first, _, help_text = result.stdout.partition("\n")
    assert first.startswith(str(wheel_site)), f"nda_core was imported from {first}, not from the wheel"
    assert "usage: nda bench" in help_text
    assert sysconfig.get_paths()["purelib"] not in first


def test_the_wheel_ships_every_plugin_config_under_its_own_namespace(wheel_site):
    """No top-level `plugins` package lands in site-packages; every config of plugins/ is package data of
    nda_core (nda_core/_configs), byte for byte, so `nda configs` can hand it to users of a wheel."""
    (dist_info,) = wheel_site.glob("nda_plugins-*.dist-info")
    top_level = set((dist_info / "top_level.txt").read_text().split())
    assert not (wheel_site / "plugins").exists() and "plugins" not in top_level, sorted(top_level)
    packaged = wheel_site / "nda_core" / "_configs"
    shipped = {p.relative_to(packaged).as_posix() for p in packaged.rglob("*") if p.is_file()}
    wanted = {
        p.relative_to(ROOT / "plugins").as_posix()
        for p in (ROOT / "plugins").rglob("*")
        if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".txt") and "__pycache__" not in p.parts
    }
    assert len(wanted) > 100 and wanted == shipped, (sorted(wanted - shipped)[:10], sorted(shipped - wanted)[:10])
    assert all((packaged / name).read_bytes() == (ROOT / "plugins" / name).read_bytes() for name in wanted)


def _run_from_wheel(wheel_site: Path, cwd: Path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(wheel_site)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env)


def test_nda_configs_from_a_wheel_lists_and_copies_a_loadable_config(wheel_site, tmp_path):
    """`nda configs` reaches the host through the wheel's own entry-point metadata, reads the packaged
    configs, and a copied mmselfsup leaf config loads with mmengine from DEST (its _base_ resolves)."""
    from mmengine import Config

    leaf = "mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"
    dest = tmp_path / "my-configs"
    code = (
        "import sys, nda_core.cli, nda_core.configs; "
        "print(nda_core.configs.configs_root()); "
        "assert nda_core.cli.main(['configs', 'list', 'mmselfsup/cpu/']) == 0; "
        f"sys.exit(nda_core.cli.main(['configs', 'copy', {leaf!r}, {str(dest)!r}]))"
    )
    result = _run_from_wheel(wheel_site, tmp_path, code)
    assert result.returncode == 0, result.stderr
    root, *listed = result.stdout.splitlines()
    assert Path(root) == wheel_site / "nda_core" / "_configs"
    assert leaf in listed and all(name.startswith("mmselfsup/cpu/") for name in listed[:-1])
    config = Config.fromfile(str(dest / leaf), import_custom_modules=False)
    assert config.model.nda == {"type": "jigsaw", "k": 2}
    assert (
        Path(config.train_dataloader.dataset.ann_file).resolve()
        == dest / "mmselfsup" / "data" / "cifar10_train_500.txt"
    )

    # A second copy over a file the user changed is refused, and the file is kept.
    runtime = dest / "mmselfsup" / "_base_" / "default_runtime.py"
    runtime.write_text("# edited by the user\n")
    again = _run_from_wheel(
        wheel_site,
        tmp_path,
        f"import sys, nda_core.configs; sys.exit(nda_core.configs.main(['copy', {leaf!r}, {str(dest)!r}]))",
    )
    assert again.returncode == 2 and str(runtime) in again.stderr and "error:" in again.stderr
    assert runtime.read_text() == "# edited by the user\n"


def test_studiogan_finds_its_configs_in_a_wheel(wheel_site, tmp_path):
    result = _run_from_wheel(wheel_site, tmp_path, "import studiogan_nda.cli as c; print(c.configs_dir())")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == wheel_site / "nda_core" / "_configs" / "studiogan" / "configs"
