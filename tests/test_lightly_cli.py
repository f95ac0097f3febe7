"""`nda lightly` / `python -m lightly_nda` and examples/lightly_moco_nda.py: a real run on real
CIFAR-10 images that logs, checkpoints and resumes; the install hint without lightly."""

from __future__ import annotations

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightly")
from lightly_nda.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--batch-size", "8", "--per-class", "2", "--backbone", "resnet-9", "--width", "0.125", "--memory-bank", "64",
        "--workers", "0", "--checkpoint-every", "2", "--no-progress"]
RUN_TIMEOUT_S = 300


def test_help_line_and_options(capsys):
    assert main.__doc__.splitlines()[0].startswith("NDA for lightly: `nda lightly train`")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--nda", "--max-steps", "--batch-size", "--out", "--devices", "--accelerator", "--logger", "--resume"):
        assert flag in text
    assert "(default: jigsaw)" in text


def test_bad_options_exit_with_a_message(capsys, tmp_path):
    assert main(["train", "--max-steps", "0"]) == 2
    assert "--max-steps must be >= 1, got 0" in capsys.readouterr().err
    assert main(["train", "--resume", "last", "--out", str(tmp_path)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit"])


def test_import_without_lightly_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightly", None)  # what an environment without lightly looks like
    for name in [n for n in sys.modules if n == "lightly_nda" or n.startswith("lightly_nda.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'nda-plugins\[lightly\]'"):
        importlib.import_module("lightly_nda")


def _run(args: list[str]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a tiny model: one thread, immune to other jobs on the machine
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_example_trains_logs_checkpoints_and_resumes_through_the_cli(cifar_root, tmp_path):
    out = tmp_path / "run"
    data = ["--data", str(cifar_root / "train"), "--val-data", "none"]
    stdout = _run(["examples/lightly_moco_nda.py", *data, *TINY, "--max-steps", "3", "--out", str(out)])
    assert "done: 3 steps" in stdout
    with open(out / "csv" / "version_0" / "metrics.csv") as handle:
        row = next(csv.DictReader(handle))
    for key in ("train_loss", "logit_pos", "logit_neg", "logit_nda", "train_online_cls_top1", "momentum"):
        assert row[key], key
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 3
    bank = checkpoint["state_dict"]["criterion._extra_state"]
    assert bank["bank"].shape == (64, 128) and int(bank["bank_ptr"]) == 3 * 8

    stdout = _run(["-m", "lightly_nda", "train", *data, *TINY, "--max-steps", "4", "--out", str(out), "--resume", "last", "--nda", "none"])
    assert "done: 4 steps" in stdout
    resumed = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 4
    assert int(resumed["state_dict"]["criterion._extra_state"]["bank_ptr"]) == 4 * 8
    torch.testing.assert_close(resumed["state_dict"]["criterion._extra_state"]["bank"][:24], bank["bank"][:24])
