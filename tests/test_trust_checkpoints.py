"""Runs and their checkpoints can be trusted: `nda lightly train` and `python -m video_dpc pretrain|
finetune` never replace an earlier run's checkpoints, a resumed checkpoint cannot make Lightning
delete files outside the run, and a run that did no optimisation step is an error.

Real commands on real data (CIFAR-10 images, moving-MNIST clips), tiny models, a few steps; the
resumes from a crafted checkpoint run the command lines in a fresh interpreter, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_video_train import LINEAR_CFG, NDA_CFG
from test_video_train import TINY as DPC_TINY

import nda_core

pytest.importorskip("lightly")
from lightly_nda.cli import main as lightly_main  # noqa: E402
from lightly_nda.train import main as example_main  # noqa: E402  (what examples/lightly_moco_nda.py runs)
from video_dpc.cli import main as dpc_main  # noqa: E402

CODE_ROOT = Path(nda_core.__file__).resolve().parents[1]  # the checkout under test
# The shipped smoke config (tiny ResNet-9, 2 images per class, no validation), checkpointing every step.
LIGHTLY_TINY = [
    "--config",
    str(CODE_ROOT / "plugins" / "lightly" / "cpu" / "nda-moco_resnet9-w0.125_cifar10-20_smoke.yaml"),
    "--checkpoint.every_n_train_steps",
    "1",
    "--trainer.enable_progress_bar",
    "false",
]
RUN_TIMEOUT_S = 300
USAGE = 2
DROPPED = "dropped stored checkpoint paths outside the run's checkpoint folder"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command line in a fresh interpreter (one thread: a tiny model, immune to other jobs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(CODE_ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def _plant_victims(run_checkpoints: Path) -> dict[str, Path]:
    """Files outside the run that a crafted checkpoint names through ``<run>/checkpoints/../../``."""
    outside = run_checkpoints.parent.parent
    victim = outside / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("not the run's")
    (outside / "victim_last.txt").write_text("not the run's either")
    return {"dir": victim, "file": outside / "victim_last.txt"}


def _craft(checkpoint_path: Path) -> None:
    """Make every ModelCheckpoint state of a real checkpoint name files outside the run, with ``..``.

    The result holds only strings and tensors: ``torch.load(weights_only=True)`` loads it.
    """
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    folder = checkpoint_path.parent
    states = [
        state for state in checkpoint["callbacks"].values() if isinstance(state, dict) and "best_model_path" in state
    ]
    assert states, sorted(checkpoint["callbacks"])
    for state in states:
        escape = str(folder / ".." / ".." / "victim")
        state.update(
            best_model_path=escape,
            kth_best_model_path=escape,
            best_k_models={escape: torch.tensor(0.0)},
            last_model_path=str(folder / ".." / ".." / "victim_last.txt"),
        )
    torch.save(checkpoint, checkpoint_path)
    torch.load(checkpoint_path, map_location="cpu", weights_only=True)  # still a "safe" checkpoint


def _survived(victims: dict[str, Path]) -> None:
    assert (victims["dir"] / "keep.txt").read_text() == "not the run's"
    assert victims["file"].read_text() == "not the run's either"


# -- nda lightly train ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lightly_run(cifar_root, tmp_path_factory) -> dict:
    """A finished 2-step `nda lightly train` run."""
    out = tmp_path_factory.mktemp("lightly") / "run"
    data = ["--data.train_dir", str(cifar_root / "train")]
    assert (
        lightly_main(
            ["train", *data, *LIGHTLY_TINY, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(out)]
        )
        == 0
    )
    return {"out": out, "data": data, "last": out / "checkpoints" / "last.ckpt"}


def test_lightly_refuses_to_replace_a_finished_runs_checkpoints(lightly_run, capsys):
    out, last = lightly_run["out"], lightly_run["last"]
    before = {path.name: path.read_bytes() for path in (out / "checkpoints").iterdir()}
    args = [
        *lightly_run["data"],
        *LIGHTLY_TINY,
        "--trainer.max_steps",
        "2",
        "--trainer.default_root_dir",
        str(out),
        "--model.nda",
        "none",
    ]
    assert lightly_main(["train", *args]) == USAGE  # the README's sequence: a second run, same --out
    err = capsys.readouterr().err
    assert (
        err.startswith("nda lightly train: error: --trainer.default_root_dir ")
        and "already holds a run's checkpoints" in err
    )
    assert "--ckpt_path last" in err and len(err.strip().splitlines()) == 1
    assert example_main(args, prog="lightly_moco_nda.py") == USAGE  # examples/lightly_moco_nda.py
    assert capsys.readouterr().err.startswith("lightly_moco_nda.py: error: --trainer.default_root_dir ")
    assert {path.name: path.read_bytes() for path in (out / "checkpoints").iterdir()} == before
    assert torch.load(last, weights_only=True)["global_step"] == 2


def test_lightly_resume_at_the_step_limit_is_an_error(lightly_run, capsys):
    args = [
        *lightly_run["data"],
        *LIGHTLY_TINY,
        "--trainer.max_steps",
        "2",
        "--trainer.default_root_dir",
        str(lightly_run["out"]),
        "--ckpt_path",
        "last",
    ]
    assert lightly_main(["train", *args]) == USAGE
    err = capsys.readouterr().err
    assert "did no optimisation step" in err and "already at step 2 and --trainer.max_steps is 2" in err


@pytest.mark.parametrize(
    "sizes",
    [["--data.per_class", "2", "--data.batch_size", "128"], ["--data.per_class", "8", "--data.batch_size", "512"]],
)
def test_lightly_folder_smaller_than_one_batch_is_an_error(cifar_root, tmp_path, capsys, sizes):
    args = [
        "train",
        "--data.root",
        str(cifar_root),
        *LIGHTLY_TINY,
        *sizes,
        "--trainer.max_steps",
        "2",
        "--trainer.default_root_dir",
        str(tmp_path / "run"),
    ]
    assert lightly_main(args) == USAGE
    err = capsys.readouterr().err
    assert "fewer than one batch of batch_size=" in err and "--data.batch_size" in err and "done:" not in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_lightly_resume_of_a_crafted_checkpoint_deletes_nothing_outside_the_run(cifar_root, tmp_path):
    out = tmp_path / "run"
    data = ["--data.train_dir", str(cifar_root / "train")]
    assert (
        lightly_main(
            ["train", *data, *LIGHTLY_TINY, "--trainer.max_steps", "1", "--trainer.default_root_dir", str(out)]
        )
        == 0
    )
    victims = _plant_victims(out / "checkpoints")
    _craft(out / "checkpoints" / "last.ckpt")
    done = _cli(
        "-m",
        "lightly_nda",
        "train",
        *data,
        *LIGHTLY_TINY,
        "--trainer.max_steps",
        "3",
        "--trainer.default_root_dir",
        str(out),
        "--ckpt_path",
        "last",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done: 3 steps" in done.stdout
    _survived(victims)
    assert DROPPED in done.stderr and "victim" in done.stderr


# -- python -m video_dpc pretrain | finetune ---------------------------------------------------------------
DPC_STEPS = ["--checkpoint.every_n_train_steps=1", "--trainer.val_check_interval=1"]


def test_dpc_refuses_to_replace_a_finished_runs_checkpoints(tmp_path, capsys):
    work = tmp_path / "run"
    assert (
        dpc_main(
            [
                "pretrain",
                "--config",
                str(NDA_CFG),
                "--trainer.default_root_dir",
                str(work),
                *DPC_TINY,
                "--trainer.max_steps=1",
                *DPC_STEPS,
            ]
        )
        == 0
    )
    before = {path.name: path.read_bytes() for path in (work / "checkpoints").iterdir()}
    logs_before = sorted(path.relative_to(work) for path in work.rglob("*"))
    capsys.readouterr()
    again = ["--trainer.default_root_dir", str(work), *DPC_TINY, "--trainer.max_steps=2", *DPC_STEPS]
    assert dpc_main(["pretrain", "--config", str(NDA_CFG), *again, "--model.nda=null"]) == USAGE
    err = capsys.readouterr().err
    assert "pretrain: error: --trainer.default_root_dir " in err and "already holds a run's checkpoints" in err
    assert "--ckpt_path last" in err
    assert (
        dpc_main(["finetune", "--config", str(LINEAR_CFG), *again]) == USAGE
    )  # a probe into the pre-training's folder
    assert "already holds a run's checkpoints" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in (work / "checkpoints").iterdir()} == before
    assert sorted(path.relative_to(work) for path in work.rglob("*")) == logs_before  # no new log or config folder
    assert dpc_main(["pretrain", "--config", str(NDA_CFG), "--ckpt_path", "last", *again]) == 0  # continuing is fine
    assert torch.load(work / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert (
        dpc_main(["pretrain", "--config", str(NDA_CFG), "--ckpt_path", "last", *again]) == USAGE
    )  # already at max_steps
    assert "already at step 2 and --trainer.max_steps is 2" in capsys.readouterr().err


def test_dpc_resume_of_a_crafted_checkpoint_deletes_nothing_outside_the_run(tmp_path):
    work = tmp_path / "run"
    assert (
        dpc_main(
            [
                "pretrain",
                "--config",
                str(NDA_CFG),
                "--trainer.default_root_dir",
                str(work),
                *DPC_TINY,
                "--trainer.max_steps=1",
                *DPC_STEPS,
            ]
        )
        == 0
    )
    victims = _plant_victims(work / "checkpoints")
    _craft(work / "checkpoints" / "last.ckpt")
    done = _cli(
        "-m",
        "video_dpc",
        "pretrain",
        "--config",
        str(NDA_CFG),
        "--trainer.default_root_dir",
        str(work),
        "--ckpt_path",
        "last",
        *DPC_TINY,
        "--trainer.max_steps=3",
        *DPC_STEPS,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _survived(victims)
    assert DROPPED in done.stderr and "victim" in done.stderr
    assert torch.load(work / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3


# -- the shared sanitiser ------------------------------------------------------------------------------------
def test_contained_state_keeps_the_runs_own_paths_and_drops_escapes(tmp_path):
    from nda_core.runs import contained_checkpoint_state

    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    own = {
        "best_model_path": str(folder / "epoch=0-step=2.ckpt"),
        "last_model_path": str(folder / "last.ckpt"),
        "best_k_models": {str(folder / "epoch=0-step=2.ckpt"): torch.tensor(0.5)},
        "kth_best_model_path": str(folder / "epoch=0-step=2.ckpt"),
        "kth_value": torch.tensor(0.5),
        "best_model_score": torch.tensor(0.5),
        "dirpath": str(folder),
    }
    assert contained_checkpoint_state(own, folder) == own  # a normal resume restores everything
    (tmp_path / "victim").mkdir()
    (folder / "link.ckpt").symlink_to(tmp_path / "victim")  # inside by name, outside once resolved
    with pytest.warns(UserWarning, match="outside the run's checkpoint folder"):
        cleaned = contained_checkpoint_state(
            {**own, "best_k_models": {**own["best_k_models"], str(folder / "link.ckpt"): torch.tensor(0.1)}}, folder
        )
    assert cleaned["best_k_models"] == {} and cleaned["best_model_path"] == "" and cleaned["best_model_score"] is None
    assert "kth_best_model_path" not in cleaned and cleaned["last_model_path"] == own["last_model_path"]
    with pytest.warns(UserWarning, match="last_model_path='s3://bucket/last.ckpt'"):
        cleaned = contained_checkpoint_state({**own, "last_model_path": "s3://bucket/last.ckpt"}, folder)
    assert cleaned["last_model_path"] == str(folder / "last.ckpt") and cleaned["best_k_models"] == own["best_k_models"]
