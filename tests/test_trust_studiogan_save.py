"""The StudioGAN launcher saves the trained weights at the end of training, whatever --save_freq:
a real `python -m studiogan_nda --cpu` run shorter than StudioGAN's default save interval (2000)
leaves a checkpoint of its last step, says where, and the anomaly command reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studiogan_helpers import BATCH, CPU_NDA, studiogan_data, studiogan_root, write_yaml  # noqa: F401 - fixtures

import nda_core

CODE_ROOT = Path(nda_core.__file__).resolve().parents[1]  # the checkout under test
TOTAL_STEPS = 2  # StudioGAN trains current_step 0..total_steps: 3 steps, saved as step 3
RUN_TIMEOUT_S = 600


def studiogan_nda(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m studiogan_nda ARGS`` in a fresh interpreter, without the user's StudioGAN settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("STUDIOGAN_ROOT", "WANDB_MODE")}
    env.update(OMP_NUM_THREADS="2", PYTHONPATH=str(CODE_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "studiogan_nda", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_a_run_shorter_than_save_freq_saves_its_last_step(studiogan_root, studiogan_data, tmp_path):
    cfg = write_yaml(
        tmp_path / "nda-cpu-tiny.yaml",
        CPU_NDA,
        OPTIMIZATION={"batch_size": BATCH, "d_updates_per_step": 1, "total_steps": TOTAL_STEPS},
    )
    run = studiogan_nda(
        "--cpu",
        "--studiogan-root",
        str(studiogan_root),
        "-t",
        "-cfg",
        str(cfg),
        "-data",
        str(studiogan_data),
        "-save",
        str(tmp_path / "save"),
        "--seed",
        "0",
        cwd=tmp_path,
    )  # StudioGAN's default --save_freq 2000
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    checkpoints = next((tmp_path / "save" / "checkpoints").iterdir())
    step = TOTAL_STEPS + 1
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        f"model=D-current-weights-step={step}.pth",
        f"model=G-current-weights-step={step}.pth",
    ]
    assert f"saved the final step {step} in {checkpoints}" in run.stderr  # says where
    assert f"last saved checkpoint: step {step}." in run.stderr
    assert f"saved the final step {step} in {checkpoints}" in next((tmp_path / "save" / "logs").iterdir()).read_text()

    anomaly = studiogan_nda(
        "anomaly",
        "--studiogan-root",
        str(studiogan_root),
        "-cfg",
        str(cfg),
        "-ckpt",
        str(checkpoints),
        "--data",
        str(studiogan_data),
        "--split",
        "valid",
        "--num-images",
        "10",
        "--corruptions",
        "contrast",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "anomaly"),
        cwd=tmp_path,
    )
    assert anomaly.returncode == 0, anomaly.stderr[-3000:]
    assert json.loads((tmp_path / "anomaly" / "auroc.json").read_text())["step"] == step
