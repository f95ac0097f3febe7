"""The launcher: StudioGAN's own main.py on the CPU with NDA (train, log, checkpoint, resume), its
input checks, the data and configs sub-commands, and anomaly detection with the trained D."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from studiogan_helpers import (  # noqa: F401 - fixtures
    BATCH,
    CPU_NDA,
    ROOT,
    VALID_PER_CLASS,
    studiogan,
    studiogan_data,
    studiogan_root,
    write_yaml,
)

from nda_core.errors import EXIT_USAGE
from studiogan_nda import cli

STEP_LINE = "Step: {:>6} "


def launch(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("STUDIOGAN_ROOT", "WANDB_MODE")}
    env.update(OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "studiogan_nda", "--cpu", "--studiogan-root", str(root), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained_run(studiogan_root, studiogan_data, tmp_path_factory):
    """Two real launcher runs: 3 NDA steps (checkpoints at step 2 and, at the end, 3), then resumed to step 5.

    The first run's YAML keeps the shipped config's 300 steps; the launcher's --total_steps 2 caps it."""
    work = tmp_path_factory.mktemp("launcher")
    common = [
        "-t",
        "-data",
        str(studiogan_data),
        "-save",
        str(work / "save"),
        "--seed",
        "0",
        "--print_freq",
        "1",
        "--save_freq",
        "2",
    ]
    first = write_yaml(work / "nda-cpu-tiny.yaml", CPU_NDA, OPTIMIZATION={"batch_size": BATCH, "d_updates_per_step": 1})
    assert "total_steps: 300" in first.read_text()
    run1 = launch(studiogan_root, "--total_steps", "2", "-cfg", str(first), *common, cwd=work)
    assert run1.returncode == 0, run1.stdout[-3000:] + run1.stderr[-3000:]
    checkpoints = next((work / "save" / "checkpoints").iterdir())
    log_after_first = next((work / "save" / "logs").iterdir()).read_text()
    saved_first = sorted(p.name for p in checkpoints.iterdir())
    second = write_yaml(work / "nda-cpu-tiny-4.yaml", first, OPTIMIZATION={"total_steps": 4})
    run2 = launch(studiogan_root, "-cfg", str(second), *common, "-ckpt", str(checkpoints), cwd=work)
    assert run2.returncode == 0, run2.stdout[-3000:] + run2.stderr[-3000:]
    return {
        "work": work,
        "checkpoints": checkpoints,
        "first": run1,
        "second": run2,
        "log1": log_after_first,
        "saved1": saved_first,
        "cfg": first,
    }


def test_cpu_launcher_trains_logs_nda_and_writes_checkpoints(trained_run):
    run, log = trained_run["first"], trained_run["log1"]
    assert "CPU smoke mode" in run.stderr and "cuda-tensors-on-cpu" in run.stderr  # honest, logged workarounds
    # StudioGAN's "You have chosen a specific GPU" (its one device is the CPU here) is dropped, and that is logged
    assert "You have chosen a specific GPU. This will" not in run.stdout + run.stderr
    assert "one-gpu-message-on-cpu" in run.stderr
    assert "NDA on: L_D = L_real + 0.25 * L_fake(D(G(z))) + 0.75 * L_fake(D(NDA(x)))" in log
    for step in (1, 2, 3):  # StudioGAN trains steps 0..total_steps
        assert STEP_LINE.format(step) in log and f"NDA: Step: {step:>6} NDA_loss: " in log
    assert "D(real)-D(NDA):" in log
    # StudioGAN saved step 2 (--save_freq 2); the launcher saved the last step, 3, which replaced it
    assert trained_run["saved1"] == ["model=D-current-weights-step=3.pth", "model=G-current-weights-step=3.pth"]
    assert "studiogan_nda: saved the final step 3 in " in run.stderr
    stats = next((trained_run["work"] / "save" / "statistics").iterdir())
    history = np.load(stats / "nda_losses.npy", allow_pickle=True).item()
    assert len(history["nda_loss"]) >= 3 and all(np.isfinite(history["dis_real_minus_nda"]))
    assert "no best checkpoint" in run.stderr  # -metrics none: the trained weights are kept


def test_cpu_launcher_resumes_with_studiogans_ckpt_flag(trained_run):
    log = next((trained_run["work"] / "save" / "logs").iterdir()).read_text()
    resumed = log[len(trained_run["log1"]) :]
    assert "Discriminator checkpoint is" in resumed and "step=3.pth" in resumed
    assert STEP_LINE.format(4) in resumed and STEP_LINE.format(5) in resumed
    assert STEP_LINE.format(3) not in resumed  # continued after the saved last step, not restarted
    assert "NDA: Step:      5" in resumed
    assert sorted(p.name for p in trained_run["checkpoints"].iterdir()) == [
        "model=D-current-weights-step=5.pth",
        "model=G-current-weights-step=5.pth",
    ]  # StudioGAN keeps the latest


def markdown_rows(text: str) -> dict[str, list[str]]:
    """The cells of a Markdown table's body rows, by their first cell."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]
    return {cells[0]: cells[1:] for cells in rows[1:]}  # rows[0] is the header


def png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def pairwise_auroc(clean, ood) -> float:
    """P(D(clean) > D(ood)) + 0.5 P(tie) over every (clean, ood) pair."""
    wins = sum(1.0 if c > o else 0.5 if c == o else 0.0 for c in clean.tolist() for o in ood.tolist())
    return wins / (clean.numel() * ood.numel())


def recompute_scores(anomaly, studiogan, trained_run, studiogan_data) -> dict:
    """D's scores of the clean, jigsaw, corrupted and bird images that the anomaly run below scores."""
    import torch

    import nda_core
    from studiogan_nda.corruptions import corrupt

    dis, cfgs, _ = anomaly.load_discriminator(
        str(studiogan.root), str(trained_run["cfg"]), str(trained_run["checkpoints"]), "cpu"
    )
    clean = anomaly._load_images(studiogan_data / "valid", 20, 0)
    generator = torch.Generator().manual_seed(0)  # --seed 0: the NDA first, then each corruption in order
    images = {"clean": clean, "jigsaw": nda_core.build({"type": "jigsaw", "k": 2})(clean, generator=generator)}
    images.update({name: corrupt(clean, name, generator) for name in ("gaussian_noise", "contrast")})
    images["bird"] = anomaly._load_images(studiogan_data / "valid" / "bird", 20, 0)
    return {name: anomaly.discriminator_scores(dis, x, cfgs, device="cpu") for name, x in images.items()}


def test_anomaly_auroc_and_histograms_from_the_trained_discriminator(trained_run, studiogan, studiogan_data, tmp_path):
    from studiogan_nda import anomaly

    out = tmp_path / "anomaly"
    code = anomaly.main(
        [
            "--studiogan-root",
            str(studiogan.root),
            "-cfg",
            str(trained_run["cfg"]),
            "-ckpt",
            str(trained_run["checkpoints"]),
            "--data",
            str(studiogan_data),
            "--split",
            "valid",
            "--num-images",
            "20",
            "--corruptions",
            "gaussian_noise,contrast",
            "--ood",
            f"bird={studiogan_data / 'valid' / 'bird'}",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "auroc.json").read_text())
    assert results["step"] == 5 and results["n_clean"] == 20
    # the artifact names its checkpoint and config relative to its own folder, never by absolute path
    for key in ("checkpoint", "config"):
        assert not Path(results[key]).is_absolute() and (out / results[key]).resolve().exists(), results[key]
    sets = results["sets"]
    assert {name: row["n"] for name, row in sets.items()} == {
        "jigsaw": 20,
        "gaussian_noise": 20,
        "contrast": 20,
        "bird": VALID_PER_CLASS,
    }
    assert sets["jigsaw"]["paired"] and not sets["bird"]["paired"]
    mean = (sets["gaussian_noise"]["auroc"] + sets["contrast"]["auroc"]) / 2
    assert results["mean_corruption_auroc"] == pytest.approx(mean, rel=1e-12)
    table = markdown_rows((out / "auroc.md").read_text())  # the same numbers as auroc.json, rounded to 3 places
    assert set(table) == {*sets, "mean of 2 corruptions"}
    for name, row in sets.items():
        auroc, gap, n = table[name]
        assert auroc == f"{row['auroc']:.3f}" and int(n) == row["n"], name
        assert gap == (f"{row['mean_gap']:.3f}" if row["paired"] else "(unpaired)"), name
    assert table["mean of 2 corruptions"][0] == f"{results['mean_corruption_auroc']:.3f}"
    # recomputed independently: the same images, NDA and corruptions (same seed, same draw order),
    # scored by the trained D, and the AUROC of "clean scores above OOD scores" counted pair by pair
    recomputed = recompute_scores(anomaly, studiogan, trained_run, studiogan_data)
    clean = recomputed.pop("clean")
    assert set(recomputed) == set(sets)
    for name, scores in recomputed.items():
        assert sets[name]["auroc"] == pytest.approx(pairwise_auroc(clean, scores), abs=1e-9), name
        if sets[name]["paired"]:
            assert sets[name]["mean_gap"] == pytest.approx(float((clean - scores).mean()), rel=1e-5, abs=1e-6), name
            assert sets[name]["fraction_positive"] == pytest.approx(float((clean > scores).double().mean())), name
    # 6 x 4 inches at 120 dpi; Fig. 8: one row of two 3.2 x 2.6 inch panels at 110 dpi; each with blue histogram bars
    for name, shape in {
        "fig4_nda_gap.png": (480, 720, 3),
        "scores.png": (480, 720, 3),
        "fig8_corruption_gaps.png": (286, 704, 3),
    }.items():
        image = png(out / name).astype(int)
        assert image.shape == shape and ((image[..., 2] - image[..., 0]) > 60).sum() > 100, name


# -- clear messages for bad input, before StudioGAN runs ----------------------------------------------
@pytest.fixture
def run_cli(capsys, monkeypatch):
    """``cli.main`` in this process, expecting a one-line usage error, raised before StudioGAN is imported."""
    monkeypatch.delenv("STUDIOGAN_ROOT", raising=False)

    def run(*args: str) -> str:
        assert cli.main(list(args)) == EXIT_USAGE
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.startswith("python -m studiogan_nda: error: ") and err.count("\n") == 1
        return err

    return run


def test_wrong_and_missing_studiogan_root(run_cli, studiogan_data, tmp_path):
    cfg = write_yaml(tmp_path / "ok.yaml", CPU_NDA)
    args = ["-t", "-cfg", str(cfg), "-data", str(studiogan_data), "-save", str(tmp_path)]
    assert "no StudioGAN checkout given" in run_cli(*args)
    assert "is not a StudioGAN checkout: src/main.py is missing" in run_cli("--studiogan-root", str(tmp_path), *args)
    assert "is not a folder" in run_cli("--studiogan-root", str(tmp_path / "nowhere"), *args)


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ({"nda": {"type": "jigsw"}}, "LOSS.nda = {'type': 'jigsw'} is not a usable NDA: unknown NDA 'jigsw'"),
        ({"nda_lambda": 0}, r"LOSS.nda_lambda must lie in (0, 1], got 0."),
        ({"nda_lambda": 1.5}, r"LOSS.nda_lambda must lie in (0, 1], got 1.5."),
        ({"nda_lambda": "half"}, "LOSS.nda_lambda must be a number"),
        ({"apply_nda": "yes"}, "LOSS.apply_nda must be True or False"),
        (
            {"adv_loss": "MH"},
            "LOSS.adv_loss must be one of ['vanilla', 'logistic', 'least_square', 'hinge', 'wasserstein'], got 'MH'",
        ),
    ],
)
def test_bad_nda_settings_are_named_with_the_fix(run_cli, studiogan_root, studiogan_data, tmp_path, loss, message):
    cfg = write_yaml(tmp_path / "bad.yaml", CPU_NDA, LOSS=loss)
    err = run_cli("--studiogan-root", str(studiogan_root), "-t", "-cfg", str(cfg), "-data", str(studiogan_data))
    assert message in err


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"LOSS": {"nda_lamda": 0.5}}, "StudioGAN has no key LOSS.nda_lamda; did you mean 'nda_lambda'?"),
        (
            {"OPTIMZATION": {"total_steps": 2}},
            "StudioGAN has no config section 'OPTIMZATION'; did you mean 'OPTIMIZATION'?",
        ),
        ({"MODEL": {"g_cond_mt": "W/O"}}, "StudioGAN has no key MODEL.g_cond_mt; did you mean 'g_cond_mtd'?"),
    ],
)
def test_a_misspelled_key_or_section_is_named_with_the_closest_one(
    run_cli, studiogan_root, studiogan_data, tmp_path, sections, message
):
    """StudioGAN itself ends such a YAML with a traceback
    (AttributeError: There does not exist 'LOSS.nda_lamda' ...)."""
    cfg = write_yaml(tmp_path / "typo.yaml", CPU_NDA, **sections)
    err = run_cli(
        "--studiogan-root", str(studiogan_root), "--cpu", "-t", "-cfg", str(cfg), "-data", str(studiogan_data)
    )
    assert f"{cfg}: {message}" in err


def test_set_and_total_steps_are_checked_like_the_yaml(run_cli, studiogan_root, studiogan_data):
    args = ["--studiogan-root", str(studiogan_root), "--cpu", "-t", "-cfg", str(CPU_NDA), "-data", str(studiogan_data)]
    assert "--set: StudioGAN has no key OPTIMIZATION.total_step; did you mean 'total_steps'?" in run_cli(
        "--set", "OPTIMIZATION.total_step=3", *args
    )
    assert "must look like SECTION.key=VALUE" in run_cli("--set", "total_steps=3", *args)
    assert "LOSS.nda_lambda must lie in (0, 1], got 2" in run_cli("--set", "LOSS.nda_lambda=2", *args)
    assert "--total_steps must be >= 1, got 0" in run_cli("--total_steps", "0", *args)


def test_without_cuda_the_launcher_suggests_cpu(run_cli, studiogan_root, studiogan_data, monkeypatch):
    """StudioGAN's main.py would end in `RuntimeError: Found no NVIDIA driver` (torch.cuda.current_device())."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = run_cli("--studiogan-root", str(studiogan_root), "-t", "-cfg", str(CPU_NDA), "-data", str(studiogan_data))
    assert "no CUDA device found" in err and "add --cpu" in err


def test_stock_cifar10_name_with_an_image_folder_names_the_set_fix(run_cli, studiogan_root, studiogan_data):
    """StudioGAN would download CIFAR-10 with torchvision into the image-folder view and ignore its train/."""
    shipped = ROOT / "plugins" / "studiogan" / "configs" / "CIFAR10" / "BigGAN-NDA-jigsaw.yaml"
    err = run_cli(
        "--studiogan-root", str(studiogan_root), "--cpu", "-t", "-cfg", str(shipped), "-data", str(studiogan_data)
    )
    assert "holds image folders (train/)" in err and "--set DATA.name=CIFAR10_images" in err


def test_dataset_without_train_folder(run_cli, studiogan_root, tmp_path):
    (tmp_path / "data" / "test" / "cat").mkdir(parents=True)
    err = run_cli(
        "--studiogan-root", str(studiogan_root), "--cpu", "-t", "-cfg", str(CPU_NDA), "-data", str(tmp_path / "data")
    )
    assert "has no train/ folder" in err and "python -m studiogan_nda data cifar10 --out DIR" in err


def test_missing_config_and_zero_workers(run_cli, studiogan_root, studiogan_data, tmp_path):
    assert "does not exist" in run_cli(
        "--studiogan-root", str(studiogan_root), "-t", "-cfg", str(tmp_path / "none.yaml")
    )
    err = run_cli(
        "--studiogan-root",
        str(studiogan_root),
        "--cpu",
        "-t",
        "-cfg",
        str(CPU_NDA),
        "-data",
        str(studiogan_data),
        "--num_workers",
        "0",
    )
    assert "persistent workers" in err


def test_cpu_mode_refuses_options_before_a_subcommand(run_cli):
    # --cpu -DDP now runs gloo ranks: tests/test_studiogan_ddp.py covers it and its usage errors
    assert "do not apply to it" in run_cli("--cpu", "data", "cifar10", "--out", "x")


def test_help_texts_name_the_command_as_typed_and_no_default_of_required_arguments(capsys, monkeypatch):
    from nda_core import cli as nda_cli

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the nda host sets sys.argv[0] to "nda studiogan"
    with pytest.raises(SystemExit) as done:
        nda_cli.main(["studiogan", "anomaly", "--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: nda studiogan anomaly ")
    with pytest.raises(SystemExit):
        nda_cli.main(["studiogan", "data", "--help"])
    data_help = capsys.readouterr().out
    assert data_help.startswith("usage: nda studiogan data ") and "(default: None)" not in data_help
    assert data_help.count("(required)") == 2


def test_data_subcommand_makes_a_studiogan_view_of_cifar10(cifar_root, tmp_path, capsys):
    assert cli.main(["data", "cifar10", "--out", str(tmp_path / "c10"), "--from", str(cifar_root)]) == 0
    assert (tmp_path / "c10" / "train").resolve() == (cifar_root / "train").resolve()
    assert (tmp_path / "c10" / "valid").resolve() == (cifar_root / "test").resolve()
    assert f"-data {tmp_path / 'c10'}" in capsys.readouterr().out


def test_configs_subcommand_and_nda_host(capsys):
    assert cli.main(["configs"]) == 0
    listed = capsys.readouterr().out.split()
    assert len(listed) == 27 and all(Path(p).is_file() for p in listed)
    from nda_core.cli import _help_of, plugin_commands

    assert _help_of(plugin_commands()["studiogan"]) == cli.main.__doc__.strip().splitlines()[0]
