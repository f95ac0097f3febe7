"""studiogan_nda against the real StudioGAN (947b35e): its Configurations, model builders and WORKER
steps on the CPU with real CIFAR-10 images; the NDA D loss against the equation; NDA off = StudioGAN."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from studiogan_helpers import (  # noqa: F401 - fixtures
    BATCH,
    CONFIGS,
    CPU_NDA,
    CPU_PLAIN,
    build_worker,
    capture_baskets,
    discriminator_copy,
    studiogan,
    studiogan_data,
    studiogan_root,
    write_yaml,
)
from test_core_losses import REF_FAKE, ref_d_loss

LAM = 0.25


def core_kind(adv_loss: str) -> str:
    """nda_core's name of a StudioGAN adv_loss (its least_square is nda_core's ls)."""
    return "ls" if adv_loss == "least_square" else adv_loss


def reference_d_loss(adv_loss: str, last: dict[str, torch.Tensor], lam: float = LAM) -> float:
    """The paper's equation, per sample in float64 (tests/test_core_losses.py), on the logits of the last D call."""
    real, fake, nda = (last[f"d_logit_{name}"].double().tolist() for name in ("real", "fake", "nda"))
    return ref_d_loss(real, fake, nda, core_kind(adv_loss), lam)


def quadrants(image: torch.Tensor) -> list[torch.Tensor]:
    h, w = image.shape[-2] // 2, image.shape[-1] // 2
    return [image[..., i * h : (i + 1) * h, j * w : (j + 1) * w] for i in range(2) for j in range(2)]


def is_jigsaw_of(nda: torch.Tensor, real: torch.Tensor) -> bool:
    """Every NDA image holds its own real image's four 2x2 patches in a non-identity order."""
    for x, y in zip(real, nda):
        source, target = quadrants(x), quadrants(y)
        order = [next((k for k, s in enumerate(source) if torch.equal(s, t)), None) for t in target]
        if None in order or sorted(order) != [0, 1, 2, 3] or order == [0, 1, 2, 3]:
            return False
    return True


@pytest.fixture(scope="module")
def cpu_nda_yaml(tmp_path_factory):
    """The shipped CPU NDA config, batch 8, one D update per step. D with BatchNorm instead of spectral
    norm: SN's power iteration changes D at every training-mode forward, BN in training mode does
    not, so a copy of D taken before the step reproduces each of its outputs exactly."""
    folder = tmp_path_factory.mktemp("yaml")

    def make(name, **sections):
        optimization = {"batch_size": BATCH, "d_updates_per_step": 1, **sections.pop("OPTIMIZATION", {})}
        model = {"apply_d_sn": False, **sections.pop("MODEL", {})}
        return write_yaml(folder / f"{name}.yaml", CPU_NDA, OPTIMIZATION=optimization, MODEL=model, **sections)

    return make


def shipped_yamls():
    return sorted(CONFIGS.rglob("*.yaml"))


def _load_shipped(studiogan):
    from studiogan_nda.settings import check_nda_settings

    loaded = {}
    for path in shipped_yamls():
        cfgs = studiogan.config.Configurations(str(path))  # no unknown-key AttributeError
        loaded[path] = (cfgs, check_nda_settings(vars(cfgs.LOSS), vars(cfgs.MODEL), vars(cfgs.DATA)))
    return loaded


def test_every_shipped_yaml_loads_in_studiogan_configurations(studiogan):
    loaded = _load_shipped(studiogan)
    assert len(loaded) == 27
    for path, (cfgs, settings) in loaded.items():
        if path.name == "DCGAN-cpu.yaml":
            assert not settings.apply
            continue
        kind = path.stem.split("NDA-")[1].split("-")[0]
        assert settings.apply and cfgs.LOSS.nda["type"] == kind, path
        assert cfgs.LOSS.nda_lambda == (0.5 if path.parent.name == "CIFAR100" else LAM), path
        if path.parent.name != "CPU":  # StudioGAN's BigGAN, as its own YAMLs set it
            assert cfgs.LOSS.adv_loss == "hinge" and cfgs.MODEL.backbone == "big_resnet", path
        conditional = path.parent.name == "CIFAR10" and not path.name.startswith("BigGAN-Uncond")
        assert (cfgs.MODEL.g_cond_mtd, cfgs.MODEL.d_cond_mtd) == (("cBN", "PD") if conditional else ("W/O", "W/O")), (
            path
        )


def test_shipped_biggan_models_build_with_studiogans_builder(studiogan):
    """StudioGAN's own builder makes each distinct model of the shipped YAMLs; its D scores a batch."""
    built = {}
    for cfgs, _ in _load_shipped(studiogan).values():
        built.setdefault((cfgs.MODEL.backbone, cfgs.MODEL.d_cond_mtd, cfgs.DATA.img_size), cfgs)
    for (backbone, _, size), cfgs in built.items():
        cfgs.RUN.mixed_precision = False
        *_, dis, _, _, _, _ = studiogan.model.load_generator_discriminator(
            DATA=cfgs.DATA,
            OPTIMIZATION=cfgs.OPTIMIZATION,
            MODEL=cfgs.MODEL,
            STYLEGAN=cfgs.STYLEGAN,
            MODULES=cfgs.MODULES,
            RUN=cfgs.RUN,
            device="cpu",
            logger=None,
        )
        out = dis(torch.zeros(2, 3, size, size), torch.zeros(2, dtype=torch.long))["adv_output"]
        assert out.shape == (2,), backbone


def test_stock_yaml_reads_exactly_as_without_the_hooks(studiogan):
    stock = studiogan.src / "configs" / "CIFAR10" / "BigGAN-DiffAug-LeCam.yaml"
    with_hooks = studiogan.config.Configurations(str(stock))
    studiogan.hooks.uninstall()
    try:
        without = studiogan.config.Configurations(str(stock))
    finally:
        studiogan.hooks.install()
    for name, section in without.super_cfgs.items():
        ours = dict(vars(with_hooks.super_cfgs[name]))
        if name == "LOSS":
            assert {k: ours.pop(k) for k in ("apply_nda", "nda_lambda", "nda")} == {
                "apply_nda": False,
                "nda_lambda": LAM,
                "nda": {"type": "jigsaw", "k": 2},
            }
        assert {k: v for k, v in ours.items() if not callable(v) and not hasattr(v, "forward")} == {
            k: v for k, v in vars(section).items() if not callable(v) and not hasattr(v, "forward")
        }, name


def test_the_launchers_key_list_is_studiogans_own(studiogan):
    """The launcher reads StudioGAN's keys from src/config.py without importing it: the same as its defaults."""
    from studiogan_nda.settings import declared_keys

    declared = declared_keys(studiogan.src / "config.py")
    assert declared == studiogan.hooks.known_keys()
    assert {"apply_nda", "nda_lambda", "nda", "adv_loss"} <= declared["LOSS"] and "total_steps" in declared[
        "OPTIMIZATION"
    ]


def test_unknown_keys_are_refused_with_the_closest_key(studiogan, tmp_path):
    """StudioGAN's own reader raises AttributeError("There does not exist 'LOSS.apply_ndaa' ..."); the hook names
    the key that was meant, for keys and sections, in every process that reads a config (launcher, build, anomaly)."""
    from nda_core.errors import UsageError

    bad = write_yaml(tmp_path / "bad.yaml", CPU_NDA, LOSS={"apply_ndaa": True})
    with pytest.raises(UsageError, match=r"StudioGAN has no key LOSS.apply_ndaa; did you mean 'apply_nda'\?"):
        studiogan.config.Configurations(str(bad))
    section = write_yaml(tmp_path / "section.yaml", CPU_NDA, OPTIMZATION={"total_steps": 2})
    with pytest.raises(UsageError, match=r"no config section 'OPTIMZATION'; did you mean 'OPTIMIZATION'\?"):
        studiogan.config.Configurations(str(section))


def test_nda_off_is_studiogan_bit_for_bit(studiogan, studiogan_data, tmp_path):
    """Pure StudioGAN (hooks removed) and studiogan_nda with apply_nda False: same losses and weights."""
    plain = write_yaml(tmp_path / "plain.yaml", CPU_PLAIN, OPTIMIZATION={"batch_size": BATCH})
    off = write_yaml(tmp_path / "off.yaml", CPU_PLAIN, LOSS={"apply_nda": False}, OPTIMIZATION={"batch_size": BATCH})

    def run(cfg, save):
        worker = build_worker(cfg, studiogan_data, tmp_path / save, seed=3)
        _, d_loss = worker.train_discriminator(current_step=0)  # 2 D updates (DCGAN's d_updates_per_step)
        g_loss = worker.train_generator(current_step=0)
        return worker, [d_loss.item(), g_loss.item()]

    studiogan.hooks.uninstall()
    try:
        reference, reference_losses = run(plain, "plain")
    finally:
        studiogan.hooks.install()
    ours, our_losses = run(off, "off")
    assert not hasattr(ours, "nda_objective")
    assert ours.LOSS.d_loss is studiogan.losses.d_vanilla
    assert our_losses == reference_losses
    for a, b in ((reference.Dis, ours.Dis), (reference.Gen, ours.Gen)):
        for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(p, q), name


@pytest.mark.parametrize("adv_loss", ["vanilla", "logistic", "least_square", "hinge", "wasserstein"])
def test_d_loss_is_the_nda_equation(studiogan, studiogan_data, tmp_path, cpu_nda_yaml, adv_loss):
    cfg = cpu_nda_yaml(f"nda_{adv_loss}", LOSS={"adv_loss": adv_loss})
    worker = build_worker(cfg, studiogan_data, tmp_path, seed=1)
    baskets = capture_baskets(worker)
    dis_before = discriminator_copy(worker)
    _, d_loss = worker.train_discriminator(current_step=0)
    last = worker.nda_objective.last_batch
    real_images, real_labels = baskets[0][0][0], baskets[0][1][0]
    assert torch.equal(last["real_images"], real_images)  # the real batch StudioGAN gave D
    assert is_jigsaw_of(last["nda_images"], real_images)
    with torch.no_grad():
        assert torch.allclose(dis_before(real_images, real_labels)["adv_output"], last["d_logit_real"], atol=1e-5)
        assert torch.allclose(dis_before(last["nda_images"], real_labels)["adv_output"], last["d_logit_nda"], atol=1e-5)
    assert d_loss.item() == pytest.approx(reference_d_loss(adv_loss, last), rel=1e-5, abs=1e-6)
    values = worker.nda_objective.values()  # the NDA term L_fake(D(NDA(x))) and the mean D(x) - D(NDA(x))
    nda = last["d_logit_nda"].double().tolist()
    assert values["nda_loss"] == pytest.approx(
        sum(map(REF_FAKE[core_kind(adv_loss)], nda)) / len(nda), rel=1e-5, abs=1e-6
    )
    assert math.isclose(
        values["dis_real_minus_nda"],
        float(last["d_logit_real"].mean() - last["d_logit_nda"].mean()),
        rel_tol=1e-5,
        abs_tol=1e-6,
    )


def test_conditional_discriminator_scores_nda_with_the_real_labels(studiogan, studiogan_data, tmp_path, cpu_nda_yaml):
    cfg = cpu_nda_yaml("cond", MODEL={"g_cond_mtd": "cBN", "d_cond_mtd": "PD"})
    worker = build_worker(cfg, studiogan_data, tmp_path, seed=2)
    baskets = capture_baskets(worker)
    dis_before = discriminator_copy(worker)
    worker.train_discriminator(current_step=0)
    last = worker.nda_objective.last_batch
    labels = baskets[0][1][0]
    assert torch.equal(last["real_labels"], labels) and labels.unique().numel() > 1
    with torch.no_grad():
        with_real = dis_before(last["nda_images"], labels)["adv_output"]
        with_other = dis_before(last["nda_images"], (labels + 1) % 10)["adv_output"]
    assert torch.allclose(with_real, last["d_logit_nda"], atol=1e-5)
    assert not torch.allclose(with_other, last["d_logit_nda"], atol=1e-3)


def test_every_d_update_and_accumulation_step_uses_its_own_real_batch(
    studiogan, studiogan_data, tmp_path, cpu_nda_yaml
):
    cfg = cpu_nda_yaml("acml", OPTIMIZATION={"d_updates_per_step": 2, "acml_steps": 2})
    worker = build_worker(cfg, studiogan_data, tmp_path, seed=4)
    baskets = capture_baskets(worker)
    seen = []
    transform = worker.nda_objective.transform
    worker.nda_objective.transform = lambda x: seen.append(x) or transform(x)
    worker.train_discriminator(current_step=0)
    images = baskets[0][0]
    assert len(images) == len(seen) == 4
    assert all(torch.equal(a, b) for a, b in zip(images, seen))


def test_nda_images_go_through_the_same_diffaug_as_reals(studiogan, studiogan_data, tmp_path, cpu_nda_yaml):
    cfg = cpu_nda_yaml("diffaug", AUG={"apply_diffaug": True, "diffaug_type": "diffaug"})
    worker = build_worker(cfg, studiogan_data, tmp_path, seed=5)
    objective = worker.nda_objective
    assert objective.augment is studiogan.config.diffaug.apply_diffaug  # StudioGAN's DiffAugment
    augmented = []
    objective.augment = lambda x: augmented.append(x) or studiogan.config.diffaug.apply_diffaug(x)
    worker.train_discriminator(current_step=0)
    assert len(augmented) == 1 and augmented[0] is objective.last_batch["nda_images"]


def test_composes_with_ada_consistency_lecam_and_gradient_penalty(studiogan, studiogan_data, tmp_path, cpu_nda_yaml):
    cfg = cpu_nda_yaml(
        "regs",
        LOSS={
            "apply_cr": True,
            "cr_lambda": 10.0,
            "apply_gp": True,
            "gp_lambda": 10.0,
            "apply_lecam": True,
            "lecam_lambda": 0.3,
            "lecam_ema_start_iter": -1,
            "lecam_ema_decay": 0.99,
        },
        AUG={
            "cr_aug_type": "cr",
            "apply_ada": True,
            "ada_aug_type": "bgc",
            "ada_initial_augment_p": 0.2,
            "ada_target": 0.6,
            "ada_kimg": 500,
            "ada_interval": 1,
        },
    )
    worker = build_worker(cfg, studiogan_data, tmp_path, seed=6)
    ada = worker.nda_objective.augment
    assert (
        type(ada).__name__ == "AdaAugment" and worker.AUG.series_augment.p is ada.p
    )  # ADA reads p through the wrapper
    _, d_loss = worker.train_discriminator(current_step=0)
    assert float(ada.p) != 0.2  # StudioGAN's ADA heuristic updated p
    last = worker.nda_objective.last_batch
    nda_part = reference_d_loss("vanilla", last)
    assert math.isfinite(d_loss.item()) and d_loss.item() > nda_part  # CR, GP and LeCam are added on top


def test_generator_step_is_untouched(studiogan, studiogan_data, tmp_path, cpu_nda_yaml):
    worker = build_worker(cpu_nda_yaml("gen"), studiogan_data, tmp_path, seed=7)
    calls = []
    objective = worker.nda_objective
    worker.nda_objective.transform = lambda x: calls.append(x) or x
    g_loss = worker.train_generator(current_step=0)
    assert calls == [] and worker.LOSS.g_loss is studiogan.losses.g_vanilla and math.isfinite(g_loss.item())
    assert objective.values()["nda_loss"] != objective.values()["nda_loss"]  # nan: no D step yet


def test_nda_statistics_are_logged_like_studiogan_losses(studiogan, studiogan_data, tmp_path, cpu_nda_yaml, caplog):
    import numpy as np

    worker = build_worker(cpu_nda_yaml("log"), studiogan_data, tmp_path, seed=8)
    worker.RUN.print_freq = 1
    _, d_loss = worker.train_discriminator(current_step=0)
    for step in range(2):
        with caplog.at_level("INFO", logger=worker.logger.name):
            worker.log_train_statistics(
                current_step=step, real_cond_loss="N/A", gen_acml_loss=d_loss, dis_acml_loss=d_loss
            )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("NDA: Step:")]
    assert len(lines) == 2 and "D(real)-D(NDA)" in lines[-1]
    saved = np.load(tmp_path / "statistics" / worker.run_name / "nda_losses.npy", allow_pickle=True).item()
    assert set(saved) == {"nda_loss", "dis_real_minus_nda"} and len(saved["nda_loss"]) == 2


def test_multi_hinge_is_refused_at_studiogans_config_check(studiogan, studiogan_data, tmp_path):
    from studiogan_helpers import load_cfgs

    mh = write_yaml(
        tmp_path / "mh.yaml",
        studiogan.src / "configs" / "CIFAR10" / "MHGAN.yaml",
        DATA={"name": "CIFAR10_images"},
        LOSS={"apply_nda": True},
    )
    with pytest.raises(ValueError, match="LOSS.adv_loss must be one of .*'MH'"):
        load_cfgs(mh, studiogan_data, tmp_path)


def test_jigsaw_that_does_not_divide_the_image_is_refused(studiogan, studiogan_data, tmp_path, cpu_nda_yaml):
    from studiogan_helpers import load_cfgs

    cfg = cpu_nda_yaml("k5", LOSS={"nda": {"type": "jigsaw", "k": 5}})
    with pytest.raises(ValueError, match=r"LOSS.nda = .*jigsaw needs H divisible by k"):
        load_cfgs(cfg, studiogan_data, tmp_path)


def test_hinge_nda_loss_matches_nda_core_directly():
    """The objective calls nda_core: lam = 1 gives StudioGAN's hinge D loss exactly (no NDA term)."""
    from nda_core.losses import nda_discriminator_loss

    real, fake = torch.randn(16), torch.randn(16)
    studiogan_hinge = torch.mean(F.relu(1.0 - real)) + torch.mean(F.relu(1.0 + fake))
    assert torch.allclose(nda_discriminator_loss(real, fake, None, "hinge", 1.0), studiogan_hinge)


def test_hooks_follow_the_config_into_spawned_processes(studiogan, cpu_nda_yaml):
    """StudioGAN's -DDP spawns fresh interpreters with its config object: the hooks come back there."""
    import multiprocessing

    from studiogan_helpers import report_hooks_in_child

    cfgs = studiogan.config.Configurations(str(cpu_nda_yaml("spawn")))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=report_hooks_in_child, args=(cfgs, results))
    child.start()
    installed, apply_nda, nda, config_file = results.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0 and installed and apply_nda and nda == {"type": "jigsaw", "k": 2}
    assert config_file.startswith(str(studiogan.src))
