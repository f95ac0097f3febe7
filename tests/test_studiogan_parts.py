"""studiogan_nda's parts that need no StudioGAN import: the flat YAMLs (read, key checks, ``--set``) and the
shipped ones against StudioGAN's own, the checkout finder, the CIFAR-10-C corruptions, and the workarounds (CPU
device mode, wandb.Image, numpy scalars in weights_only checkpoints)."""

from __future__ import annotations

import io
import pickle
import sys
import types

import pytest
import torch
from studiogan_helpers import CONFIGS, studiogan_root  # noqa: F401 - fixture

from nda_core.errors import UsageError, UsageTypeError
from studiogan_nda import checkout, corruptions
from studiogan_nda.settings import NDA_KEYS, check_keys, check_nda_settings, parse_setting, read_yaml

# -- settings ----------------------------------------------------------------------------------
NDA_LINES = ("  apply_nda: ", "  nda_lambda: ", "  nda: ")
#: Shipped configs -> the StudioGAN config of the same model (vendored src/configs/), and the lines besides the
#: three NDA lines in which the shipped file differs: a dataset StudioGAN ships no config for, an unconditional model.
STOCK = {
    "CIFAR10/BigGAN-NDA-*.yaml": ("CIFAR10/BigGAN.yaml", set()),
    "CIFAR10/BigGAN-Uncond-NDA-*.yaml": ("CIFAR10/BigGAN-Uncond.yaml", set()),
    "CIFAR100/BigGAN-Uncond-NDA-*.yaml": ("CIFAR100/BigGAN.yaml", {'  g_cond_mtd: "W/O"', '  d_cond_mtd: "W/O"'}),
    "STL10/BigGAN-Uncond-32-NDA-*.yaml": ("CIFAR10/BigGAN-Uncond.yaml", {'  name: "STL10_32"', "  num_classes: 1"}),
    "CelebA/BigGAN-Uncond-64-NDA-*.yaml": (
        "Baby_ImageNet/BigGAN.yaml",
        {'  name: "CelebA_64"', "  num_classes: 1", '  g_cond_mtd: "W/O"', '  d_cond_mtd: "W/O"'},
    ),
}


def _without_nda_lines(text: str) -> tuple[list[str], list[str]]:
    """The lines of a shipped YAML without its comment lines, split into (the NDA lines, the others)."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return [line for line in lines if line.startswith(NDA_LINES)], [
        line for line in lines if not line.startswith(NDA_LINES)
    ]


def test_shipped_configs_are_studiogans_own_plus_three_nda_lines(studiogan_root):
    """A diff against StudioGAN's config of the same model shows the three NDA lines (and for the datasets and
    unconditional models StudioGAN ships no config for, the listed lines), nothing else; no file composes others."""
    shipped = sorted(CONFIGS.rglob("*.yaml"))
    assert not (CONFIGS / "_base_").exists() and len(shipped) == 27
    compared = set()
    for pattern, (stock_name, changed) in STOCK.items():
        stock = (studiogan_root / "src" / "configs" / stock_name).read_text().splitlines()
        for path in sorted(CONFIGS.glob(pattern)):
            nda, others = _without_nda_lines(path.read_text())
            assert len(nda) == 3 and all(line.split("#")[0].strip() for line in nda), path
            differ = [line for line in others if line not in stock]
            assert set(differ) == changed, (path, differ)
            # the same lines in the same order, but for the changed ones
            assert [line for line in others if line not in changed] == [
                line for line in stock if line.split(":")[0] not in {c.split(":")[0] for c in changed}
            ], path
            compared.add(path)
    cpu_nda, cpu_plain = _without_nda_lines((CONFIGS / "CPU" / "DCGAN-NDA-jigsaw-cpu.yaml").read_text())
    assert len(cpu_nda) == 3 and cpu_plain == _without_nda_lines((CONFIGS / "CPU" / "DCGAN-cpu.yaml").read_text())[1]
    assert compared | {CONFIGS / "CPU" / "DCGAN-NDA-jigsaw-cpu.yaml", CONFIGS / "CPU" / "DCGAN-cpu.yaml"} == set(
        shipped
    )
    for path in shipped:
        sections = read_yaml(path)
        assert "_base_" not in sections and set(sections) <= {"DATA", "MODEL", "LOSS", "OPTIMIZATION"}, path


def test_a_flat_yaml_is_read_as_is_and_bad_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "DATA: {name: A, img_size: 32}\nLOSS: {adv_loss: hinge, nda: {type: jigsaw, k: 2}}\n"
    )
    assert read_yaml(tmp_path / "a.yaml") == {
        "DATA": {"name": "A", "img_size": 32},
        "LOSS": {"adv_loss": "hinge", "nda": {"type": "jigsaw", "k": 2}},
    }
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="must map sections"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("DATA: {name: [\n")
    with pytest.raises(UsageError, match="is not valid YAML"):
        read_yaml(tmp_path / "broken.yaml")
    with pytest.raises(UsageError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")


KNOWN = {"DATA": {"name", "img_size"}, "LOSS": {"adv_loss", *NDA_KEYS}, "OPTIMIZATION": {"total_steps", "batch_size"}}


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"LOSS": {"nda_lamda": 0.5}}, "cfg.yaml: StudioGAN has no key LOSS.nda_lamda; did you mean 'nda_lambda'?"),
        (
            {"OPTIMZATION": {"total_steps": 2}},
            "cfg.yaml: StudioGAN has no config section 'OPTIMZATION'; did you mean 'OPTIMIZATION'?",
        ),
        (
            {"LOSS": {"total_steps": 2}},
            "cfg.yaml: StudioGAN has no key LOSS.total_steps; 'total_steps' belongs to OPTIMIZATION.",
        ),
        ({"LOSS": {"zzz": 2}}, "cfg.yaml: StudioGAN has no key LOSS.zzz; see StudioGAN's src/config.py for its keys."),
        (
            {"XYZ": {}},
            "cfg.yaml: StudioGAN has no config section 'XYZ'; StudioGAN's sections are ['DATA', 'LOSS', "
            "'OPTIMIZATION'].",
        ),
    ],
)
def test_unknown_keys_and_sections_name_the_closest_known_one(sections, message):
    check_keys({"DATA": {"name": "x"}, "LOSS": {"nda_lambda": 0.5}}, KNOWN, "cfg.yaml")  # known: fine
    with pytest.raises(UsageError) as info:
        check_keys(sections, KNOWN, "cfg.yaml")
    assert str(info.value) == message


def test_set_entries_are_section_key_and_a_yaml_value():
    assert parse_setting("OPTIMIZATION.total_steps=20") == ("OPTIMIZATION", "total_steps", 20)
    assert parse_setting("LOSS.nda={type: cutout}") == ("LOSS", "nda", {"type": "cutout"})
    assert parse_setting("DATA.name=CIFAR10_images") == ("DATA", "name", "CIFAR10_images")
    for bad in ("total_steps=20", "OPTIMIZATION.total_steps", "A.b.c=1", ".x=1"):
        with pytest.raises(UsageError, match="must look like SECTION.key=VALUE"):
            parse_setting(bad)


def test_settings_defaults_off_and_every_loss_maps_to_nda_core():
    assert not check_nda_settings({}).apply
    assert NDA_KEYS == {"apply_nda": False, "nda_lambda": 0.25, "nda": {"type": "jigsaw", "k": 2}}
    kinds = {
        loss: check_nda_settings({"apply_nda": True, "adv_loss": loss}).kind
        for loss in ("vanilla", "logistic", "least_square", "hinge", "wasserstein")
    }
    assert kinds == {
        "vanilla": "vanilla",
        "logistic": "logistic",
        "least_square": "ls",
        "hinge": "hinge",
        "wasserstein": "wasserstein",
    }
    mixture = {"type": "mixture", "transforms": ["jigsaw", "stitch"], "weights": [1, 1]}
    assert check_nda_settings({"apply_nda": True, "nda": mixture}).spec == mixture


def test_settings_refuse_undefined_modes_and_bad_values():
    with pytest.raises(UsageError, match="MODEL.d_cond_mtd='MH'"):
        check_nda_settings({"apply_nda": True, "adv_loss": "hinge"}, {"d_cond_mtd": "MH"})
    with pytest.raises(UsageTypeError, match="LOSS.nda = .*accepts"):
        check_nda_settings({"nda": {"type": "jigsaw", "size": 2}})
    with pytest.raises(UsageError, match="needs images="):
        check_nda_settings({"apply_nda": True, "nda": {"type": "other_dataset"}})
    with pytest.raises(UsageError, match="jigsaw needs H divisible by k"):
        check_nda_settings({"apply_nda": True, "nda": {"type": "jigsaw", "k": 3}}, data={"img_size": 32})


def test_nda_errors_list_the_known_ndas_once_and_only_for_an_unknown_name():
    import nda_core

    known = str(nda_core.available())
    with pytest.raises(UsageError) as unknown:
        check_nda_settings({"nda": {"type": "jigsw"}})
    assert str(unknown.value).count(known) == 1 and str(unknown.value).count("nown NDAs") == 1
    with pytest.raises(UsageError) as bad_k:
        check_nda_settings({"apply_nda": True, "nda": {"type": "jigsaw", "k": 5}}, data={"img_size": 32})
    assert "jigsaw needs H divisible by k" in str(bad_k.value) and "nown NDAs" not in str(bad_k.value)


# -- the checkout ----------------------------------------------------------------------------------
def test_find_root_accepts_src_and_env(studiogan_root, monkeypatch):
    assert checkout.find_root(studiogan_root / "src") == studiogan_root.resolve()
    monkeypatch.setenv(checkout.ROOT_ENV, str(studiogan_root))
    assert checkout.find_root() == studiogan_root.resolve()


def test_add_to_path_refuses_a_foreign_module_of_the_same_name(studiogan_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "utils", types.SimpleNamespace(__file__="/elsewhere/utils.py"))
    with pytest.raises(UsageError, match=r"utils \(/elsewhere/utils.py\)"):
        checkout.add_to_path(studiogan_root)


# -- usage errors ----------------------------------------------------------------------------------
def test_only_usage_errors_are_one_line_others_keep_their_traceback(monkeypatch, capsys):
    """The command line turns UsageError into `<prog>: error: ...` (exit 2); any other ValueError, even one raised
    in studiogan_nda, propagates with its traceback."""
    from studiogan_nda import cli

    monkeypatch.delenv(checkout.ROOT_ENV, raising=False)
    assert cli.main(["-t", "-cfg", "x.yaml"]) == 2
    assert capsys.readouterr().err.startswith("python -m studiogan_nda: error: no StudioGAN checkout given")

    def broken(*args, **kwargs):
        raise ValueError("a bug, not a usage error")

    monkeypatch.setattr(cli, "run_studiogan", broken)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["-t", "-cfg", "x.yaml"])


# -- corruptions ----------------------------------------------------------------------------------
def grey(value: int = 128, size: int = 32) -> torch.Tensor:
    return torch.full((4, 3, size, size), value, dtype=torch.uint8)


def test_every_corruption_is_uint8_same_shape_and_seeded(cifar_batch):
    images = cifar_batch[0][:8]
    for name in corruptions.available():
        a = corruptions.corrupt(images, name, torch.Generator().manual_seed(0))
        b = corruptions.corrupt(images, name, torch.Generator().manual_seed(0))
        assert a.dtype == torch.uint8 and a.shape == images.shape and torch.equal(a, b), name
        assert not torch.equal(a, images), name
    assert len(corruptions.available()) == 10


def test_corruptions_follow_cifar10c_severity5_constants():
    g = torch.Generator().manual_seed(0)
    noise = corruptions.corrupt(grey(), "gaussian_noise", g).double() / 255 - 128 / 255
    assert abs(noise.std().item() - 0.10) < 0.005
    speckle = corruptions.corrupt(grey(), "speckle_noise", g).double() / 255
    assert abs(speckle.std().item() - 0.20 * 128 / 255) < 0.005
    impulse = corruptions.corrupt(grey(), "impulse_noise", g)
    hit = (impulse != 128).double().mean().item()
    assert abs(hit - 0.07) < 0.01 and set(impulse[impulse != 128].unique().tolist()) <= {0, 255}
    ramp = torch.arange(32, dtype=torch.uint8).mul(8).expand(4, 3, 32, 32).contiguous()
    contrast = corruptions.corrupt(ramp, "contrast").double()
    assert abs(contrast.std().item() - 0.15 * ramp.double().std().item()) < 1.0
    bright = corruptions.corrupt(grey(100), "brightness")
    assert torch.all((bright.int() - round(100 + 0.3 * 255)).abs() <= 1)
    box = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    box[..., 4, 4] = 255
    defocused = corruptions.corrupt(box.expand(1, 3, 9, 9).contiguous(), "defocus_blur")[0, 0]
    assert torch.all(defocused[3:6, 3:6] == round(255 / 9)) and defocused.sum() == 9 * round(255 / 9)  # 3x3 disk
    pixelated = corruptions.corrupt(ramp, "pixelate")
    assert pixelated[0, 0, 0].unique().numel() < ramp[0, 0, 0].unique().numel()


def test_corruption_input_checks():
    with pytest.raises(ValueError, match="name must be one of"):
        corruptions.corrupt(grey(), "fog")
    with pytest.raises(UsageTypeError, match="uint8 batch"):
        corruptions.corrupt(grey().float(), "contrast")


# -- workarounds ---------------------------------------------------------------------------------------
def test_cuda_to_cpu_mode_maps_studiogans_device_arguments():
    from studiogan_nda.workarounds import CudaToCpuMode

    with CudaToCpuMode():
        layer = torch.nn.Linear(2, 2).to(0)
        x = torch.zeros(2, 2, device=0).to("cuda:0").cuda()
        y = torch.ones(2, device=torch.device("cuda", 0)).to(0, non_blocking=True)
        z = torch.zeros(2, dtype=torch.float64).to(torch.float32)
    assert layer.weight.device.type == x.device.type == y.device.type == "cpu" and z.dtype == torch.float32


def test_wandb_image_takes_studiogans_batches_after_the_workaround(monkeypatch):
    wandb = pytest.importorskip("wandb")
    from studiogan_nda import workarounds

    monkeypatch.setattr(wandb, "Image", wandb.Image)  # restored after the test
    if workarounds._wandb_image_rejects_batches():
        workarounds._wandb_accepts_batches()
    image = wandb.Image(torch.rand(16, 3, 8, 8) * 2 - 1)  # StudioGAN's [-1, 1] canvas batch
    assert image.image.size == (8 * 8 + 2 * 9, 2 * 8 + 2 * 3)  # make_grid: 8 per row, padding 2
    assert not workarounds._wandb_image_rejects_batches()


def test_weights_only_checkpoints_with_numpy_scalars_load_after_the_workaround():
    import numpy as np

    from studiogan_nda import workarounds

    buffer = io.BytesIO()
    torch.save({"aa_p": np.float64(0.25), "step": 3}, buffer)
    if workarounds._weights_only_rejects_numpy_scalars():
        with pytest.raises(
            pickle.UnpicklingError, match=r"Weights only load failed(.|\n)*Unsupported global: GLOBAL numpy"
        ):
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    with torch.serialization.safe_globals(workarounds.numpy_safe_types()):
        loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert loaded == {"aa_p": 0.25, "step": 3}
    unsafe = io.BytesIO()
    torch.save({"f": io.BytesIO}, unsafe)
    with pytest.raises(
        pickle.UnpicklingError, match=r"Weights only load failed(.|\n)*Unsupported global: GLOBAL _io.BytesIO"
    ):
        with torch.serialization.safe_globals(workarounds.numpy_safe_types()):  # nothing else became loadable
            torch.load(io.BytesIO(unsafe.getvalue()), weights_only=True)


def test_workarounds_switch_off(monkeypatch):
    from nda_core import workarounds as core
    from studiogan_nda import workarounds

    monkeypatch.setattr(core, "_applied", {})
    monkeypatch.setattr(core, "_reported_off", set())
    monkeypatch.setenv("NDA_WORKAROUNDS", "off")
    assert workarounds.apply(cpu=True) == []
    monkeypatch.setenv(
        "NDA_WORKAROUNDS",
        "-cuda-tensors-on-cpu,-cuda-device-queries-on-cpu,-wandb-image-batch,"
        "-best-checkpoint-without-metrics,-numpy-scalars-in-checkpoints,-one-gpu-message-on-cpu",
    )
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert workarounds.apply(cpu=True) == ["wandb-disabled-on-cpu"]


# -- anomaly scoring -------------------------------------------------------------------------------------
class _ToyDiscriminator(torch.nn.Module):
    """D(x, y) = mean(x) + y (projection-like: the output depends on the label)."""

    def forward(self, x, label, eval=False):  # noqa: A002 - StudioGAN's keyword
        return {"adv_output": x.mean(dim=(1, 2, 3)) + label.float()}


def _cfgs(d_cond_mtd: str, classes: int, size: int = 8):
    return types.SimpleNamespace(
        DATA=types.SimpleNamespace(img_size=size, num_classes=classes),
        MODEL=types.SimpleNamespace(d_cond_mtd=d_cond_mtd),
    )


def test_anomaly_scores_use_studiogans_normalisation_and_best_class():
    from studiogan_nda.anomaly import discriminator_scores

    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 8, 8).contiguous()
    unconditional = discriminator_scores(_ToyDiscriminator(), images, _cfgs("W/O", 10), batch_size=1)
    assert unconditional.tolist() == [-1.0, 1.0]  # x / 127.5 - 1, label 0
    projection = discriminator_scores(_ToyDiscriminator(), images, _cfgs("PD", 10))
    assert projection.tolist() == [8.0, 10.0]  # max over the 10 classes
    resized = discriminator_scores(_ToyDiscriminator(), images, _cfgs("W/O", 1, size=4))
    assert resized.tolist() == [-1.0, 1.0]
