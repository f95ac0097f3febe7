"""The Lightning NDA-GAN: real training steps of the plain and the NDA run, and the demo CLI."""

from __future__ import annotations

import json

import pytest
import torch

import nda_core
from nda_core.losses import nda_discriminator_loss
from nda_demo.cli import main
from nda_demo.dots import count_dots, make_count_mixture, make_dots
from nda_demo.gan import NDAGAN
from nda_demo.models import Discriminator, Generator
from nda_demo.numerosity import NumerosityConfig, run_numerosity
from nda_demo.training import fit_steps

STEPS = 3
TINY = dict(steps=STEPS, batch_size=8, width=8, eval_samples=32, train_images=64, negative_bank=64, score_images=16)


def _module(negatives=None, lam=1.0, d_steps=1) -> NDAGAN:
    torch.manual_seed(0)
    return NDAGAN(Generator(32, 1, width=8), Discriminator(32, 1, width=8), negatives, lam=lam, d_steps=d_steps)


def test_nda_run_trains_through_lightning_and_moves_every_weight():
    images = make_dots(6, 64, generator=torch.Generator().manual_seed(0))
    bank, _ = make_count_mixture([4, 5, 7], 64, generator=torch.Generator().manual_seed(1))
    module = _module(nda_core.build("other_dataset", images=bank), lam=0.25, d_steps=2)
    before_g = [p.detach().clone() for p in module.generator.parameters()]
    # every D weight except the output bias: with all hinge margins active its gradient is
    # -1 + lam + (1 - lam) = 0, so it rightly stays put
    d_weights = [p for n, p in module.discriminator.named_parameters() if n != "head.2.bias"]
    before_d = [p.detach().clone() for p in d_weights]
    trainer = fit_steps(module, images, STEPS, 8, torch.Generator().manual_seed(2), progress=False)
    assert trainer.fit_loop.epoch_loop.batch_progress.total.completed == STEPS
    assert all(not torch.equal(a, b) for a, b in zip(before_g, module.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, d_weights))
    metrics = trainer.callback_metrics
    assert {"loss_d", "loss_g", "d_real", "d_fake", "d_nda"} <= set(metrics)
    assert all(torch.isfinite(metrics[k]) for k in metrics)
    samples = module.sample(10)
    assert samples.shape == (10, 1, 32, 32) and samples.abs().max() <= 1.0


def test_plain_run_has_no_nda_term():
    images = make_dots(6, 64, generator=torch.Generator().manual_seed(0))
    module = _module()
    trainer = fit_steps(module, images, STEPS, 8, torch.Generator().manual_seed(2), progress=False)
    assert "d_nda" not in trainer.callback_metrics
    assert "loss_d" in trainer.callback_metrics


def test_discriminator_step_uses_the_nda_loss_of_the_paper():
    images = make_dots(6, 8, generator=torch.Generator().manual_seed(0))
    bank, _ = make_count_mixture([4, 5, 7], 16, generator=torch.Generator().manual_seed(1))
    module = _module(nda_core.build("other_dataset", images=bank), lam=0.25)
    module.discriminator.eval()  # no spectral-norm power iteration between the forward passes
    torch.manual_seed(3)
    stats = module.discriminator_step(images)
    # replay the same draws: latents first, then the bank picks
    torch.manual_seed(3)
    with torch.no_grad():
        fake = module.generator(torch.randn(8, module.generator.latent_dim))
    negatives = module.negatives(images)
    d = module.discriminator
    expected = nda_discriminator_loss(d(images), d(fake), d(negatives), "hinge", 0.25)
    # hinge from its equation: relu(1 - D(x)) + lam relu(1 + D(G(z))) + (1 - lam) relu(1 + D(NDA(x)))
    by_hand = (
        torch.relu(1 - d(images)).mean() + 0.25 * torch.relu(1 + d(fake)).mean() + 0.75 * torch.relu(1 + d(negatives)).mean()
    )
    torch.testing.assert_close(stats["loss_d"], expected)
    torch.testing.assert_close(stats["loss_d"], by_hand)
    assert count_dots(negatives).tolist() != [6] * 8  # negatives come from the other-count bank


def test_both_runs_of_the_numerosity_experiment_end_to_end():
    config = NumerosityConfig(**TINY)
    plain = run_numerosity(config, nda=False, seed=0, progress=False)
    nda = run_numerosity(config, nda=True, seed=0, progress=False)
    for result in (plain, nda):
        assert len(result.counts) == 32 and sum(result.histogram.values()) == 32
        assert result.fraction_target == sum(c == 6 for c in result.counts) / 32
        assert 0.0 <= result.auroc_negatives <= 1.0 and 0.0 <= result.auroc_heldout <= 1.0
    # same seed, same data and initial weights: the runs differ only by the NDA term
    assert not torch.equal(plain.samples, nda.samples)


def test_bad_gan_settings_are_value_errors():
    with pytest.raises(ValueError, match="negatives is None"):
        _module(None, lam=0.25)
    with pytest.raises(ValueError, match="d_steps"):
        _module(None, d_steps=0)
    with pytest.raises(ValueError, match="image_size must be a power of two"):
        Generator(24)
    with pytest.raises(ValueError, match="steps must be an int"):
        fit_steps(_module(), make_dots(6, 8), 0, 8, torch.Generator())


def test_cli_reports_bad_counts_without_training(capsys):
    assert main(["--negatives", "4", "6", "--target", "6"]) == 2
    assert "include the target count 6" in capsys.readouterr().err
    assert main(["--target", "17"]) == 2
    assert "at most 16 dots" in capsys.readouterr().err


def test_cli_runs_and_saves_results(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["--steps", "2", "--seeds", "0", "--samples", "16", "--batch-size", "8", "--threads", "1",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "share with 6 dots" in printed and "D AUROC 6 vs held-out" in printed
    results = json.loads((out / "results.json").read_text())
    assert [r["nda"] for r in results["runs"]] == [False, True]
    for name in ("counts.png", "fraction_target.png", "auroc_heldout.png", "samples_plain_seed0.png", "samples_NDA_seed0.png"):
        assert (out / name).stat().st_size > 0
