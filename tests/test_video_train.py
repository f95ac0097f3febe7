"""Real training with PyTorch Lightning on the CPU: NDA-DPC steps on moving-MNIST actions and on
real video clips, checkpoint resume (`--ckpt_path last`) that continues the step count, a linear
probe from a pre-training checkpoint and its dense-window evaluation, the `nda dpc` command
(one LightningCLI per verb), clear one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from test_video_data import make_ucf_tree

import video_dpc.engine
from video_dpc.cli import main

PLUGINS = Path(__file__).resolve().parents[1] / "plugins" / "video_dpc"
DPC_CFG = PLUGINS / "cpu" / "dpc_moving-mnist.yaml"
NDA_CFG = PLUGINS / "cpu" / "nda-dpc-jigsaw_moving-mnist.yaml"
LINEAR_CFG = PLUGINS / "cpu" / "linear_moving-mnist.yaml"
# A tiny model on 64 px moving-MNIST (a 2 x 2 feature map; the configs' pred_step 2), 8 training videos of 12 frames.
TINY = [
    "--model.depth=10",
    "--model.width=4",
    "--model.num_seq=4",
    "--model.seq_len=2",
    "--data.frames=12",
    "--data.train_videos=8",
    "--data.test_videos=4",
    "--data.batch_size=4",
    "--trainer.limit_val_batches=1",
    "--trainer.log_every_n_steps=1",
    "--threads=1",
    "--trainer.enable_progress_bar=false",
]


@pytest.fixture(autouse=True)
def plain_program_name(monkeypatch):
    """`nda` hosts rename the program (sys.argv[0] = 'nda dpc'); these tests call `python -m video_dpc`'s main."""
    monkeypatch.setattr(sys, "argv", ["python"])


def _steps(work_dir: Path, column: str = "train/loss") -> list[int]:
    rows = []
    for file in sorted((work_dir / "csv").glob("version_*/metrics.csv")):
        with open(file) as handle:
            rows += [int(r["step"]) for r in csv.DictReader(handle) if r.get(column)]
    return rows


@pytest.fixture
def recorded_losses(monkeypatch):
    """Observe the tensors that Lightning's training step hands to dpc_loss."""
    seen = []
    original = video_dpc.engine.dpc_loss

    def record(pred, target, nda=None):
        seen.append((pred.detach(), target.detach(), None if nda is None else nda.detach()))
        return original(pred, target, nda)

    monkeypatch.setattr(video_dpc.engine, "dpc_loss", record)
    return seen


def test_nda_dpc_trains_with_lightning_and_resume_continues_the_step_count(tmp_path, recorded_losses):
    work = tmp_path / "run"
    first = TINY + ["--trainer.max_steps=2", "--trainer.val_check_interval=2", "--checkpoint.every_n_train_steps=2"]
    assert main(["pretrain", "--config", str(NDA_CFG), "--trainer.default_root_dir", str(work), *first]) == 0
    training = [entry for entry in recorded_losses if entry[2] is not None]
    assert len(training) == 2  # two NDA-DPC steps; validation uses the plain DPC loss
    pred, target, nda = training[0]
    assert pred.shape == target.shape == (4, 2, 16, 2, 2) and nda.shape == (4, 2 * 2 * 2, 16)
    checkpoint = torch.load(work / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2 and "nda_generator" in checkpoint
    assert _steps(work) == [0, 1]

    again = TINY + ["--trainer.max_steps=4", "--trainer.val_check_interval=2", "--checkpoint.every_n_train_steps=2"]
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(NDA_CFG),
                "--trainer.default_root_dir",
                str(work),
                "--ckpt_path",
                "last",
                *again,
            ]
        )
        == 0
    )
    resumed = torch.load(work / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["global_step"] == 4  # continued from step 2, not restarted
    assert len([entry for entry in recorded_losses if entry[2] is not None]) == 4
    assert not torch.equal(resumed["nda_generator"], checkpoint["nda_generator"])
    assert _steps(work) == [0, 1, 2, 3]  # the logs continue at step 2


def test_linear_probe_from_a_pretraining_checkpoint_and_evaluation(tmp_path, monkeypatch):
    pretrain = tmp_path / "pretrain"
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(NDA_CFG),
                "--trainer.default_root_dir",
                str(pretrain),
                *TINY,
                "--trainer.max_steps=1",
                "--trainer.val_check_interval=1",
                "--checkpoint.every_n_train_steps=1",
                "--model.nda.transform={type: cutmix}",
            ]
        )
        == 0
    )
    encoder = torch.load(pretrain / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    initial = {}
    load_pretrained = video_dpc.engine.DPCFinetuning.load_pretrained

    def record_initial(module, path):
        loaded = load_pretrained(module, path)
        initial.update({f"model.{key}": value.clone() for key, value in module.model.state_dict().items()})
        return loaded

    monkeypatch.setattr(video_dpc.engine.DPCFinetuning, "load_pretrained", record_initial)
    probe = tmp_path / "probe"
    assert (
        main(
            [
                "finetune",
                "--config",
                str(LINEAR_CFG),
                "--trainer.default_root_dir",
                str(probe),
                "--model.pretrained",
                str(pretrain / "checkpoints" / "last.ckpt"),
                *TINY,
                "--trainer.max_epochs=1",
            ]
        )
        == 0
    )
    tuned = torch.load(probe / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    conv = "model.backbone.stem.0.weight"
    torch.testing.assert_close(initial[conv], encoder[conv])  # the encoder starts from the pre-trained weights
    torch.testing.assert_close(tuned[conv], encoder[conv])  # frozen encoder: the pre-trained weights
    assert not torch.equal(
        tuned["model.final_fc.1.weight"], initial["model.final_fc.1.weight"]
    )  # the linear layer trained

    pairs = []
    per_class = video_dpc.engine.per_class_top1

    def record_pairs(predictions, classes):
        pairs.extend(predictions)
        return per_class(predictions, classes)

    monkeypatch.setattr(video_dpc.engine, "per_class_top1", record_pairs)
    assert (
        main(
            [
                "evaluate",
                "--config",
                str(LINEAR_CFG),
                "--trainer.default_root_dir",
                str(probe),
                "--ckpt_path",
                "last",
                *TINY,
            ]
        )
        == 0
    )
    results = json.loads((probe / "results.json").read_text())
    assert results["videos"] == len(pairs) == 4 and len(results["per_class_top1"]) == 8
    # top-1 (Lightning's logged mean) agrees with the per-video predictions and the per-class table
    assert results["top1"] == pytest.approx(100 * sum(label == predicted for label, predicted in pairs) / len(pairs))
    for label in range(8):
        hits = [label == predicted for truth, predicted in pairs if truth == label]
        assert results["per_class_top1"][label] == (pytest.approx(100 * sum(hits) / len(hits)) if hits else None)
    assert results["top1"] <= results["top5"] <= 100


def test_pretraining_on_real_video_files(tmp_path, caplog):
    root, splits = make_ucf_tree(tmp_path / "ucf")
    config = PLUGINS / "ucf101" / "nda-dpc-cutmix_r18_ucf101-128.yaml"
    overrides = [
        f"--data.root={root}",
        f"--data.splits={splits}",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--data.augment.resize=36",
        "--model.depth=10",
        "--model.width=4",
        "--model.input_size=32",
        "--model.num_seq=4",
        "--model.seq_len=3",
        "--model.pred_step=1",
        "--trainer.max_steps=2",
        "--trainer.max_epochs=1",
        "--trainer.limit_val_batches=1",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--threads=1",
        "--trainer.enable_progress_bar=false",
    ]
    with caplog.at_level("WARNING", logger="video_dpc"):
        assert (
            main(["pretrain", "--config", str(config), "--trainer.default_root_dir", str(tmp_path / "run"), *overrides])
            == 0
        )
    assert "ucf101 train split: skipped 1 of 4 videos with at most 36 frames" in caplog.text  # part_0.mp4, 32 frames
    assert (
        torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]
        == 1
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--model.widht=4"], "unrecognized arguments: --model.widht=4"),
        (
            ["--model.nda.transform={type: jigsaw3}"],
            "nda.transform={'type': 'jigsaw3'} is not a valid NDA: unknown NDA 'jigsaw3'; known NDAs",
        ),
        (["--data=video_dpc.engine.Kinetics"], 'Parser key "data"'),
        (["--model.momentum=0.9"], "unrecognized arguments: --model.momentum=0.9"),
        (["--data.augment.flipp=false"], "Option 'flipp' is not accepted"),
        (["--model.nda.blocks=future"], "Expected a typing.Literal['target', 'context', 'all']. Got value: future"),
        (["--trainer.max_step=3"], "unrecognized arguments: --trainer.max_step=3"),
        (["--trainer.max_steps=abc"], "Parser key \"trainer.max_steps\": Expected a <class 'int'>. Got value: abc"),
        (["--threads=0"], "Not of type PositiveInt"),
        (
            ["--model.input_size=96"],
            "train-00000-horizontal-slow-bounce: frames of 64x64 are smaller than the 96x96 crop; set "
            "data.augment.resize",
        ),
        (["threads=1"], "unrecognized arguments: threads=1"),
    ],
)
def test_bad_configs_give_one_clear_line_naming_the_verb(tmp_path, capsys, arguments, message):
    code = main(
        [
            "pretrain",
            "--config",
            str(NDA_CFG),
            "--trainer.default_root_dir",
            str(tmp_path),
            *TINY,
            "--trainer.max_steps=1",
            *arguments,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        message in err
        and err.startswith("python -m video_dpc pretrain: error: ")
        and len(err.strip().splitlines()) == 1
    ), err


def test_nda_dpc_errors_name_the_verb_and_print_config_is_lightnings(capsys, monkeypatch):
    """The old `nda dpc pretrain --config C threads=1 --print-config trainer.max_steps=2` said `unrecognized
    arguments` naming `nda dpc`; a typed option failed with a Python comparison error."""
    from nda_core.cli import main as nda_main

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the host renames the program to `nda dpc`
    assert nda_main(["dpc", "pretrain", "--config", str(NDA_CFG), "threads=1", "--print_config"]) == 2
    assert capsys.readouterr().err.startswith("nda dpc pretrain: error: unrecognized arguments: threads=1")
    assert nda_main(["dpc", "pretrain", "--config", str(NDA_CFG), "--trainer.max_steps", "abc"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("nda dpc pretrain: error: ")
        and "trainer.max_steps" in err
        and "abc" in err
        and "<" not in err.split("Expected")[0]
    )
    # stacked configs: later files override earlier ones; --threads is a typed option
    assert (
        nda_main(
            [
                "dpc",
                "pretrain",
                "--config",
                str(DPC_CFG),
                "--config",
                str(PLUGINS / "nda" / "cutmix.yaml"),
                "--threads",
                "1",
                "--trainer.max_steps",
                "2",
                "--print_config",
            ]
        )
        == 0
    )
    import yaml

    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["nda"]["transform"] == {"type": "cutmix"} and printed["trainer"]["max_steps"] == 2
    assert printed["threads"] == 1 and printed["data"]["class_path"] == "video_dpc.engine.MovingMNISTDataModule"


def test_missing_files_give_one_clear_line(tmp_path, capsys):
    assert main(["pretrain", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err
    work = ["--trainer.default_root_dir", str(tmp_path / "w")]
    assert main(["evaluate", "--config", str(LINEAR_CFG), *work, *TINY]) == 2
    assert "evaluate needs --ckpt_path" in capsys.readouterr().err
    assert (
        main(["finetune", "--config", str(LINEAR_CFG), *work, "--model.pretrained", str(tmp_path / "x.ckpt"), *TINY])
        == 2
    )
    assert "x.ckpt' does not exist; pass the .ckpt written by `pretrain`" in capsys.readouterr().err
    ucf = PLUGINS / "ucf101" / "dpc_r18_ucf101-128.yaml"
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(ucf),
                *work,
                f"--data.splits={tmp_path}",
                "--trainer.max_steps=1",
                "--trainer.accelerator=cpu",
                "--trainer.devices=1",
            ]
        )
        == 2
    )
    assert "classInd.txt' not found" in capsys.readouterr().err


def test_evaluate_of_a_pretraining_checkpoint_names_the_command_that_takes_it(tmp_path, capsys):
    """It used to fail with Lightning's `Missing key(s) "final_bn.weight"` traceback."""
    pretrain = tmp_path / "pretrain"
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(DPC_CFG),
                "--trainer.default_root_dir",
                str(pretrain),
                *TINY,
                "--trainer.max_steps=1",
                "--trainer.val_check_interval=1",
                "--checkpoint.every_n_train_steps=1",
            ]
        )
        == 0
    )
    checkpoint = pretrain / "checkpoints" / "last.ckpt"
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--config",
                str(LINEAR_CFG),
                "--trainer.default_root_dir",
                str(tmp_path / "eval"),
                *TINY,
                "--ckpt_path",
                str(checkpoint),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("python -m video_dpc evaluate: error: ") and "is a pre-training checkpoint" in err
    assert f"python -m video_dpc finetune --config CFG --model.pretrained {checkpoint}" in err
    assert not (tmp_path / "eval" / "results.json").exists()


def test_the_done_line_reports_steps_and_the_fraction_of_an_epoch(tmp_path, capsys):
    """1 step of an epoch of 2 batches is half an epoch (the old line said 'epoch': 1 after any stop)."""
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(DPC_CFG),
                "--trainer.default_root_dir",
                str(tmp_path),
                *TINY,
                "--trainer.max_steps=1",
                "--trainer.val_check_interval=1",
                "--checkpoint.every_n_train_steps=1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "pretrain done in " in out and ": 1 steps (now at step 1, 0.5 epochs of 2 steps)" in out, out


def test_nda_host_runs_the_dpc_command(capsys, monkeypatch):
    from nda_core.cli import main as nda_main
    from nda_core.cli import plugin_commands

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the host renames the program to `nda dpc`
    if "dpc" not in plugin_commands():
        pytest.fail("the nda.commands entry point 'dpc' is not installed: pip install -e '.[all]'")
    assert nda_main(["dpc", "pretrain", "--config", str(NDA_CFG), "--print_config", "--model.nda.transform.k=4"]) == 0
    assert "k: 4" in capsys.readouterr().out


def test_importing_the_command_line_loads_no_lightning():
    code = "import sys, video_dpc.cli; print('pytorch_lightning' in sys.modules, 'torchvision' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == [
        "False",
        "False",
    ]


def test_ddp_on_two_cpu_processes(tmp_path):
    """DDP-ready: two spawned CPU ranks (gloo) train NDA-DPC from the command line."""
    work = tmp_path / "ddp"
    overrides = TINY + [
        "--data.train_videos=16",
        "--trainer.max_steps=2",
        "--trainer.val_check_interval=2",
        "--checkpoint.every_n_train_steps=2",
        "--trainer.strategy=ddp_spawn",
        "--trainer.devices=2",
    ]
    assert main(["pretrain", "--config", str(NDA_CFG), "--trainer.default_root_dir", str(work), *overrides]) == 0
    checkpoint = torch.load(work / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2 and "nda_generator" in checkpoint


class _RecordDraws(pl.Callback):
    """Each rank saves its batch and the NDA clips its generator draws for it, before the step."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        replay = torch.Generator(device=pl_module.generator.device)
        replay.set_state(pl_module.generator.get_state())  # the draws the step is about to make
        clips = pl_module.negatives.make_clips(batch, pl_module.model.pred_step, replay)
        torch.save(
            {"batch": batch.clone(), "clips": clips}, self.folder / f"rank{trainer.global_rank}_step{batch_idx}.pt"
        )


def test_each_ddp_rank_draws_its_own_nda(tmp_path):
    """Two spawned CPU ranks get identical videos: their NDA clips differ (seed + rank), and each
    is a jigsaw of its own videos' target blocks."""
    from video_dpc.engine import DPCPretraining

    torch.manual_seed(0)
    video = torch.rand(4, 3, 2, 32, 32)  # (N blocks, C, T, H, W): every sample is this video
    loader = torch.utils.data.DataLoader([video] * 8, batch_size=2)
    module = DPCPretraining(
        depth=10,
        width=4,
        input_size=32,
        num_seq=4,
        seq_len=2,
        pred_step=2,
        nda={"transform": {"type": "jigsaw", "k": 2}},
        seed=3,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[_RecordDraws(tmp_path)],
    )
    trainer.fit(module, loader)
    for step in range(2):
        rank0, rank1 = (torch.load(tmp_path / f"rank{r}_step{step}.pt", weights_only=True) for r in (0, 1))
        assert torch.equal(rank0["batch"], rank1["batch"])  # identical inputs ...
        assert not torch.equal(rank0["clips"], rank1["clips"])  # ... different NDA draws
        target = rank0["batch"][:, 2:]  # the 2 predicted blocks of each video
        for clips in (rank0["clips"], rank1["clips"]):
            assert clips.shape == target.shape and not torch.equal(clips, target)
            assert torch.equal(
                clips.flatten().sort().values, target.flatten().sort().values
            )  # pixels moved, none made up
