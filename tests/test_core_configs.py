"""`nda configs`: list the shipped configs and copy one with the files it depends on, never overwriting.

These tests run against the checkout's plugins/ folder; tests/test_core_imports.py runs the same
commands from a built wheel, where the configs live in nda_core/_configs.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import tomllib

import nda_core.cli as cli
from nda_core import configs

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
# A leaf whose _base_ chain runs through its tree's _base_ and data folders.
MMPRETRAIN_LEAF = "mmpretrain/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"
MMSELFSUP_LEAF = "mmselfsup/cpu/nda-mocov2-jigsaw_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"
LEAVES = [name for name in configs.list_configs() if "_base_" not in name.split("/") and not name.endswith(".txt")]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _load(path: Path) -> dict[str, Any]:
    """The config at ``path`` merged with its ``_base_`` files by the framework (or adapter) that reads it
    (video_dpc: its LightningCLI)."""
    if path.suffix == ".py":
        from mmengine import Config

        return Config.fromfile(str(path), import_custom_modules=False).to_dict()
    if "lightly" in path.parts:  # LightningCLI: the resolved config that `nda lightly train --config PATH` would run
        import contextlib
        import io

        import yaml

        from lightly_nda.train import main

        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
            main(["--config", str(path), "--print_config"])
        assert exit_info.value.code == 0, path
        return yaml.safe_load(out.getvalue())
    if "studiogan" in path.parts:
        from studiogan_nda.settings import read_yaml

        return read_yaml(path)
    import yaml

    from video_dpc.cli import load_config

    if "nda" in path.parent.name:  # a stackable NDA file: on top of the CPU pre-training leaf
        return load_config(
            "pretrain",
            ["--config", str(PLUGINS / "video_dpc" / "cpu" / "dpc_moving-mnist.yaml"), "--config", str(path)],
        )
    command = "pretrain" if "pred_step" in yaml.safe_load(path.read_text())["model"] else "finetune"
    return load_config(command, ["--config", str(path)])


def test_a_checkout_lists_exactly_the_config_files_of_plugins():
    wanted = sorted(
        p.relative_to(PLUGINS).as_posix()
        for p in PLUGINS.rglob("*")
        if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".txt") and "__pycache__" not in p.parts
    )
    assert configs.configs_root() == PLUGINS
    assert configs.list_configs() == wanted and len(wanted) > 100
    assert configs.list_configs("mmselfsup/cpu/") == [n for n in wanted if n.startswith("mmselfsup/cpu/")]


def test_the_dependencies_of_a_config_follow_chains_within_its_tree():
    files = configs.config_files(MMPRETRAIN_LEAF)
    # through ./mocov2_...py -> ../_base_/datasets/... -> {{fileDirname}}/../../data/...
    assert {
        MMPRETRAIN_LEAF,
        "mmpretrain/cpu/mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py",
        "mmpretrain/_base_/default_runtime.py",
        "mmpretrain/_base_/models/nda-mocov2.py",
        "mmpretrain/_base_/schedules/sgd_coslr-2e_cpu.py",
        "mmpretrain/data/cifar10_train_500.txt",
    } <= set(files)
    # only what the chain names: no other leaf, no other tree
    assert not any(name.startswith(("mmselfsup/", "studiogan/", "video_dpc/")) for name in files)


@pytest.mark.parametrize("name", LEAVES)
def test_every_leaf_needs_only_files_of_its_own_tree(name):
    """Each framework's tree (plugins/<framework>/) is copied and used alone."""
    tree = name.split("/")[0] + "/"
    assert all(file.startswith(tree) for file in configs.config_files(name)), configs.config_files(name)


@pytest.mark.parametrize("name", LEAVES)
def test_every_leaf_copied_alone_loads_from_dest(name, tmp_path):
    """Copy one config into an empty folder: its framework's loader resolves every _base_ there, and
    every annotation file the config names exists there."""
    leaf, *written = configs.copy_config(name, tmp_path)
    assert leaf == tmp_path / name and leaf.read_bytes() == (PLUGINS / name).read_bytes()
    assert all(path.is_relative_to(tmp_path) for path in written)
    loaded = _load(leaf)
    assert loaded, name
    named_files = [Path(s) for s in _strings(loaded) if s.endswith(".txt") and "/" in s]
    assert all(path.resolve().is_relative_to(tmp_path) and path.exists() for path in named_files), named_files


def test_copy_never_overwrites_and_writes_nothing_when_it_refuses(tmp_path, capsys):
    mine = tmp_path / "mmselfsup" / "_base_" / "default_runtime.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own runtime\n")
    status = configs.main(["copy", MMSELFSUP_LEAF, str(tmp_path)])
    err = capsys.readouterr().err
    assert status == configs.EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and "error:" in err and str(mine) in err and "new DEST" in err
    assert mine.read_text() == "# my own runtime\n"
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == [mine]


def test_copy_leaves_identical_files_so_two_configs_share_one_base(tmp_path, capsys):
    assert configs.main(["copy", MMSELFSUP_LEAF, str(tmp_path)]) == 0
    runtime = tmp_path / "mmselfsup" / "_base_" / "default_runtime.py"
    before = runtime.stat().st_mtime_ns
    other = "mmselfsup/cpu/mocov2_resnet18-w16_1xb32-coslr-2e_cifar10-500.py"  # its whole chain is already there
    assert configs.main(["copy", other, str(tmp_path)]) == 0
    assert runtime.stat().st_mtime_ns == before
    assert f"{tmp_path / MMSELFSUP_LEAF} ready" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["copy", "mmselfsup/cpu/no-such-config.py", "DEST"], "not a shipped config"),
        (["copy", "../pyproject.toml", "DEST"], "not a shipped config"),
        (["copy", "mmselfsup/_base_/../../../README.md", "DEST"], "not a shipped config"),
        (["list", "no-such-framework/"], "matches no config"),
    ],
)
def test_bad_names_are_usage_errors(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / "dest") if a == "DEST" else a for a in argv]
    assert configs.main(argv) == configs.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "dest").exists()


def test_nda_configs_runs_through_the_entry_point_pyproject_declares(monkeypatch, capsys):
    """The host knows no `configs` command: the line in pyproject.toml's nda.commands table does."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][cli.ENTRY_POINT_GROUP]
    entry = EntryPoint(name="configs", value=table["configs"], group=cli.ENTRY_POINT_GROUP)
    monkeypatch.setattr(cli, "plugin_commands", lambda: {"configs": entry})
    assert cli.main(["configs", "list", "mmselfsup/cpu/"]) == 0
    assert capsys.readouterr().out.split() == configs.list_configs("mmselfsup/cpu/")
