"""The CPU quick start of docs/mmselfsup.md, run as a new user would on a fresh machine.

Every command of the quick start's code block runs exactly as written, in the order written, from a
folder that has the repository's plugins/, with HOME, XDG_CACHE_HOME and NDA_CACHE pointing at an
empty temporary folder (only the offline data folder, NDA_DATA, is shared). A missing dataset stops
`mim train` at once with one line that names the command that prepares it.
"""

from __future__ import annotations

import json
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


def quickstart_commands() -> list[list[str]]:
    """The commands of the first ```bash block after the quick-start heading (comments dropped)."""
    section = DOC.read_text().split(SECTION, 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [words for words in (shlex.split(line, comments=True) for line in lines) if words]


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command; stdout and stderr in one stream, in the order a terminal shows them."""
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
        ["nda", "data", "cifar10"], ["mim", "train", "mmselfsup"], ["mim", "train", "mmselfsup"],
        ["mim", "train", "mmcls"], ["mim", "train", "mmpretrain"],
    ], "the quick start changed: update this test"
    logs = {}
    for index, command in enumerate(commands):
        logs[str(index)] = _check_output(command, _run(command, cwd, env))
    prepare, first, resumed, linear, pretrain = commands
    assert str(Path(env["NDA_CACHE"]) / "cifar10-jpeg") in logs["0"] and "extracting" in logs["0"]
    nda_work = _work_dir(first, cwd)
    assert "logit_nda" in logs["1"] and (nda_work / "epoch_1.pth").is_file()
    assert "resumed epoch: 1" in logs["2"] and (nda_work / "epoch_2.pth").is_file()
    assert "accuracy/top1" in logs["3"] and (_work_dir(linear, cwd) / "epoch_2.pth").is_file()
    losses = _losses_by_epoch(_work_dir(linear, cwd))
    first_epoch, second_epoch = losses[1], losses[2]
    # the smoke linear evaluation converges: the loss falls from chance level (ln 10 = 2.30)
    assert sum(second_epoch) / len(second_epoch) < sum(first_epoch) / len(first_epoch) < 2.45
    assert (_work_dir(pretrain, cwd) / "epoch_2.pth").is_file()


def test_training_without_cifar10_stops_at_once_with_the_command_that_prepares_it(tmp_path):
    cwd, env = fresh_machine(tmp_path)
    env["NDA_DATA"] = str(tmp_path / "no-offline-data")
    command = next(c for c in quickstart_commands() if c[:2] == ["mim", "train"])
    result = _run(command, cwd, env)
    assert result.returncode != 0
    training = result.stdout.split("Training command is", 1)[1].splitlines()[1:]
    # what the training process printed: one line, no traceback (mim then reports the failed command)
    ours = training[: next(i for i, line in enumerate(training) if line.startswith("Traceback"))]
    assert [line for line in ours if line.strip()] == [next(line for line in ours if line.startswith("nda-plugins:"))]
    assert "CIFAR-10 is not prepared" in ours[0] and "`nda data cifar10 --from PATH`" in ours[0]
