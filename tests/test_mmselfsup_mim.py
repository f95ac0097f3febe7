"""`mim train`, the command users run: pre-train on real CIFAR-10, kill-and-resume, linear eval."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRETRAIN = REPO / "plugins" / "mmselfsup" / "cpu" / "nda-mocov2-jigsaw_resnet18-w16_cifar10-500_cpu.py"
LINEAR = REPO / "plugins" / "mmselfsup" / "cpu" / "linear_resnet18-w16_cifar10-500_cpu.py"
MIM = Path(sys.executable).with_name("mim")
MIM_TIMEOUT_S = 900


def _mim_train(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(MIM), "train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=MIM_TIMEOUT_S
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def test_mim_train_resumes_and_the_linear_eval_runs_from_its_checkpoint(tmp_path, cifar_root):
    env = {**os.environ, "NDA_CIFAR10_ROOT": str(cifar_root)}
    work = tmp_path / "pretrain"
    # Stop after the first epoch's checkpoint, as a killed run would.
    first = _mim_train(["mmselfsup", str(PRETRAIN), "--work-dir", str(work), "--cfg-options", "train_cfg.max_epochs=1"], tmp_path, env)
    assert (work / "epoch_1.pth").is_file() and not (work / "epoch_2.pth").exists()
    assert "logit_nda" in first  # the NDA head's logged logit means reach the framework's logger

    resumed = _mim_train(["mmselfsup", str(PRETRAIN), "--work-dir", str(work), "--resume"], tmp_path, env)
    assert "resumed epoch: 1" in resumed
    assert (work / "epoch_2.pth").is_file()

    linear = tmp_path / "linear"
    evaluated = _mim_train(
        [
            "mmcls", str(LINEAR), "--work-dir", str(linear), "--cfg-options",
            f"model.backbone.init_cfg.checkpoint={work / 'epoch_2.pth'}", "train_cfg.max_epochs=1",
        ],
        tmp_path,
        env,
    )
    assert "accuracy/top1" in evaluated
    assert (linear / "epoch_1.pth").is_file()
