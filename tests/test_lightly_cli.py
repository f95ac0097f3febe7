"""`nda lightly` / `python -m lightly_nda` and examples/lightly_moco_nda.py: LightningCLI on real CIFAR-10
images, a run that validates under the progress bar, logs, checkpoints and resumes; the shipped configs;
the install hint without lightly."""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("lightly")
from lightly_nda.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "plugins" / "lightly"
SMOKE = CONFIGS / "cpu" / "nda-moco_resnet9-w0.125_cifar10-20_smoke.yaml"
TINY = [
    "--data.batch_size",
    "8",
    "--data.per_class",
    "2",
    "--model.backbone",
    "resnet-9",
    "--model.width",
    "0.125",
    "--model.memory_bank_size",
    "64",
    "--data.num_workers",
    "0",
    "--checkpoint.every_n_train_steps",
    "2",
]
RUN_TIMEOUT_S = 300


def test_help_names_the_command_and_lightning_cli_options(capsys):
    assert main.__doc__.splitlines()[0].startswith("NDA for lightly: `nda lightly train`")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: nda lightly train ")  # was "usage: nda lightly [-h]"
    for flag in (
        "--config",
        "--print_config",
        "--ckpt_path",
        "--model.nda",
        "--model.memory_bank_size",
        "--data.root",
        "--data.train_dir",
        "--data.val_dir",
        "--trainer.max_steps",
        "--trainer.devices",
        "--trainer.default_root_dir",
        "--checkpoint.every_n_train_steps",
    ):
        assert flag in text, flag


def _print_config(*args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main(["train", *args, "--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(out.getvalue())


def test_shipped_configs_are_read_by_config_and_stack():
    names = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))
    assert names == [
        "cpu/nda-moco_resnet9-w0.125_cifar10-20_smoke.yaml",
        "moco_resnet18_cifar10.yaml",
        "nda-moco_resnet18_cifar10.yaml",
    ]
    nda = _print_config("--config", str(CONFIGS / "nda-moco_resnet18_cifar10.yaml"))
    plain = _print_config("--config", str(CONFIGS / "moco_resnet18_cifar10.yaml"))
    assert nda["model"]["nda"] == "jigsaw" and plain["model"]["nda"] is None
    assert {k: v for k, v in nda["model"].items() if k != "nda"} == {
        k: v for k, v in plain["model"].items() if k != "nda"
    }
    assert nda["data"] == plain["data"] and nda["trainer"]["max_steps"] == plain["trainer"]["max_steps"] == 20000
    # stacked: the later file and then the command line override the earlier file
    stacked = _print_config(
        "--config",
        str(CONFIGS / "nda-moco_resnet18_cifar10.yaml"),
        "--config",
        str(SMOKE),
        "--model.nda",
        '{"type": "jigsaw", "k": 3}',
    )
    assert stacked["trainer"]["max_steps"] == 3 and stacked["data"]["batch_size"] == 8
    assert stacked["model"]["nda"] == {"type": "jigsaw", "k": 3} and stacked["model"]["projection_dim"] == 128


def test_bad_options_exit_with_a_message(capsys, tmp_path):
    root = ["--trainer.default_root_dir", str(tmp_path)]
    assert main(["train", *root, "--ckpt_path", "last"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("nda lightly train: error: --ckpt_path last: no checkpoint at")
        and len(err.strip().splitlines()) == 1
    )
    assert main(["train", *root, "--model.nda", "jigsw"]) == 2  # checked before any data is read or step is run
    assert "nda lightly train: error: NDAMoCo nda='jigsw' is not a valid NDA" in capsys.readouterr().err
    assert main(["train", *root, "--data.root", str(tmp_path)]) == 2
    assert "holds no train/ folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # jsonargparse's own errors
        main(["train", "--trainer.max_steps", "many"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        main(["fit"])


def test_import_without_lightly_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightly", None)  # what an environment without lightly looks like
    for name in [n for n in sys.modules if n == "lightly_nda" or n.startswith("lightly_nda.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'nda-plugins\[lightly\]'"):
        importlib.import_module("lightly_nda")


def _run(args: list[str], returncode: int = 0) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a tiny model: one thread, immune to other jobs on the machine
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env
    )
    assert done.returncode == returncode, done.stderr[-3000:]
    return done.stdout + done.stderr


def test_example_validates_logs_checkpoints_and_resumes_through_the_cli(cifar_root, tmp_path):
    out = tmp_path / "run"
    data = ["--data.root", str(cifar_root)]  # train/ and test/: validation on 20 test images (per_class 2)
    output = _run(
        [
            "examples/lightly_moco_nda.py",
            *data,
            *TINY,
            "--trainer.max_steps",
            "3",
            "--trainer.default_root_dir",
            str(out),
        ]
    )
    assert "done: 3 steps" in output
    # the validation runs inside fit, says what it evaluates, and shows Lightning's bar
    assert "validation: online linear classifier on 20 images of" in output and "--data.val_dir none" in output
    assert "Validation DataLoader 0" in output and "val_online_cls_top1" in output
    assert "Skipping val loop" not in output and "/-2" not in output  # no contradicting log, no "Epoch 0/-2"
    with open(out / "csv" / "version_0" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    for key in (
        "train_loss",
        "logit_pos",
        "logit_neg",
        "logit_nda",
        "train_online_cls_top1",
        "momentum",
        "val_online_cls_top1",
    ):
        assert any(row[key] for row in rows), key
    assert yaml.safe_load((out / "csv" / "version_0" / "config.yaml").read_text())["model"]["memory_bank_size"] == 64
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 3
    bank = checkpoint["state_dict"]["criterion._extra_state"]
    assert bank["bank"].shape == (64, 128) and int(bank["bank_ptr"]) == 3 * 8

    resume = [
        "-m",
        "lightly_nda",
        "train",
        *data,
        *TINY,
        "--trainer.max_steps",
        "4",
        "--trainer.default_root_dir",
        str(out),
        "--ckpt_path",
        "last",
        "--data.val_dir",
        "none",
    ]
    # another memory bank size than the run's: the error names the command-line option to pass
    output = _run([*resume, "--model.memory_bank_size", "32"], returncode=2)
    assert "nda lightly train: error: the checkpoint's memory bank holds 64 keys" in output
    assert "--model.memory_bank_size 64" in output and "done:" not in output
    output = _run([*resume, "--model.nda", "none"])
    assert "done: 4 steps" in output and "validation:" not in output
    resumed = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == 4
    assert int(resumed["state_dict"]["criterion._extra_state"]["bank_ptr"]) == 4 * 8
    torch.testing.assert_close(resumed["state_dict"]["criterion._extra_state"]["bank"][:24], bank["bank"][:24])


def test_smoke_config_runs_without_validation(cifar_root, tmp_path, capsys):
    args = [
        "train",
        "--config",
        str(SMOKE),
        "--data.root",
        str(cifar_root),
        "--trainer.default_root_dir",
        str(tmp_path / "smoke"),
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert main(args) == 0
    output = "".join(capsys.readouterr())
    assert "done: 3 steps" in output and "validation:" not in output and "val_online_cls_top1" not in output
    assert torch.load(tmp_path / "smoke" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
