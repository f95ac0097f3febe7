"""Jigsaw-NDA GAN on real CIFAR-10 images: real training steps of both runs and their evaluation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from nda_core.metrics import auroc
from nda_demo.cli import main
from nda_demo.jigsaw import CORRUPTIONS, JigsawConfig, JigsawResult, load_real_images, run_jigsaw

#: 100 steps on 200 real images (about 6 s for both runs): long enough for the NDA
#: discriminator to rank real test images above their jigsaw versions (fraction 0.9-0.92 on
#: seeds 0-2, plain 0.4-0.6).
SHORT = JigsawConfig(steps=100, batch_size=8, width=8, train_per_class=20, eval_per_class=5, fid_samples=0)
#: matplotlib's first two default colours (the plain and the NDA histogram).
BLUE, ORANGE = np.array([31, 119, 180]), np.array([255, 127, 14])


@pytest.fixture(scope="module")
def cifar() -> tuple[torch.Tensor, torch.Tensor]:
    return load_real_images(SHORT)


@pytest.fixture(scope="module")
def runs(cifar) -> dict[bool, JigsawResult]:
    train, test = cifar
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2-thread kernels stall on a shared 2-core machine
    try:
        return {nda: run_jigsaw(SHORT, nda, seed=0, train=train, test=test, progress=False) for nda in (False, True)}
    finally:
        torch.set_num_threads(threads)


def test_real_images_are_loaded(cifar):
    train, test = cifar
    assert train.shape == (200, 3, 32, 32) and test.shape == (50, 3, 32, 32)
    assert train.dtype == torch.uint8 and train.float().std() > 20  # real pictures, not a constant


@pytest.mark.parametrize("nda", [False, True])
def test_both_runs_report_the_paper_measures_of_their_scores(runs, nda):
    result = runs[nda]
    assert set(result.anomaly_auroc) == set(CORRUPTIONS)
    assert result.d_real.shape == result.d_jigsaw.shape == (50,)
    # the reported measures are those of the held-out scores the run returns
    assert result.anomaly_auroc["jigsaw"] == auroc(result.d_real, result.d_jigsaw) == result.separation["auroc"]
    gap = (result.d_real - result.d_jigsaw).double()
    assert result.separation["mean"] == pytest.approx(float(gap.mean()), abs=1e-6)
    assert result.separation["fraction_positive"] == pytest.approx(float((gap > 0).double().mean()))
    assert result.samples.shape == (64, 3, 32, 32)
    assert result.fidkid is None


def test_nda_discriminator_ranks_real_images_above_their_jigsaw(runs):
    plain, nda = runs[False], runs[True]
    # same seed, data and budget: only the NDA run saw jigsaw images as fakes
    assert nda.separation["fraction_positive"] >= 0.8
    assert nda.separation["fraction_positive"] >= plain.separation["fraction_positive"] + 0.2
    assert nda.anomaly_auroc["jigsaw"] > max(0.65, plain.anomaly_auroc["jigsaw"] + 0.1)


def test_bad_settings_are_errors_before_loading(capsys):
    assert main(["jigsaw", "--fid-samples", "-5"]) == 2
    assert "fid_samples must be >= 0, got -5." in capsys.readouterr().err
    assert main(["jigsaw", "--steps", "0"]) == 2
    assert "steps must be >= 1, got 0." in capsys.readouterr().err
    assert main(["jigsaw", "--fid-samples", "1"]) == 2
    assert "at least 2 generated images" in capsys.readouterr().err
    with pytest.raises(TypeError, match="nda must be True or False"):
        run_jigsaw(SHORT, "yes", 0, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match=r"batch_size must be >= 2, got 1\."):
        load_real_images(replace(SHORT, batch_size=1))


def test_cli_jigsaw_prints_readable_lines_and_saves_its_histogram(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "cifar"
    # --steps before the command applies to it (argparse alone would let jigsaw's 1000 win)
    argv = [
        "--steps",
        "2",
        "jigsaw",
        "--seeds",
        "0",
        "--batch-size",
        "8",
        "--train-per-class",
        "4",
        "--eval-per-class",
        "2",
        "--fid-samples",
        "0",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # a setting of the caller's, other than --threads
    try:
        assert main(argv) == 0
        assert torch.get_num_threads() == 3  # --threads 1 held for the run only
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert "Jigsaw NDA on CIFAR-10: 2 steps, seeds [0]" in printed
    assert "D(x) > D(jigsaw(x)) for" in printed and "of 20 held-out images" in printed
    assert "{" not in printed  # no raw JSON
    assert "(1 seed)" in printed and "+- 0.000" not in printed
    results = json.loads((out / "cifar_results.json").read_text())
    assert results["config"]["steps"] == 2 and [r["nda"] for r in results["runs"]] == [False, True]
    with Image.open(out / "cifar_jigsaw_gap.png") as image:
        histogram = np.asarray(image.convert("RGB")).astype(int)
    assert histogram.shape == (480, 720, 3)  # 6 x 4 inches at 120 dpi
    # both runs' bars: translucent blue and orange over white
    blue = ((histogram[..., 2] - histogram[..., 0]) > 40).sum()
    orange = ((histogram[..., 0] - histogram[..., 2]) > 40).sum()
    assert blue > 50 and orange > 50
    with Image.open(out / "cifar_samples_NDA_seed0.png") as image:
        assert image.size == (8 * 34, 8 * 34)  # 64 samples in 8 x 8 cells of 32 + 2 px


def test_cli_jigsaw_with_kid_and_fid(tmp_path, capsys):
    """Inception features of 10 real and 2 x 10 generated images, one FID per run."""
    out = tmp_path / "cifar"
    argv = [
        "jigsaw",
        "--steps",
        "2",
        "--seeds",
        "0",
        "--batch-size",
        "8",
        "--fid-samples",
        "10",
        "--train-per-class",
        "4",
        "--eval-per-class",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "KID (N=10 vs 10)" in printed and "FID (N=10 vs 10)" in printed
    results = json.loads((out / "cifar_results.json").read_text())
    assert [r["nda"] for r in results["runs"]] == [False, True]
    for run in results["runs"]:
        fidkid = run["fidkid"]
        assert fidkid["n_fake"] == fidkid["n_real"] == 10
        # a 2-step generator makes noise-like images, far from real CIFAR-10
        assert fidkid["kid_mean"] > 0.05 and fidkid["fid"] > 100
