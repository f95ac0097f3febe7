"""The Lightning NDA-GAN: real training steps of the plain and the NDA run, its EMA, and the demo CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import nda_core
import nda_demo.numerosity
from nda_core.losses import nda_discriminator_loss
from nda_demo.cli import main
from nda_demo.dots import count_dots, make_count_mixture, make_dots
from nda_demo.gan import NDAGAN
from nda_demo.models import Discriminator, Generator
from nda_demo.numerosity import NumerosityConfig, run_numerosity
from nda_demo.training import fit_steps

STEPS = 3
TINY = dict(steps=STEPS, batch_size=8, width=8, eval_samples=32, train_images=64, negative_bank=64, score_images=16)
# `nda demo` on the command line at a budget of seconds: 2 steps, one seed, 16 samples per count.
CLI_TINY = ["--steps", "2", "--seeds", "0", "--samples", "16", "--batch-size", "8", "--threads", "1", "--no-progress"]
#: A short run in which the NDA discriminator must already tell the target count from the
#: negatives: far-off counts, 50 steps (about 5 s for both runs). At this budget the NDA D
#: scores AUROC 1.0 on seeds 0-2 while the plain D stays near 0.5.
SHORT = dict(
    TINY,
    steps=50,
    batch_size=16,
    eval_samples=64,
    train_images=256,
    negative_bank=256,
    score_images=64,
    negatives=(1, 2, 11, 12),
    heldout=(3, 10),
)
#: matplotlib's first two default colours (the plain and the NDA series of a bar chart).
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)


@pytest.fixture(autouse=True)
def one_thread():
    """Train on one thread (2-thread kernels stall on a shared 2-core machine); restore afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _module(negatives=None, lam=1.0, d_steps=1, ema_decay=0.999) -> NDAGAN:
    torch.manual_seed(0)
    return NDAGAN(
        Generator(32, 1, width=8),
        Discriminator(32, 1, width=8),
        negatives,
        lam=lam,
        d_steps=d_steps,
        ema_decay=ema_decay,
    )


class _RecordGenerator(pl.Callback):
    """The generator's weights and batch-norm buffers after every training step."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.states.append({k: v.detach().clone() for k, v in module.generator.state_dict().items()})


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
    assert module.sample(10).shape == (10, 1, 32, 32)


def test_ema_is_the_exponential_average_of_the_generator_after_each_step():
    decay = 0.7  # large steps, so that a wrong average is far from the right one
    images = make_dots(6, 64, generator=torch.Generator().manual_seed(0))
    module = _module(ema_decay=decay)
    record = _RecordGenerator()
    fit_steps(module, images, STEPS, 8, torch.Generator().manual_seed(2), progress=False, callbacks=[record])
    assert len(record.states) == STEPS and int(module.ema.n_averaged) == STEPS
    # AveragedModel's EMA: the first update copies the generator, later ones average into it
    expected = {k: v.double() for k, v in record.states[0].items() if v.is_floating_point()}
    for state in record.states[1:]:
        expected = {k: decay * v + (1 - decay) * state[k].double() for k, v in expected.items()}
    averaged = module.ema.module.state_dict()
    assert any("running_mean" in k for k in expected)  # batch-norm statistics are averaged too
    for name, value in expected.items():
        torch.testing.assert_close(averaged[name].double(), value, rtol=1e-5, atol=1e-6, msg=name)
    raw = record.states[-1]
    assert all(not torch.allclose(averaged[k], raw[k]) for k in expected if k.endswith("weight"))
    assert not any(p.requires_grad for p in module.ema.parameters())


def test_sample_uses_batch_statistics_and_changes_no_state():
    images = make_dots(6, 64, generator=torch.Generator().manual_seed(0))
    module = _module(ema_decay=0.5)
    fit_steps(module, images, STEPS, 8, torch.Generator().manual_seed(2), progress=False)
    for use_ema, net in ((True, module.ema.module), (False, module.generator)):
        net.eval()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        torch.manual_seed(5)
        samples = module.sample(12, batch_size=6, use_ema=use_ema)
        assert not net.training  # its mode is restored
        for name, value in net.state_dict().items():
            assert torch.equal(value, before[name]), name  # running statistics untouched
        # the same latents through the network in train mode, batch by batch
        torch.manual_seed(5)
        net.train()
        with torch.no_grad():
            by_hand = torch.cat([net(torch.randn(6, net.latent_dim)) for _ in range(2)])
        net.load_state_dict(before)
        torch.testing.assert_close(samples, by_hand)
    torch.manual_seed(5)
    ema_samples = module.sample(12)
    torch.manual_seed(5)
    assert not torch.allclose(ema_samples, module.sample(12, use_ema=False))


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
        torch.relu(1 - d(images)).mean()
        + 0.25 * torch.relu(1 + d(fake)).mean()
        + 0.75 * torch.relu(1 + d(negatives)).mean()
    )
    torch.testing.assert_close(stats["loss_d"], expected)
    torch.testing.assert_close(stats["loss_d"], by_hand)
    assert count_dots(negatives).tolist() != [6] * 8  # negatives come from the other-count bank


def test_nda_discriminator_ranks_the_target_count_above_the_negatives():
    config = NumerosityConfig(**SHORT)
    plain = run_numerosity(config, nda=False, seed=0, progress=False)
    nda = run_numerosity(config, nda=True, seed=0, progress=False)
    for result in (plain, nda):
        assert len(result.counts) == 64 and sum(result.histogram.values()) == 64
        assert result.fraction_target == sum(c == 6 for c in result.counts) / 64
        assert result.mean_count == pytest.approx(sum(result.counts) / 64)
    # the NDA term taught D what a wrong count is, also for counts it never saw (3, 10);
    # the plain D, same seed, data and budget, never saw a wrong count and cannot tell
    assert nda.auroc_negatives > 0.9 and nda.auroc_heldout > 0.9
    assert plain.auroc_negatives < 0.7 and plain.auroc_heldout < 0.7


def test_same_seed_same_run_and_both_runs_start_alike(monkeypatch):
    config = NumerosityConfig(**TINY)
    first = run_numerosity(config, nda=True, seed=0, progress=False)
    again = run_numerosity(config, nda=True, seed=0, progress=False)
    other = run_numerosity(config, nda=True, seed=1, progress=False)
    assert torch.equal(first.samples, again.samples) and first.auroc_heldout == again.auroc_heldout
    assert not torch.equal(first.samples, other.samples)
    # the plain and the NDA run of a seed begin from the same weights and see the same images
    starts = []

    def record(module, images, *args, **kwargs):
        starts.append((images, {k: v.clone() for k, v in module.state_dict().items() if "ema" not in k}))

    monkeypatch.setattr(nda_demo.numerosity, "fit_steps", record)
    run_numerosity(config, nda=False, seed=0, progress=False)
    run_numerosity(config, nda=True, seed=0, progress=False)
    (plain_images, plain_state), (nda_images, nda_state) = starts
    assert torch.equal(plain_images, nda_images)
    assert plain_state.keys() == nda_state.keys()
    assert all(torch.equal(plain_state[k], nda_state[k]) for k in plain_state)


def test_bad_gan_settings_are_errors():
    with pytest.raises(ValueError, match="negatives is None"):
        _module(None, lam=0.25)
    with pytest.raises(ValueError, match=r"d_steps must be >= 1, got 0\."):
        _module(None, d_steps=0)
    with pytest.raises(ValueError, match=r"ema_decay must lie in \[0, 1\), got 1.0"):
        _module(None, ema_decay=1.0)
    with pytest.raises(ValueError, match=r"kind must be one of"):
        NDAGAN(Generator(32, 1, width=8), Discriminator(32, 1, width=8), kind="hinged")
    with pytest.raises(ValueError, match="image_size must be a power of two"):
        Generator(24)
    with pytest.raises(ValueError, match=r"steps must be >= 1, got 0\."):
        fit_steps(_module(), make_dots(6, 8), 0, 8, torch.Generator())
    with pytest.raises(TypeError, match=r"nda must be True or False"):
        run_numerosity(NumerosityConfig(**TINY), nda=1, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lam must lie in \(0, 1\)"):
        run_numerosity(replace(NumerosityConfig(**TINY), lam=0.0), nda=True, seed=0)


def test_cli_reports_bad_counts_without_training(capsys):
    assert main(["--negatives", "4", "6", "--target", "6"]) == 2
    assert "include the target count 6" in capsys.readouterr().err
    assert main(["--target", "17"]) == 2
    assert "at most 16 dots" in capsys.readouterr().err
    assert main(["--threads", "0"]) == 2
    assert "threads must be >= 1, got 0." in capsys.readouterr().err


def _png(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _pixels_of(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((image == np.array(colour, dtype=np.uint8)).all(axis=-1).sum())


def test_cli_runs_and_saves_results(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = [*CLI_TINY, "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "share with 6 dots" in printed and "D AUROC 6 vs held-out" in printed
    assert "(1 seed)" in printed and "+- 0.000" not in printed
    results = json.loads((out / "results.json").read_text())
    assert [r["nda"] for r in results["runs"]] == [False, True]
    assert all(sum(r["histogram"].values()) == 16 for r in results["runs"])
    # the count chart: 840 x 480 pixels (7 x 4 inches at 120 dpi), bars of both runs drawn
    counts = _png(out / "counts.png")
    assert counts.shape == (480, 840, 3)
    assert _pixels_of(counts, BLUE) > 100 and _pixels_of(counts, ORANGE) > 100
    for name in ("fraction_target.png", "auroc_heldout.png"):
        chart = _png(out / name).astype(int)
        assert chart.shape == (480, 540, 3)
        assert ((chart[..., 2] - chart[..., 0]) > 60).sum() > 20  # the blue per-seed markers
    # sample grids: 16 images of 32 px in 2 rows of 8, 2 px white gaps, and not blank
    for name in ("samples_plain_seed0.png", "samples_NDA_seed0.png"):
        grid = _png(out / name)
        assert grid.shape == (2 * 34, 8 * 34, 3)
        assert (grid[:, 32:34] == 255).all() and (grid[32:34] == 255).all()
        cells = grid.reshape(2, 34, 8, 34, 3)[:, :32, :, :32].transpose(0, 2, 1, 3, 4).reshape(16, -1)
        assert (cells.std(axis=1) > 1).all()  # every cell holds an image, none is blank


def test_full_float32_turns_tf32_off_inside_and_restores_the_settings():
    from nda_demo.training import full_float32

    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (conv.fp32_precision, matmul.fp32_precision)
    with full_float32():
        assert (conv.fp32_precision, matmul.fp32_precision) == ("ieee", "ieee")
    assert (conv.fp32_precision, matmul.fp32_precision) == before


class _RecordDevices(pl.Callback):
    """Where the weights, the EMA and the real batch live at every training step."""

    def __init__(self) -> None:
        self.seen: list[set[str]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        tensors = [
            *module.generator.parameters(),
            *module.discriminator.parameters(),
            *module.ema.parameters(),
            batch[0],
        ]
        self.seen.append({tensor.device.type for tensor in tensors})


@pytest.mark.gpu
def test_device_cuda_trains_on_the_gpu(tmp_path, capsys):
    bank, _ = make_count_mixture([4, 5], 64, generator=torch.Generator().manual_seed(1))
    module = _module(negatives=nda_core.build("other_dataset", images=bank), lam=0.25)
    images = make_dots(6, 64, generator=torch.Generator().manual_seed(0))
    record = _RecordDevices()
    fit_steps(
        module, images, STEPS, 8, torch.Generator().manual_seed(0), progress=False, callbacks=[record], device="cuda"
    )
    assert record.seen == [{"cuda"}] * STEPS  # every weight and batch on the GPU at every step
    assert module.global_step == 2 * STEPS  # G and D optimiser steps
    out = tmp_path / "demo"
    assert main(["--device", "cuda", *CLI_TINY, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["device"] == "cuda" and "--device cuda" in results["command"]
    assert all(sum(run["histogram"].values()) == 16 for run in results["runs"])
