"""The README's commands, run in the order written on a fresh machine.

HOME, XDG_CACHE_HOME and NDA_CACHE point at one empty folder for the whole module (only the offline
data folder, NDA_DATA, is shared), so the first command that needs CIFAR-10 prepares it, and every
later one finds it there. Training commands get a tiny budget appended (a few steps, a few images);
what they prove is that the command works from an empty home folder, not what it learns. The
mmselfsup quick start has its own test (tests/test_quickstart.py); `nda demo` is the main job and
runs in tests/test_demo_cli.py at a small budget.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_machine import fresh_machine

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STEP_TIMEOUT_S = 600
# Tiny budgets appended to the README's training commands.
LIGHTLY_TINY = [
    "--trainer.max_steps",
    "2",
    "--data.batch_size",
    "8",
    "--data.per_class",
    "2",
    "--data.num_workers",
    "0",
    "--model.backbone",
    "resnet-9",
    "--model.width",
    "0.125",
    "--model.memory_bank_size",
    "64",
    "--data.val_dir",
    "none",
    "--trainer.enable_progress_bar",
    "false",
]
DPC_TINY = [
    "--model.depth=10",
    "--model.width=4",
    "--data.train_videos=8",
    "--data.test_videos=4",
    "--data.batch_size=4",
    "--trainer.max_steps=2",
    "--trainer.limit_val_batches=1",
    "--threads=1",
    "--trainer.enable_progress_bar=false",
]


def readme_command(pattern: str) -> list[str]:
    """The README line (a code block's command, continuation lines joined) that matches ``pattern``."""
    blocks = README.read_text().split("```")[1::2]  # the fenced code blocks
    for block in blocks:
        if block.startswith(("python\n", "yaml\n", "diff\n", "toml\n")):
            continue
        for line in block.replace("\\\n", " ").splitlines()[1:]:
            words = shlex.split(line, comments=True)
            if words and re.search(pattern, " ".join(words)):
                return words
    raise AssertionError(f"README.md has no command matching {pattern!r}; the test and the README disagree.")


@pytest.fixture(scope="module")
def machine(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh home folder and a working folder that holds the repository's plugins/ and examples/."""
    return fresh_machine(tmp_path_factory.mktemp("fresh"), ("plugins", "examples"))


def _run(words: list[str], machine: tuple[Path, dict[str, str]]) -> str:
    cwd, env = machine
    if words[0] == "python":
        words = [sys.executable, *words[1:]]
    result = subprocess.run(
        words, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=STEP_TIMEOUT_S
    )
    assert result.returncode == 0, f"{shlex.join(words)} failed:\n{result.stdout[-3000:]}"
    return result.stdout


def test_1_nda_show_prepares_cifar10_and_draws_the_grid(machine):
    from PIL import Image

    words = readme_command(r"^nda show all --out grid\.png")
    out = _run(words, machine)
    assert "extracting" in out  # the first use says what it is doing
    with Image.open(machine[0] / "grid.png") as grid:
        assert grid.width > 600 and grid.height > 600
    assert (Path(machine[1]["NDA_CACHE"]) / "cifar10-jpeg" / "train" / "airplane").is_dir()


def test_2_nda_data_finds_it_prepared(machine):
    out = _run(readme_command(r"^nda data cifar10$"), machine)
    assert "ready at" in out and "extracting" not in out


def test_3_lightly_train(machine):
    words = readme_command(r"^nda lightly train$")
    _run([*words, *LIGHTLY_TINY, "--trainer.default_root_dir", "lightly-run"], machine)
    assert (machine[0] / "lightly-run" / "checkpoints" / "last.ckpt").is_file()


def test_4_lightly_example_script(machine):
    words = readme_command(r"examples/lightly_moco_nda\.py")
    words = [w for w in words if w not in ("--trainer.devices", "1", "--trainer.accelerator", "gpu")]  # no GPU here
    for option in ("--trainer.max_steps", "--trainer.default_root_dir"):
        words = [*words[: words.index(option)], *words[words.index(option) + 2 :]]
    _run([*words, *LIGHTLY_TINY, "--trainer.default_root_dir", "example-run"], machine)
    assert (machine[0] / "example-run" / "checkpoints" / "last.ckpt").is_file()


def test_5_dpc_pretrain_on_moving_mnist(machine):
    words = readme_command(r"^nda dpc pretrain --config plugins/video_dpc/cpu/")
    _run([*words, "--trainer.default_root_dir", "dpc-run", *DPC_TINY], machine)
    assert (machine[0] / "dpc-run" / "checkpoints" / "last.ckpt").is_file()


def test_6_studiogan_view_of_cifar10(machine):
    words = readme_command(r"^python -m studiogan_nda data cifar10")
    _run(words, machine)
    out = words[words.index("--out") + 1]
    for split in ("train", "valid"):
        assert len(list((machine[0] / out / split).iterdir())) == 10, f"{out}/{split} should hold the 10 classes"
