"""Jigsaw-NDA GAN on real CIFAR-10 images: real training steps of both runs and their evaluation."""

from __future__ import annotations

import json

import pytest
import torch

from nda_demo.cli import main
from nda_demo.jigsaw import CORRUPTIONS, JigsawConfig, load_real_images, run_jigsaw

TINY = JigsawConfig(steps=2, batch_size=8, width=8, train_per_class=4, eval_per_class=2, fid_samples=0)


@pytest.fixture(scope="module")
def cifar() -> tuple[torch.Tensor, torch.Tensor]:
    return load_real_images(TINY)


def test_real_images_are_loaded(cifar):
    train, test = cifar
    assert train.shape == (40, 3, 32, 32) and test.shape == (20, 3, 32, 32)
    assert train.dtype == torch.uint8 and train.float().std() > 20  # real pictures, not a constant


@pytest.mark.parametrize("nda", [False, True])
def test_both_runs_train_and_report_the_paper_measures(cifar, nda):
    train, test = cifar
    result = run_jigsaw(TINY, nda, seed=0, train=train, test=test, progress=False)
    assert set(result.anomaly_auroc) == set(CORRUPTIONS)
    assert all(0.0 <= value <= 1.0 for value in result.anomaly_auroc.values())
    assert result.separation["auroc"] == result.anomaly_auroc["jigsaw"]
    gap = result.d_real - result.d_jigsaw
    assert result.separation["mean"] == pytest.approx(float(gap.double().mean()), abs=1e-6)
    assert result.samples.shape[1:] == (3, 32, 32)
    assert result.fidkid is None


def test_bad_settings_are_value_errors_before_loading(capsys):
    assert main(["jigsaw", "--fid-samples", "-5"]) == 2
    assert "fid_samples must be an int >= 0" in capsys.readouterr().err
    assert main(["jigsaw", "--steps", "0"]) == 2
    assert "steps must be an int >= 1" in capsys.readouterr().err


@pytest.mark.slow  # Inception features of 40 images
def test_cli_jigsaw_with_kid_and_fid(tmp_path, capsys):
    out = tmp_path / "cifar"
    argv = ["jigsaw", "--steps", "2", "--seeds", "0", "--batch-size", "8", "--fid-samples", "20",
            "--eval-per-class", "2", "--threads", "2", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "KID (N=20 vs 20)" in capsys.readouterr().out
    results = json.loads((out / "cifar_results.json").read_text())
    assert [r["nda"] for r in results["runs"]] == [False, True]
    assert all(r["fidkid"]["n_fake"] == 20 for r in results["runs"])
    assert (out / "cifar_jigsaw_gap.png").stat().st_size > 0
