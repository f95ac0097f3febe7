"""The CPU quick start of docs/mmselfsup.md, run as a new user would on a fresh machine.

Every command of the quick start's code block runs exactly as written, in the order written, from a
folder that has the repository's plugins/, with HOME, XDG_CACHE_HOME and NDA_CACHE pointing at an
empty temporary folder (only the offline data folder, NDA_DATA, is shared). A missing dataset stops
`mim train` when the dataset is built, before any step, with a UsageError that names NDA_CIFAR10_ROOT and
the command that prepares it. A line ``export NAME=$(command)`` runs the command and sets NAME for the
later ones to what it printed on stdout, as a shell does.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("mmselfsup")
from fresh_machine import fresh_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "mmselfsup.md"
SECTION = "## CPU quick start"
STEP_TIMEOUT_S = 1200
EXPORT = re.compile(r"export (\w+)=\$\((.+)\)")


def quickstart_commands() -> list[list[str]]:
    """The commands of the first ```bash block after the quick-start heading (comments dropped)."""
    section = DOC.read_text().split(SECTION, 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        export = EXPORT.fullmatch(" ".join(words))
        if export:  # export NAME=$(command): run as ["export", NAME, *command]
            words = ["export", export.group(1), *shlex.split(export.group(2))]
        if words:
            commands.append(words)
    return commands


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command; stdout and stderr in one stream, in the order a terminal shows them. ``export NAME cmd...``
    runs cmd with stderr apart and sets ``env[NAME]`` to its stdout (as ``export NAME=$(cmd ...)``)."""
    if command[0] == "export":
        result = subprocess.run(command[2:], cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
        env[command[1]] = result.stdout.strip()
        result.stdout = result.stderr + result.stdout
        return result
    return subprocess.run(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=STEP_TIMEOUT_S
    )


def _work_dir(command: list[str], cwd: Path) -> Path:
    return cwd / command[command.index("--work-dir") + 1]


def _losses_by_epoch(work_dir: Path) -> dict[int, list[float]]:
    rows = [json.loads(line) for line in next(work_dir.glob("*/vis_data/scalars.json")).read_text().splitlines()]
    by_epoch: dict[int, list[float]] = {}
    for row in rows:
        if "loss" in row:
            by_epoch.setdefault(row["epoch"], []).append(row["loss"])
    return by_epoch


def _check_output(command: list[str], result: subprocess.CompletedProcess) -> str:
    log = result.stdout
    assert result.returncode == 0, f"{shlex.join(command)} failed:\n{log[-4000:]}"
    if command[:2] == ["mim", "train"]:
        training = log.split("Training command is", 1)[1]
        # mim's own process warns about pkg_resources before it starts training; the training does not
        assert "pkg_resources" not in training and "Only use 'alpha'" not in training
        assert "MultiScaleDeformableAttention" not in training and "'pin_memory' argument" not in training
        assert training.count("nda-plugins applied") == 1
    return log


def test_quickstart_runs_as_written_in_a_fresh_home_folder(tmp_path):
    cwd, env = fresh_machine(tmp_path)
    commands = quickstart_commands()
    assert [c[:3] for c in commands] == [
        ["export", "NDA_CIFAR10_ROOT", "nda"],
        ["mim", "train", "mmselfsup"],
        ["mim", "train", "mmselfsup"],
        ["mim", "train", "mmcls"],
        ["mim", "train", "mmpretrain"],
    ], "the quick start changed: update this test"
    logs = {}
    for index, command in enumerate(commands):
        logs[str(index)] = _check_output(command, _run(command, cwd, env))
    prepare, first, resumed, linear, pretrain = commands
    assert prepare[2:] == ["nda", "data", "cifar10", "--print-root"]
    assert env["NDA_CIFAR10_ROOT"] == str(Path(env["NDA_CACHE"]) / "cifar10-jpeg") and "extracting" in logs["0"]
    nda_work = _work_dir(first, cwd)
    assert "logit_nda" in logs["1"] and (nda_work / "epoch_1.pth").is_file()
    assert "resumed epoch: 1" in logs["2"] and (nda_work / "epoch_2.pth").is_file()
    assert "accuracy/top1" in logs["3"] and (_work_dir(linear, cwd) / "epoch_2.pth").is_file()
    losses = _losses_by_epoch(_work_dir(linear, cwd))
    first_epoch, second_epoch = losses[1], losses[2]
    # the smoke linear evaluation converges: the loss falls from chance level (ln 10 = 2.30)
    assert sum(second_epoch) / len(second_epoch) < sum(first_epoch) / len(first_epoch) < 2.45
    assert (_work_dir(pretrain, cwd) / "epoch_2.pth").is_file()


def test_training_without_cifar10_stops_before_a_step_with_the_variable_and_the_command(tmp_path):
    """The quick start without its first line: NDA_CIFAR10_ROOT unset, no data/cifar10 in the working folder."""
    cwd, env = fresh_machine(tmp_path)
    command = next(c for c in quickstart_commands() if c[:2] == ["mim", "train"])
    result = _run(command, cwd, env)
    assert result.returncode != 0
    training = result.stdout.split("Training command is", 1)[1]
    # the training process's own traceback ends with our one-line error (mim then reports the failed command)
    error = next(line for line in training.splitlines() if line.startswith("nda_core.errors.UsageError: "))
    assert "CIFAR-10 is not prepared at data_root='data/cifar10'" in error and "NDA_CIFAR10_ROOT is not set" in error
    assert "`export NDA_CIFAR10_ROOT=$(nda data cifar10 --print-root)`" in error
    assert "Epoch(train)" not in training and "FileNotFoundError" not in training
